/**
 * HTTP plumbing shared by the OAuth services: the plain-HTTP policy for
 * endpoints, a timeout on every request, and the translation of oauth4webapi's
 * exceptions into `OAuthError`s whose messages carry no secret.
 */
import { isLoopbackHost } from "@mcpgate/core/Address"
import { Effect } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as oauth from "oauth4webapi"
import { OAuthError, type OAuthErrorReason } from "../Errors.ts"

/** Every request to an authorization server or metadata endpoint gives up after this long. */
export const requestTimeoutMillis = 30_000

/** The `user-agent` of every request mcpgate makes itself. */
export const userAgent = "mcpgate"

/**
 * Parses an endpoint URL and applies the transport rule (OAuth 2.1 §1.5,
 * docs/oauth.md#plain-http-rule): `https`, or `http` on loopback, or `http`
 * anywhere when the server's `auth.allowHttp` says so. Anything else is
 * refused before a request is made: reason "insecure-endpoint" for plain
 * HTTP, "discovery" for an invalid URL or another scheme.
 */
export const checkEndpoint = (
  server: string,
  url: string,
  what: string,
  allowHttp: boolean
): Effect.Effect<URL, OAuthError> =>
  Effect.suspend(() => {
    const parsed = URL.parse(url)
    if (parsed === null) {
      return Effect.fail(OAuthError.of(server, "discovery", `the ${what} "${url}" is not a valid URL`))
    }
    if (parsed.protocol === "https:") return Effect.succeed(parsed)
    if (parsed.protocol === "http:") {
      if (allowHttp || isLoopbackHost(parsed.hostname)) return Effect.succeed(parsed)
      return Effect.fail(
        OAuthError.of(
          server,
          "insecure-endpoint",
          `the ${what} ${parsed.origin}${parsed.pathname} uses plain HTTP on a non-loopback host; mcpgate refuses it unless "auth": {"allowHttp": true} is set for this server`
        )
      )
    }
    return Effect.fail(
      OAuthError.of(
        server,
        "discovery",
        `the ${what} ${parsed.origin} uses the unsupported scheme ${parsed.protocol}`
      )
    )
  })

/**
 * The options every oauth4webapi request gets: the `fetch` of
 * `FetchHttpClient.Fetch`, our timeout, and our own HTTPS policy (checked
 * beforehand).
 */
export interface HttpOptions {
  readonly signal: AbortSignal
  readonly headers: Record<string, string>
  readonly [oauth.customFetch]: typeof globalThis.fetch
  readonly [oauth.allowInsecureRequests]: true
}

const httpOptions = (fetch: typeof globalThis.fetch, signal: AbortSignal): HttpOptions => ({
  signal: AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMillis)]),
  headers: { "user-agent": userAgent },
  [oauth.customFetch]: fetch,
  // The https/loopback/allowHttp rule is enforced by `checkEndpoint` before any request.
  [oauth.allowInsecureRequests]: true
})

/** Up to 300 characters of server-supplied text, on one line (for error messages). */
export const clip = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

/** An exception in words, with what an `OAuthError` carries besides. */
export interface Failure {
  readonly message: string
  readonly retryable: boolean
  readonly oauthError?: string | undefined
  readonly status?: number | undefined
}

const responseOf = (cause: unknown): Response | undefined => (cause instanceof Response ? cause : undefined)

/**
 * Describes an exception from `fetch` or oauth4webapi in words. Only OAuth
 * error codes, descriptions, HTTP statuses and oauth4webapi's own (fixed)
 * messages are used: never a request or response body.
 */
export const describe = (error: unknown): Failure => {
  if (error instanceof oauth.ResponseBodyError) {
    const description = error.error_description === undefined ? "" : `: ${clip(error.error_description)}`
    return {
      message: `${error.status} ${error.error}${description}`,
      retryable: error.status >= 500,
      oauthError: error.error,
      status: error.status
    }
  }
  if (error instanceof oauth.AuthorizationResponseError) {
    const description = error.error_description === undefined ? "" : `: ${clip(error.error_description)}`
    return { message: `${error.error}${description}`, retryable: false, oauthError: error.error }
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0]
    const code = challenge?.parameters.error
    const description = challenge?.parameters.error_description
    return {
      message: `${error.status}${code === undefined ? "" : ` ${code}`}${description === undefined ? "" : `: ${clip(description)}`}`,
      retryable: false,
      oauthError: code,
      status: error.status
    }
  }
  if (error instanceof oauth.OperationProcessingError) {
    const response = responseOf(error.cause)
    if (response !== undefined) {
      return {
        message: `HTTP ${response.status} ${clip(response.statusText)} (${error.message})`,
        retryable: response.status >= 500 || response.status === 429,
        status: response.status
      }
    }
    return { message: error.message, retryable: false }
  }
  if (error instanceof Error) {
    if (error.name === "TimeoutError") {
      return { message: `no answer within ${requestTimeoutMillis / 1000} s`, retryable: true }
    }
    if (error.name === "AbortError") return { message: "the request was aborted", retryable: true }
    // fetch's TypeError("fetch failed") keeps the system error (ECONNREFUSED, ENOTFOUND, …) in `cause`.
    const cause: unknown = error.cause
    const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
    if (error instanceof TypeError && /fetch failed|network/i.test(error.message)) {
      return { message: `could not connect${code === "" ? "" : ` (${code})`}`, retryable: true }
    }
    return { message: clip(error.message), retryable: false }
  }
  return { message: "unknown failure", retryable: false }
}

/** The `OAuthError` for an exception of `fetch` or oauth4webapi: `<what> failed: <description>`. */
export const toOAuthError = (
  server: string,
  reason: OAuthErrorReason,
  what: string,
  error: unknown
): OAuthError => {
  const failure = describe(error)
  return OAuthError.of(server, failure.retryable ? "network" : reason, `${what} failed: ${failure.message}`, {
    retryable: failure.retryable,
    oauthError: failure.oauthError,
    status: failure.status
  })
}

/**
 * Runs one step that may throw (processing a response, reading a body) as an
 * Effect. A failure becomes an `OAuthError` with `reason` (or "network" for a
 * transient one), described by `describe`.
 */
export const attempt = <A>(
  server: string,
  reason: OAuthErrorReason,
  what: string,
  run: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, OAuthError> =>
  Effect.tryPromise({ try: run, catch: (error) => toOAuthError(server, reason, what, error) })

/**
 * Runs one request of oauth4webapi (request and processing) with the options
 * it needs (`HttpOptions`: the `fetch` of `FetchHttpClient.Fetch`, read here
 * from the calling fiber, so an application or a test can provide its own).
 * A failure becomes an `OAuthError` as in `attempt`.
 */
export const request = <A>(
  server: string,
  reason: OAuthErrorReason,
  what: string,
  run: (options: HttpOptions) => Promise<A>
): Effect.Effect<A, OAuthError> =>
  Effect.flatMap(FetchHttpClient.Fetch, (fetch) =>
    attempt(server, reason, what, (signal) => run(httpOptions(fetch, signal)))
  )

/**
 * `fetch` of `FetchHttpClient.Fetch` with our timeout, user agent and no
 * redirects followed (a metadata document or a challenge is read where it
 * is asked for). The raw `Response`; failures as in `attempt`.
 */
export const fetchWith = (
  server: string,
  reason: OAuthErrorReason,
  what: string,
  url: URL,
  init: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string }
): Effect.Effect<Response, OAuthError> =>
  Effect.flatMap(FetchHttpClient.Fetch, (fetch) =>
    attempt(server, reason, what, (signal) =>
      fetch(url, {
        ...init,
        headers: { ...init.headers, "user-agent": userAgent },
        redirect: "manual",
        signal: AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMillis)])
      })
    )
  )

/** A plain GET of a JSON document; the raw `Response` (for metadata documents read with our own schema). */
export const get = (server: string, url: URL, what: string): Effect.Effect<Response, OAuthError> =>
  fetchWith(server, "discovery", `fetching the ${what} ${url.href}`, url, {
    headers: { accept: "application/json" }
  })
