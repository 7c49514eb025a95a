/**
 * The web UI (docs/gateway.md#web-ui): `GET /admin`, `GET /chat`, `GET /connections`
 * (docs/teams.md#connections) and their assets
 * under `/assets/<name>`, served from the build in packages/server/web/dist/
 * (made by web/build.ts on `pnpm install`; no CDN, so the UI works offline).
 *
 * - Pages are `no-cache` (revalidated by ETag); assets carry a content hash in
 *   their name, so they are cached for a year as `immutable`.
 * - A strict Content-Security-Policy: scripts and styles from this origin only
 *   (no inline code), `connect-src 'self'`, no framing, Trusted Types for the
 *   sanitiser's HTML.
 * - The build is read once, when the routes are built; a missing build gives
 *   a page that says how to make it instead of failing the gateway.
 *
 * - With `server.auth` (docs/teams.md#sign-in): `/connections` sends a visitor
 *   who is not signed in to `/signin`, and `/admin` answers a signed-in user
 *   who is no admin with a 403 page.
 *
 * Mount with `Web.routes` beside the other route layers; it uses `Security` when present.
 */
import { createHash } from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Option } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import { Security } from "../security/Security.ts"
import { htmlPage } from "./Pages.ts"

export interface WebOptions {
  /** The directory of a build; by default the first of `defaultDirectories` that holds one. */
  readonly directory?: string | undefined
}

/**
 * Where a build is looked for: beside the sources (a checkout: web/dist), then
 * beside the bundled CLI (packages/cli/dist/web, which scripts/build.ts fills).
 */
export const defaultDirectories: ReadonlyArray<string> = [
  fileURLToPath(new URL("../../web/dist/", import.meta.url)),
  fileURLToPath(new URL("./web/", import.meta.url))
]

export const pageNames = ["admin", "chat", "connections"] as const
export type PageName = (typeof pageNames)[number]

/**
 * Nothing inline, nothing from elsewhere. `img-src data:` is for Markdown
 * images a model inlines; remote images stay blocked (no tracking, offline).
 * Trusted Types: only DOMPurify's policy may create HTML (lib/markdown.ts).
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types dompurify"
].join("; ")

/** Headers of every page: the CSP, no sniffing, no referrer, no framing, always revalidated. */
export const pageHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": contentSecurityPolicy,
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  // The OAuth popup must keep its opener to report back (admin/CallbackPage.ts).
  "cross-origin-opener-policy": "same-origin-allow-popups",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
}

/** Hashed names never change content: a year, immutable. */
export const assetHeaders: Readonly<Record<string, string>> = {
  "cache-control": "public, max-age=31536000, immutable",
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "same-origin"
}

const contentTypes: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8"
}

interface StaticFile {
  readonly body: Uint8Array
  readonly contentType: string
  readonly etag: string
}

/** A build, read into memory (a few hundred kilobytes). */
export interface WebBuild {
  readonly directory: string
  readonly pages: ReadonlyMap<PageName, StaticFile>
  readonly assets: ReadonlyMap<string, StaticFile>
}

const staticFile = (body: Uint8Array, contentType: string): StaticFile => ({
  body,
  contentType,
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`
})

const readBuild = async (directory: string): Promise<WebBuild> => {
  const pages = new Map<PageName, StaticFile>()
  for (const page of pageNames) {
    pages.set(
      page,
      staticFile(await NodeFs.readFile(NodePath.join(directory, `${page}.html`)), "text/html; charset=utf-8")
    )
  }
  const assets = new Map<string, StaticFile>()
  for (const entry of await NodeFs.readdir(directory, { withFileTypes: true })) {
    if (!entry.isFile()) continue
    const contentType = contentTypes[NodePath.extname(entry.name)]
    // Pages and the build stamp are not assets; unknown types are not served.
    if (contentType === undefined || entry.name === "build.json") continue
    assets.set(
      entry.name,
      staticFile(await NodeFs.readFile(NodePath.join(directory, entry.name)), contentType)
    )
  }
  return { directory, pages, assets }
}

/** The first directory that holds a complete build, or `undefined`. */
export const loadBuild = (directories: ReadonlyArray<string>): Effect.Effect<WebBuild | undefined> =>
  Effect.promise(async () => {
    for (const directory of directories) {
      const build = await readBuild(directory).catch(() => undefined)
      if (build !== undefined) return build
    }
    return undefined
  })

/** `If-None-Match` names this entity (RFC 9110 §13.1.2: weak comparison). */
const notModified = (request: HttpServerRequest.HttpServerRequest, etag: string): boolean => {
  const header = request.headers["if-none-match"]
  if (header === undefined) return false
  if (header.trim() === "*") return true
  return header.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)
}

const serve = (
  request: HttpServerRequest.HttpServerRequest,
  file: StaticFile,
  headers: Readonly<Record<string, string>>
): HttpServerResponse.HttpServerResponse =>
  notModified(request, file.etag)
    ? HttpServerResponse.empty({ status: 304, headers: { ...headers, etag: file.etag } })
    : HttpServerResponse.uint8Array(file.body, {
        contentType: file.contentType,
        headers: { ...headers, etag: file.etag }
      })

const notBuiltPage = (directories: ReadonlyArray<string>) =>
  HttpServerResponse.text(
    `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>mcpgate: web UI not built</title></head>
<body>
<h1>The web UI is not built</h1>
<p>Run <code>pnpm build</code> (or <code>pnpm install</code>) in the mcpgate checkout, then restart the gateway.</p>
<p>Looked in: ${directories.map((directory) => directory.replace(/[&<>"']/g, "")).join(", ")}</p>
</body>
</html>
`,
    {
      status: 503,
      contentType: "text/html; charset=utf-8",
      headers: {
        ...pageHeaders,
        "content-security-policy": "default-src 'none'",
        "cache-control": "no-store"
      }
    }
  )

/** The routes, with options (tests point them at another build). */
export const routesWith = (options: WebOptions = {}) =>
  HttpRouter.use((router) =>
    Effect.gen(function* () {
      const directories = options.directory === undefined ? defaultDirectories : [options.directory]
      const build = yield* loadBuild(directories)
      if (build === undefined) {
        yield* Effect.logWarning(
          `the web UI is not built (looked in ${directories.join(", ")}); run pnpm build`
        )
      }

      const page = (name: PageName) => (request: HttpServerRequest.HttpServerRequest) => {
        const file = build?.pages.get(name)
        return Effect.succeed(
          file === undefined ? notBuiltPage(directories) : serve(request, file, pageHeaders)
        )
      }

      const asset = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.map(HttpRouter.params, (params) => {
          const file = params.name === undefined ? undefined : build?.assets.get(params.name)
          return file === undefined
            ? ErrorBody.response(404, {
                message: `no web asset named ${JSON.stringify(params.name ?? "")}`,
                type: "not_found",
                code: "asset_not_found"
              })
            : serve(request, file, assetHeaders)
        })

      const security = Option.getOrUndefined(yield* Effect.serviceOption(Security))
      const userOf = (request: HttpServerRequest.HttpServerRequest) =>
        security === undefined ? Effect.succeedNone : security.userOf(request)

      yield* router.add("GET", "/admin", (request) =>
        Effect.flatMap(userOf(request), (user) =>
          Option.isSome(user) && !user.value.admin
            ? Effect.succeed(
                htmlPage(
                  403,
                  "Not an admin",
                  [
                    `You are signed in as ${user.value.id}, who is no admin of this gateway.`,
                    "An admin is a user with admin: true in server.users, or one the provider's adminClaim names; the admin token opens it too."
                  ],
                  [
                    ["/chat", "Chat"],
                    ["/connections", "Your connections"]
                  ]
                )
              )
            : page("admin")(request)
        )
      )
      yield* router.add("GET", "/chat", page("chat"))
      yield* router.add("GET", "/connections", (request) =>
        Effect.flatMap(userOf(request), (user) =>
          security?.gatewayAuth !== undefined && Option.isNone(user)
            ? Effect.succeed(
                HttpServerResponse.redirect("/signin?return=/connections", {
                  status: 302,
                  headers: { "cache-control": "no-store" }
                })
              )
            : page("connections")(request)
        )
      )
      yield* router.add("GET", "/assets/:name", asset)
      // The front door: the admin page, or the chat for a signed-in user who is no admin.
      yield* router.add("GET", "/", (request) =>
        Effect.map(userOf(request), (user) =>
          HttpServerResponse.redirect(Option.isSome(user) && !user.value.admin ? "/chat" : "/admin", {
            status: 302
          })
        )
      )
    })
  )

/** The web UI from the default build directory. */
export const routes = routesWith()
