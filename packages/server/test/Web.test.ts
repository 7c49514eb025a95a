/**
 * The web UI's routes over HTTP (no browser): content types, caching, the CSP,
 * and what the pages reference. The browser suite is WebBrowser.test.ts.
 */
import * as fs from "node:fs/promises"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import * as Web from "../src/web/WebUi.ts"
import { distDirectory } from "../web/build.ts"
import { ensureWebBuild } from "./support/WebGateway.ts"

/** The web routes alone on 127.0.0.1, from `directory`. */
const serveWeb = (directory?: string) =>
  Effect.gen(function* () {
    const app = HttpRouter.serve(Web.routesWith({ directory }), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))
    const address = Context.get(yield* Layer.build(app), HttpServer.HttpServer).address
    if (address._tag !== "InetAddressV4") return yield* Effect.die("expected an IPv4 address")
    return `http://127.0.0.1:${address.port}`
  })

const get = (url: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers, redirect: "manual" })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

/** Every `src` and `href` of the page that points at this origin. */
const references = (html: string): Array<string> =>
  [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)]
    .map((match) => match[1] ?? "")
    .filter((ref) => ref.startsWith("/"))

describe("Web routes", () => {
  it.live("serve both pages with the CSP, no-cache and an ETag; a matching If-None-Match is a 304", () =>
    Effect.gen(function* () {
      yield* ensureWebBuild
      const url = yield* serveWeb()
      for (const page of ["admin", "chat"]) {
        const response = yield* get(`${url}/${page}`)
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.headers.get("content-type"), "text/html; charset=utf-8")
        assert.strictEqual(response.headers.get("cache-control"), "no-cache")
        assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
        assert.strictEqual(response.headers.get("x-frame-options"), "DENY")
        const csp = response.headers.get("content-security-policy") ?? ""
        assert.include(csp, "default-src 'none'")
        assert.include(csp, "script-src 'self'")
        assert.include(csp, "connect-src 'self'")
        assert.include(csp, "frame-ancestors 'none'")
        assert.notInclude(csp, "unsafe-inline")
        assert.notInclude(csp, "unsafe-eval")
        // No inline script: every script element has a src on this origin, and no handler attributes.
        const scripts = response.text.match(/<script\b[^>]*>/gi) ?? []
        assert.isAbove(scripts.length, 0)
        for (const script of scripts) assert.match(script, /\ssrc="\/assets\/[^"]+"/)
        assert.notMatch(response.text, /<script\b[^>]*>\s*[^<\s]/i)
        assert.notMatch(response.text, /\son[a-z]+\s*=/i)
        assert.notMatch(response.text, /<style\b|\sstyle\s*=/i)
        // Nothing from elsewhere: no CDN, the page works offline.
        assert.notMatch(response.text, /(?:src|href)="(?:https?:)?\/\//i)

        const etag = response.headers.get("etag")
        assert.isString(etag)
        const again = yield* get(`${url}/${page}`, { "if-none-match": etag ?? "" })
        assert.strictEqual(again.status, 304)
        assert.strictEqual(again.text, "")
      }
    })
  )

  it.live("serve every asset a page references with its type and a year of immutable cache", () =>
    Effect.gen(function* () {
      yield* ensureWebBuild
      const url = yield* serveWeb()
      const seen = new Set<string>()
      for (const page of ["admin", "chat"]) {
        const html = (yield* get(`${url}/${page}`)).text
        const refs = references(html).filter((ref) => ref.startsWith("/assets/"))
        assert.isAtLeast(refs.length, 3, html)
        for (const ref of refs) seen.add(ref)
      }
      const types = new Set<string>()
      for (const ref of seen) {
        // Hashed names: a new build gets new URLs, so a year-long cache is safe.
        assert.match(ref, /^\/assets\/[a-z]+-[A-Za-z0-9]{8,}\.(js|css|svg)$/)
        const response = yield* get(`${url}${ref}`)
        assert.strictEqual(response.status, 200, ref)
        assert.strictEqual(response.headers.get("cache-control"), "public, max-age=31536000, immutable")
        assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
        const type = response.headers.get("content-type") ?? ""
        const expected = ref.endsWith(".js")
          ? "text/javascript; charset=utf-8"
          : ref.endsWith(".css")
            ? "text/css; charset=utf-8"
            : "image/svg+xml"
        assert.strictEqual(type, expected, ref)
        types.add(type)
        // A module's own imports are served too (the shared chunk).
        for (const imported of response.text.matchAll(/from"\.\/([^"]+)"/g)) {
          const chunk = yield* get(`${url}/assets/${imported[1] ?? ""}`)
          assert.strictEqual(chunk.status, 200, imported[1])
          assert.strictEqual(chunk.headers.get("content-type"), "text/javascript; charset=utf-8")
        }
      }
      assert.strictEqual(types.size, 3)
    })
  )

  it.live("refuse unknown assets and paths outside the build", () =>
    Effect.gen(function* () {
      yield* ensureWebBuild
      const url = yield* serveWeb()
      for (const ref of [
        "/assets/nope-12345678.js",
        "/assets/build.json",
        "/assets/admin.html",
        "/assets/..%2Fbuild.ts",
        "/assets/%2e%2e%2f%2e%2e%2fpackage.json"
      ]) {
        const response = yield* get(`${url}${ref}`)
        assert.notStrictEqual(response.status, 200, ref)
        assert.notInclude(response.text, "esbuild", ref)
      }
      const root = yield* get(`${url}/`)
      assert.strictEqual(root.status, 302)
      assert.strictEqual(root.headers.get("location"), "/admin")
    })
  )

  it.live("say how to build the UI when there is no build, instead of failing the gateway", () =>
    Effect.gen(function* () {
      const empty = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-web-"))),
        (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
      )
      const url = yield* serveWeb(empty)
      const page = yield* get(`${url}/admin`)
      assert.strictEqual(page.status, 503)
      assert.include(page.text, "pnpm build")
      assert.strictEqual(page.headers.get("content-security-policy"), "default-src 'none'")
      assert.notStrictEqual((yield* get(`${url}/assets/anything.js`)).status, 200)
    })
  )

  it.live("the build is fresh: the stamp matches the sources", () =>
    Effect.gen(function* () {
      yield* ensureWebBuild
      const { isStale } = yield* Effect.promise(() => import("../web/build.ts"))
      assert.isFalse(yield* Effect.promise(() => isStale(distDirectory)))
    })
  )
})
