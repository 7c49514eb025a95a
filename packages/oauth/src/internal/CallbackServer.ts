/**
 * The loopback redirect listener of the CLI login (RFC 8252 §7.3): one HTTP
 * server on `127.0.0.1:<port>` that waits for the authorization response on
 * its callback path and answers the browser with a small page once the login
 * has finished (or failed). A request without this login's `state` (an old
 * tab, a forged link; RFC 6749 §10.12) gets an error page and the wait goes
 * on. Everything shown in the page is HTML-escaped.
 */
import * as http from "node:http"
import { canonicalUrl } from "@mcpgate/core/Credential"
import { Deferred, Effect, type Scope } from "effect"
import { OAuthError } from "../Errors.ts"

/** How the login ended, for the browser's page. */
export interface CallbackOutcome {
  readonly ok: boolean
  /** Plain text; escaped before it is put in the page. */
  readonly message: string
}

/** The authorization response the browser brought. */
export interface CallbackRequest {
  /** The full redirect URL the browser was sent to. */
  readonly url: URL
  /** Answers the waiting browser. Only the first call counts. */
  readonly reply: (outcome: CallbackOutcome) => Effect.Effect<void>
}

/** A listening loopback redirect listener. */
export interface CallbackServer {
  readonly redirectUri: string
  /** The first request to the callback path that carries the expected `state`. */
  readonly request: Effect.Effect<CallbackRequest>
}

/** FNV-1a, 32 bit: a stable hash without crypto. */
const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/**
 * The callback port of a server: the same for the same name and URL on every
 * run (so a registered redirect URI stays valid), in 61000–65535: above Linux's
 * ephemeral range (32768–60999), so an outgoing connection never holds it.
 */
export const stableCallbackPort = (server: string, url: string): number =>
  61000 + (fnv1a(`${server}|${canonicalUrl(url)}`) % 4536)

/** Text as HTML character data or attribute value. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"
  )

/** The page the browser lands on; everything in it escaped, no script. */
export const page = (outcome: CallbackOutcome): string => {
  const title = outcome.ok ? "mcpgate: signed in" : "mcpgate: sign-in failed"
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.ok{color:#1a7f37}.fail{color:#c62828}</style></head>
<body><h1 class="${outcome.ok ? "ok" : "fail"}">${escapeHtml(title)}</h1>
<p>${escapeHtml(outcome.message)}</p><p>You can close this window.</p></body></html>`
}

const replyTimeoutMillis = 60_000

/**
 * Listens on `host:port` (inside the current scope) for `path`. A port in use
 * fails with reason "callback-port", naming the flag that picks another.
 */
export const listen = (
  server: string,
  options: {
    readonly host: string
    readonly port: number
    readonly path: string
    readonly redirectUri: string
    /** The `state` of the login waiting here; other requests are answered with an error page. */
    readonly state?: string | undefined
  }
): Effect.Effect<CallbackServer, OAuthError, Scope.Scope> =>
  Effect.gen(function* () {
    const first = yield* Deferred.make<CallbackRequest>()
    const pending = new Set<http.ServerResponse>()
    const httpServer = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", options.redirectUri)
      if (req.method !== "GET" || url.pathname !== options.path) {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found")
        return
      }
      if (options.state !== undefined && url.searchParams.get("state") !== options.state) {
        res
          .writeHead(400, {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
            "referrer-policy": "no-referrer"
          })
          .end(
            page({
              ok: false,
              message:
                "This is not the sign-in mcpgate is waiting for (its state does not match). Finish the sign-in in the window mcpgate opened, or start it again."
            })
          )
        return
      }
      if (Deferred.isDoneUnsafe(first)) {
        res
          .writeHead(409, { "content-type": "text/html; charset=utf-8" })
          .end(page({ ok: false, message: "This sign-in was already handled." }))
        return
      }
      pending.add(res)
      let answered = false
      const answer = (outcome: CallbackOutcome) => {
        if (answered) return
        answered = true
        pending.delete(res)
        res
          .writeHead(outcome.ok ? 200 : 400, {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
            "referrer-policy": "no-referrer",
            // One page per login: let the socket go so the listener closes at once.
            connection: "close"
          })
          .end(page(outcome))
      }
      // The browser must not hang if the login never reports back.
      setTimeout(
        () => answer({ ok: false, message: "mcpgate did not finish the sign-in in time." }),
        replyTimeoutMillis
      ).unref()
      Deferred.doneUnsafe(
        first,
        Effect.succeed({ url, reply: (outcome) => Effect.sync(() => answer(outcome)) })
      )
    })
    yield* Effect.acquireRelease(
      Effect.callback<void, OAuthError>((resume) => {
        httpServer.once("error", (error: NodeJS.ErrnoException) => {
          resume(
            Effect.fail(
              OAuthError.of(
                server,
                "callback-port",
                error.code === "EADDRINUSE"
                  ? `the callback port ${options.port} on ${options.host} is in use; free it, or pick another with --callback-port <port> (or "auth": {"callbackPort": …}); the redirect URI changes with it`
                  : `could not listen on ${options.host}:${options.port} for the login callback (${error.code ?? error.message})`
              )
            )
          )
        })
        httpServer.listen(options.port, options.host, () => resume(Effect.void))
      }),
      () =>
        Effect.callback<void>((resume) => {
          for (const res of pending) {
            if (!res.writableEnded)
              res.writeHead(500).end(page({ ok: false, message: "mcpgate stopped waiting." }))
          }
          // Let answered pages flush; idle keep-alive sockets go now, any other after a second.
          httpServer.close(() => resume(Effect.void))
          httpServer.closeIdleConnections()
          setTimeout(() => httpServer.closeAllConnections(), 1000).unref()
        })
    )
    return { redirectUri: options.redirectUri, request: Deferred.await(first) }
  })
