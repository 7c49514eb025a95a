/**
 * `/mcp`, `/mcp/<server>` and `/v1/*` as OAuth protected resources (MCP
 * authorization 2025-11-25, docs/teams.md#access-tokens): the resource each
 * path belongs to, its RFC 9728 metadata at the path-inserted well-known URL
 * (§3.1), the `WWW-Authenticate` challenge that points there (§5.1), and the
 * `aud` values an access token may carry.
 */
import type { GatewayAuthConfig } from "@mcpgate/core/Config"
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import { Security } from "./Security.ts"

export const wellKnownPrefix = "/.well-known/oauth-protected-resource"

/** The gateway's base URL (`server.publicUrl`, else the bound origin), without a trailing slash. */
export type Base = string

/**
 * The resource a request path belongs to, as a path: `/mcp`, `/mcp/<server>`,
 * `/v1`, or `""` (the gateway as a whole).
 */
export const resourcePathOf = (pathname: string): string => {
  const mcp = /^\/mcp(?:\/([^/]+))?\/?$/.exec(pathname)
  if (mcp !== null) return mcp[1] === undefined ? "/mcp" : `/mcp/${mcp[1]}`
  if (pathname === "/v1" || pathname.startsWith("/v1/")) return "/v1"
  return ""
}

/** RFC 9728 §3.1: the well-known segment goes between the host and the resource's path. */
export const metadataUrl = (base: Base, resourcePath: string): string => {
  const url = new URL(base)
  const basePath = url.pathname.replace(/\/+$/, "")
  return `${url.origin}${wellKnownPrefix}${basePath}${resourcePath}`
}

/** RFC 6750 §3: `error_description` is a quoted-string without `"` or `\`. */
const quoted = (text: string): string => `"${text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?")}"`

/**
 * The challenge of a 401 (or 403) on a protected path: `resource_metadata`
 * (RFC 9728 §5.1) so an MCP client finds the provider, and the RFC 6750 §3.1
 * error when a token was sent.
 */
export const challenge = (
  base: Base,
  pathname: string,
  error?: {
    readonly code: "invalid_token" | "insufficient_scope"
    readonly description: string
    readonly scope?: ReadonlyArray<string> | undefined
  }
): string => {
  const parts = [`Bearer resource_metadata=${quoted(metadataUrl(base, resourcePathOf(pathname)))}`]
  if (error !== undefined) {
    parts.push(`error=${quoted(error.code)}`, `error_description=${quoted(error.description)}`)
    if (error.scope !== undefined && error.scope.length > 0)
      parts.push(`scope=${quoted(error.scope.join(" "))}`)
  }
  return parts.join(", ")
}

/**
 * The `aud` values a token for this gateway may carry: `server.auth.audience`
 * when set, else the URL of any of its resources (a token for `/mcp` also
 * serves `/v1`: both are the same user at the same gateway).
 */
export const acceptsAudience =
  (auth: GatewayAuthConfig, base: Base) =>
  (audience: string): boolean => {
    if (auth.audience !== undefined) return audience === auth.audience
    if (audience === base || audience === `${base}/`) return true
    if (!audience.startsWith(`${base}/`)) return false
    const path = new URL(audience).pathname.slice(new URL(base).pathname.replace(/\/+$/, "").length)
    return resourcePathOf(path) === path.replace(/\/+$/, "") && path !== "/"
  }

/** RFC 9728 §2: the metadata of the resource at `resourcePath`. */
export const metadata = (auth: GatewayAuthConfig, base: Base, resourcePath: string) => ({
  resource: `${base}${resourcePath}`,
  authorization_servers: [auth.issuer],
  bearer_methods_supported: ["header"],
  ...(auth.scopes === undefined || auth.scopes.length === 0 ? {} : { scopes_supported: auth.scopes }),
  resource_name: resourcePath === "" ? "mcpgate" : `mcpgate ${resourcePath}`
})

const notFound = (pathname: string) =>
  ErrorBody.response(404, {
    message:
      pathname.startsWith(wellKnownPrefix) && resourcePathOf(pathname.slice(wellKnownPrefix.length)) === ""
        ? `no protected resource at ${pathname}`
        : `no protected resource metadata: "server.auth" is not set, so the gateway takes API keys only`,
    type: "not_found"
  })

/** `GET /.well-known/oauth-protected-resource[/<resource path>]`, public (RFC 9728 §3). */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const security = yield* Security
    const serve = (pathname: string) => {
      const auth = security.gatewayAuth
      if (auth === undefined) return Effect.succeed(notFound(pathname))
      const base = security.baseUrl
      const basePath = new URL(base).pathname.replace(/\/+$/, "")
      let rest = pathname.slice(wellKnownPrefix.length)
      if (basePath !== "" && rest.startsWith(basePath)) rest = rest.slice(basePath.length)
      const resourcePath = resourcePathOf(rest)
      if (rest !== "" && rest !== "/" && resourcePath !== rest.replace(/\/+$/, "")) {
        return Effect.succeed(notFound(pathname))
      }
      return Effect.succeed(
        HttpServerResponse.jsonUnsafe(metadata(auth, base, resourcePath), {
          headers: { "cache-control": "max-age=3600", "access-control-allow-origin": "*" }
        })
      )
    }
    yield* router.add("GET", wellKnownPrefix, (request) => serve(new URL(request.url, "http://x").pathname))
    yield* router.add("GET", `${wellKnownPrefix}/*`, (request) =>
      serve(new URL(request.url, "http://x").pathname)
    )
  })
)
