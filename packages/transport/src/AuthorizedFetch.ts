/**
 * The `fetch` handed to the SDK's HTTP client transports (streamable HTTP and SSE).
 *
 * This is the one seam through which credentials reach a remote MCP server.
 * `layer` adds the server's configured static `headers`; `layerOAuth` also, for
 * servers with `auth`:
 *   - sets `Authorization` (and `DPoP`) from `OAuthManager.authorizationHeaders`
 *     (the token stays `Redacted` until this header is written);
 *   - on a 401 asks `OAuthManager.onUnauthorized` for a newer or refreshed token,
 *     then retries the request once (MCP authorization 2025-11-25, "Token
 *     Handling"; RFC 6750 §3.1);
 *   - on a 403 with `error="insufficient_scope"` starts the step-up (never a plain
 *     refresh) and retries once; when that needs the user, the request fails with
 *     `AuthorizationRequired`.
 * `McpConnection` turns a final 401/403 (or a thrown `AuthorizationRequired`) on a
 * server with `auth` into the `needs_auth` state, so the OAuth layer never has to
 * know about connection states.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as WwwAuthenticate from "@mcpgate/oauth/WwwAuthenticate"
import { Cause, Context, Effect, Exit, Layer, Option, Predicate, Redacted, Schema } from "effect"

/** The shape of `fetch` the SDK transports accept (`FetchLike` in the SDK). */
export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>

/**
 * Thrown from an authorizing fetch when the server cannot be reached without the
 * user (no credential, refresh refused, step-up needed). The SDK passes it through
 * as the rejection of `connect`/`request`; `McpConnection` recognises it by its tag.
 */
export class AuthorizationRequired extends Schema.TaggedError<AuthorizationRequired>()(
  "AuthorizationRequired",
  {
    server: Schema.String,
    reason: Schema.Literals(["login", "scope"]),
    message: Schema.String
  }
) {}

export interface AuthorizedFetchShape {
  /** The fetch to use for every HTTP request to this server. */
  readonly forServer: (server: ServerConfig) => Fetch
}

/**
 * Adds `headers` to every request, without replacing a header the SDK set itself
 * (protocol headers such as `mcp-session-id` must keep the SDK's value).
 */
export const withHeaders =
  (base: Fetch, headers: Readonly<Record<string, string>>): Fetch =>
  (input, init) => {
    const names = Object.keys(headers)
    if (names.length === 0) return base(input, init)
    const merged = new Headers(init?.headers)
    for (const name of names) {
      const value = headers[name]
      if (value !== undefined && !merged.has(name)) merged.set(name, value)
    }
    return base(input, { ...init, headers: merged })
  }

const globalFetch: Fetch = (input, init) => globalThis.fetch(input, init)

export class AuthorizedFetch extends Context.Service<AuthorizedFetch, AuthorizedFetchShape>()(
  "@mcpgate/transport/AuthorizedFetch"
) {
  /** Static configured headers only (no OAuth). */
  static readonly layer: Layer.Layer<AuthorizedFetch> = Layer.succeed(
    AuthorizedFetch,
    AuthorizedFetch.of({ forServer: (server) => withHeaders(globalFetch, server.headers) })
  )
}

/** What an OAuth failure means for the connection: the user must act, or the request just failed. */
const toThrowable = (server: ServerConfig, cause: Cause.Cause<unknown>): unknown => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  if (!Predicate.hasProperty(error, "_tag")) return Cause.squash(cause)
  const message = Predicate.hasProperty(error, "message") ? String(error.message) : String(error)
  if (error._tag === "NeedsLogin")
    return new AuthorizationRequired({ server: server.name, reason: "login", message })
  if (error._tag === "NeedsScope")
    return new AuthorizationRequired({ server: server.name, reason: "scope", message })
  return new Error(message)
}

const isInsufficientScope = (response: Response): boolean => {
  if (response.status !== 403) return false
  const challenge = response.headers.get("www-authenticate")
  return (
    challenge !== null &&
    WwwAuthenticate.parse(challenge).some((entry) => entry.params.error === "insufficient_scope")
  )
}

/** Bodies that were streams cannot be sent twice; MCP requests carry strings, which can. */
const replayable = (init: RequestInit | undefined): boolean =>
  init?.body === undefined || init.body === null || typeof init.body === "string"

export const makeOAuth = Effect.gen(function* () {
  const oauth = yield* OAuthManager
  const context = yield* Effect.context<never>()
  const run = <A, E>(server: ServerConfig, effect: Effect.Effect<A, E>): Promise<A> =>
    Effect.runPromiseExitWith(context)(effect).then((exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      throw toThrowable(server, exit.cause)
    })

  const forServer = (server: ServerConfig): Fetch => {
    const base = withHeaders(globalFetch, server.headers)
    if (server.auth === undefined) return base
    const send = (
      input: string | URL,
      init: RequestInit | undefined,
      authorization: string,
      dpop?: string
    ) => {
      const headers = new Headers(init?.headers)
      headers.set("authorization", authorization)
      if (dpop !== undefined) headers.set("dpop", dpop)
      return base(input, { ...init, headers })
    }
    const authorize = (input: string | URL, init: RequestInit | undefined) =>
      run(server, oauth.authorizationHeaders(server, { method: init?.method ?? "GET", url: String(input) }))

    return async (input, init) => {
      const first = await authorize(input, init)
      const response = await send(input, init, Redacted.value(first.authorization), first.dpop)
      if (!replayable(init)) return response
      if (response.status === 401) {
        await run(
          server,
          oauth.onUnauthorized(server, {
            wwwAuthenticate: response.headers.get("www-authenticate"),
            rejectedToken: Redacted.make(Redacted.value(first.authorization).replace(/^\S+\s+/, "")),
            dpopNonce: response.headers.get("dpop-nonce")
          })
        )
        const retry = await authorize(input, init)
        return send(input, init, Redacted.value(retry.authorization), retry.dpop)
      }
      if (isInsufficientScope(response)) {
        await run(server, oauth.onInsufficientScope(server, response.headers.get("www-authenticate")))
        const retry = await authorize(input, init)
        return send(input, init, Redacted.value(retry.authorization), retry.dpop)
      }
      return response
    }
  }
  return AuthorizedFetch.of({ forServer })
})

/** Static headers, plus OAuth for servers with `auth` (needs an `OAuthManager`). */
export const layerOAuth: Layer.Layer<AuthorizedFetch, never, OAuthManager> = Layer.effect(
  AuthorizedFetch,
  makeOAuth
)
