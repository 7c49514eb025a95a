/**
 * The `fetch` handed to the SDK's HTTP client transports (streamable HTTP and SSE).
 *
 * This is the one seam through which credentials reach a remote MCP server.
 * `layer` adds the server's configured static `headers`; `layerOAuth` also, for
 * servers with `auth`:
 *   - sets `Authorization` (and `DPoP`) from `OAuthManager.authorizationHeaders`
 *     (the token stays `Redacted` until this header is written); without a
 *     credential the request goes out anonymously, so the server's 401 names its
 *     protected resource metadata and scope (MCP authorization 2025-11-25,
 *     "Authorization Flow Steps");
 *   - on a 401 asks `OAuthManager.onUnauthorized` for a newer or refreshed token,
 *     then retries the request once (MCP "Token Handling"; RFC 6750 §3.1);
 *   - on a 403 with `error="insufficient_scope"` starts the step-up (never a plain
 *     refresh) and retries once;
 *   - when only the user can help (no credential, refresh refused, step-up needs a
 *     person) the request fails with `AuthorizationRequired`, which carries the
 *     server's challenge; `layerOAuthWith({ login })` logs in instead (with that
 *     challenge) and retries: the CLI's `connect` and the conformance client.
 * `McpConnection` turns a final 401/403 (or a thrown `AuthorizationRequired`) on a
 * server with `auth` into the `needs_auth` state, so the OAuth layer never has to
 * know about connection states.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { keyOf } from "@mcpgate/core/Credential"
import type { AuthFailure } from "@mcpgate/oauth/Errors"
import { type AuthorizationHeaders, type LoginOptions, OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as WwwAuthenticate from "@mcpgate/oauth/WwwAuthenticate"
import { Cause, Context, Data, Effect, Exit, Layer, Option, Redacted, Schema, Semaphore } from "effect"
import { FetchHttpClient } from "effect/http"
import * as PooledFetch from "./internal/PooledFetch.ts"
import * as TraceHeaders from "./internal/TraceHeaders.ts"

/** The shape of `fetch` the SDK transports accept (`FetchLike` in the SDK). */
export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>

/**
 * Thrown from an authorizing fetch when the server cannot be reached without the
 * user (no credential, refresh refused, step-up needed). The SDK passes it through
 * as the rejection of `connect`/`request`; `McpConnection` recognises it by its tag.
 * The message names the command that fixes it.
 */
export class AuthorizationRequired extends Schema.TaggedError<AuthorizationRequired>()(
  "AuthorizationRequired",
  {
    server: Schema.String,
    reason: Schema.Literals(["login", "scope"]),
    message: Schema.String,
    /** The server's `WWW-Authenticate` challenge, when it sent one (never a secret). */
    wwwAuthenticate: Schema.optionalKey(Schema.String)
  }
) {}

export interface AuthorizedFetchShape {
  /** The fetch to use for every HTTP request to this server. */
  readonly forServer: (server: ServerConfig) => Fetch
}

export interface OAuthFetchOptions {
  /**
   * Log in when the server needs it, with its challenge, and retry (an
   * interactive client: `mcpgate connect`, the conformance client). Without it
   * (the gateway) such a request fails with `AuthorizationRequired`.
   */
  readonly login?: LoginOptions
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

/**
 * The network: effect's `FetchHttpClient.Fetch` when an embedding app or a test provides
 * one, read when the layer is built; otherwise (it is the platform's `fetch`) undici on
 * an agent of kept-alive connections (internal/PooledFetch.ts: no web `Request`, headers
 * list and streams per request).
 *
 * The SDK hands every request the same long-lived abort signal; Node's `fetch` adds a
 * listener to it per request and drops it only when the request is collected, so the list
 * grows and each add gets slower (bench/). A dependent signal per request carries the abort
 * without touching the long-lived one's listener list. undici's `request` removes its
 * listener when the request completes, so the pooled fetch takes the signal as it is.
 */
const networkFetch: Effect.Effect<Fetch> = Effect.map(FetchHttpClient.Fetch, (fetch) => {
  const send: Fetch =
    fetch === globalThis.fetch
      ? PooledFetch.platform(fetch)
      : (input, init) =>
          fetch(
            input,
            init?.signal === undefined || init.signal === null
              ? init
              : { ...init, signal: AbortSignal.any([init.signal]) }
          )
  // The tool call's span as `traceparent` (docs/observability.md#traces), when there is one.
  return (input, init) => {
    const trace = TraceHeaders.current()
    return trace === undefined ? send(input, init) : withHeaders(send, trace)(input, init)
  }
})

export class AuthorizedFetch extends Context.Service<AuthorizedFetch, AuthorizedFetchShape>()(
  "@mcpgate/transport/AuthorizedFetch"
) {
  /** Static configured headers only (no OAuth). */
  static readonly layer: Layer.Layer<AuthorizedFetch> = Layer.effect(
    AuthorizedFetch,
    Effect.map(networkFetch, (network) =>
      AuthorizedFetch.of({ forServer: (server) => withHeaders(network, server.headers) })
    )
  )
}

/** The network (or the SDK's abort) failed: rethrown to the SDK unchanged, so it can classify it. */
class FetchFailed extends Data.TaggedError("FetchFailed")<{ readonly error: unknown }> {}

const insufficientScope = (response: Response): boolean => {
  if (response.status !== 403) return false
  return WwwAuthenticate.parse(response.headers.get("www-authenticate")).some(
    (challenge) => challenge.params.error === "insufficient_scope"
  )
}

/** RFC 9449 §9: the resource server wants a proof with its nonce (not a token problem). */
const nonceChallenge = (wwwAuthenticate: string | null): boolean =>
  WwwAuthenticate.parse(wwwAuthenticate).some((challenge) => challenge.params.error === "use_dpop_nonce")

/** Sends for one request at most: the first, a renewal, a nonce, a login, a step-up. */
const maxSends = 5

/** Bodies that were streams cannot be sent twice; MCP requests carry strings, which can. */
const replayable = (init: RequestInit | undefined): boolean =>
  init?.body === undefined || init.body === null || typeof init.body === "string"

/** A response we will not hand on: release its connection. */
const discard = (response: Response) => Effect.promise(() => response.body?.cancel() ?? Promise.resolve())

/** The bearer token inside an `Authorization` value (`Bearer x` / `DPoP x`). */
const tokenOf = (headers: AuthorizationHeaders): Redacted.Redacted<string> =>
  Redacted.make(Redacted.value(headers.authorization).replace(/^\S+\s+/, ""))

const required = (
  server: ServerConfig,
  error: AuthFailure,
  wwwAuthenticate: string | null
): AuthorizationRequired | AuthFailure =>
  error._tag === "OAuthError"
    ? error
    : new AuthorizationRequired({
        server: server.name,
        reason: error._tag === "NeedsScope" ? "scope" : "login",
        message: error.message,
        ...(wwwAuthenticate === null ? {} : { wwwAuthenticate })
      })

/** What the SDK sees: the original network error, `AuthorizationRequired`, or an `Error` with the OAuth message. */
const toThrowable = (cause: Cause.Cause<FetchFailed | AuthorizationRequired | AuthFailure>): unknown => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  if (error === undefined) return Cause.squash(cause)
  if (error._tag === "FetchFailed") return error.error
  if (error._tag === "AuthorizationRequired") return error
  // A store that is out of reach for now (docs/store.md#outage) stays recognisable: the call answers 503.
  if (error._tag === "OAuthError" && error.reason === "store" && error.retryable) return error
  return new Error(error.message)
}

export const makeOAuth = (options: OAuthFetchOptions = {}) =>
  Effect.gen(function* () {
    const oauth = yield* OAuthManager
    const network = yield* networkFetch
    const context = yield* Effect.context<never>()
    /** One interactive login per server at a time; the others wait and use its token. */
    const logins = new Map<string, Semaphore.Semaphore>()
    const loginPermit = (server: ServerConfig) => {
      const key = keyOf({ server: server.name, url: server.url ?? "" })
      const existing = logins.get(key)
      if (existing !== undefined) return existing
      const created = Semaphore.makeUnsafe(1)
      logins.set(key, created)
      return created
    }

    const forServer = (server: ServerConfig): Fetch => {
      const base = withHeaders(network, server.headers)
      if (server.auth === undefined) return base
      const loginOptions = options.login

      const send = (
        input: string | URL,
        init: RequestInit | undefined,
        auth: AuthorizationHeaders | undefined
      ) =>
        Effect.tryPromise({
          try: () => {
            const headers = new Headers(init?.headers)
            if (auth !== undefined) {
              headers.set("authorization", Redacted.value(auth.authorization))
              if (auth.dpop !== undefined) headers.set("dpop", auth.dpop)
            }
            return base(input, { ...init, headers })
          },
          catch: (error) => new FetchFailed({ error })
        })

      const headersFor = (input: string | URL, init: RequestInit | undefined) =>
        oauth.authorizationHeaders(server, { method: init?.method ?? "GET", url: String(input) })

      /** The headers to send now, or none while there is no credential (the 401 then says how to get one). */
      const optionalHeaders = (input: string | URL, init: RequestInit | undefined) =>
        headersFor(input, init).pipe(
          Effect.map((headers): AuthorizationHeaders | undefined => headers),
          Effect.catchTag("NeedsLogin", () => Effect.succeed(undefined))
        )

      /** Logs in (once per server at a time) unless another request just did. */
      const login = (
        login: LoginOptions,
        wwwAuthenticate: string | null,
        rejected: AuthorizationHeaders | undefined
      ) =>
        Semaphore.withPermit(
          loginPermit(server),
          Effect.gen(function* () {
            const current = yield* Effect.option(oauth.accessToken(server))
            const fresh =
              Option.isSome(current) &&
              (rejected === undefined || Redacted.value(current.value) !== Redacted.value(tokenOf(rejected)))
            if (fresh) return
            yield* oauth.login(server, { ...login, wwwAuthenticate })
          })
        )

      /**
       * Sends, and on a 401 renews the token (a newer stored one, a refresh, or a
       * DPoP nonce) and retries; when a renewal is not enough, logs in (if
       * allowed) and retries; on a 403 `insufficient_scope` steps up once. At most
       * `maxSends` requests go out for one call.
       */
      const request = (input: string | URL, init: RequestInit | undefined) =>
        Effect.gen(function* () {
          let auth = yield* optionalHeaders(input, init)
          let refreshed = false
          let loggedIn = false
          let steppedUp = false
          for (let sends = 1; ; sends++) {
            const response = yield* send(input, init, auth)
            if (!replayable(init) || sends >= maxSends) return response
            const wwwAuthenticate = response.headers.get("www-authenticate")
            if (response.status === 401) {
              const nonce = nonceChallenge(wwwAuthenticate)
              const canLogin = loginOptions !== undefined && !loggedIn
              // A renewed token refused again: only a new login can help.
              if (refreshed && !nonce && !canLogin) return response
              yield* discard(response)
              if (refreshed && !nonce && loginOptions !== undefined) {
                yield* login(loginOptions, wwwAuthenticate, auth)
                loggedIn = true
              } else {
                const renewed = yield* oauth
                  .onUnauthorized(server, {
                    wwwAuthenticate,
                    ...(auth === undefined ? {} : { rejectedToken: tokenOf(auth) }),
                    dpopNonce: response.headers.get("dpop-nonce")
                  })
                  .pipe(Effect.result)
                if (renewed._tag === "Success") {
                  refreshed = refreshed || !nonce
                } else if (renewed.failure._tag === "NeedsLogin" && loginOptions !== undefined && canLogin) {
                  yield* login(loginOptions, wwwAuthenticate, auth)
                  loggedIn = true
                } else {
                  return yield* Effect.fail(required(server, renewed.failure, wwwAuthenticate))
                }
              }
              auth = yield* headersFor(input, init)
              continue
            }
            if (insufficientScope(response) && !steppedUp) {
              // RFC 6750 §3.1: authorize again for more scope (never a plain refresh).
              yield* discard(response)
              yield* oauth
                .onInsufficientScope(server, wwwAuthenticate)
                .pipe(Effect.mapError((error) => required(server, error, wwwAuthenticate)))
              steppedUp = true
              auth = yield* headersFor(input, init)
              continue
            }
            return response
          }
        })

      return (input, init) =>
        Effect.runPromiseExitWith(context)(
          request(input, init).pipe(
            Effect.mapError((error) => (error._tag === "NeedsLogin" ? required(server, error, null) : error))
          )
        ).then((exit) => {
          if (Exit.isSuccess(exit)) return exit.value
          throw toThrowable(exit.cause)
        })
    }
    return AuthorizedFetch.of({ forServer })
  })

/** Static headers, plus OAuth for servers with `auth` (needs an `OAuthManager`). */
export const layerOAuth: Layer.Layer<AuthorizedFetch, never, OAuthManager> = Layer.effect(
  AuthorizedFetch,
  makeOAuth()
)

/** `layerOAuth` with options, e.g. `{ login: {} }` to log in on demand. */
export const layerOAuthWith = (
  options: OAuthFetchOptions
): Layer.Layer<AuthorizedFetch, never, OAuthManager> => Layer.effect(AuthorizedFetch, makeOAuth(options))
