/**
 * HTTP plumbing shared by the OAuth services: the plain-HTTP policy for
 * endpoints, a timeout on every request, and the translation of oauth4webapi's
 * exceptions into `OAuthError`s whose messages carry no secret.
 */
import { isLoopbackHost } from "@mcpgate/core/Address"
import { Effect } from "effect"
import * as oauth from "oauth4webapi"
import { OAuthError, type OAuthErrorReason } from "../Errors.ts"

/** Every request to an authorization server or metadata endpoint gives up after this long. */
export const requestTimeoutMillis = 30_000

export const userAgent = "mcpgate"

// Loopback hosts (RFC 8252 §7.3, RFC 6761 §6.3) are judged by core's one address classifier.
export { isLoopbackUrl } from "@mcpgate/core/Address"

/**
 * Parses an endpoint URL and applies the transport rule (OAuth 2.1 §1.5, SPEC
 * §3): `https`, or `http` on loopback, or `http` anywhere when the server's
 * `auth.allowHttp` says so. Anything else is refused before a request is made.
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

/** The options every oauth4webapi call gets: our timeout and our own HTTPS policy (checked beforehand). */
export const httpOptions = (signal: AbortSignal) => ({
  signal: AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMillis)]),
  headers: { "user-agent": userAgent },
  // The https/loopback/allowHttp rule is enforced by `checkEndpoint` before any request.
  [oauth.allowInsecureRequests]: true
})

/** Up to 300 characters of server-supplied text, on one line. */
export const clip = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

interface Failure {
  readonly message: string
  readonly retryable: boolean
  readonly oauthError?: string
  readonly status?: number
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
      ...(code === undefined ? {} : { oauthError: code }),
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
    const cause = (error as { readonly cause?: unknown }).cause
    const code =
      typeof cause === "object" && cause !== null && "code" in cause
        ? String((cause as { code: unknown }).code)
        : ""
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
    ...(failure.oauthError === undefined ? {} : { oauthError: failure.oauthError }),
    ...(failure.status === undefined ? {} : { status: failure.status })
  })
}

/**
 * Runs one oauth4webapi step (request and processing) as an Effect. A failure
 * becomes an `OAuthError` with `reason` (or "network" for a transient one).
 */
export const attempt = <A>(
  server: string,
  reason: OAuthErrorReason,
  what: string,
  run: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, OAuthError> =>
  Effect.tryPromise({ try: run, catch: (error) => toOAuthError(server, reason, what, error) })

/** A plain GET with our timeout; the raw `Response` (for metadata documents read with our own schema). */
export const get = (server: string, url: URL, what: string): Effect.Effect<Response, OAuthError> =>
  attempt(server, "discovery", `fetching the ${what} ${url.href}`, (signal) =>
    fetch(url, {
      headers: { accept: "application/json", "user-agent": userAgent },
      redirect: "manual",
      signal: AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMillis)])
    })
  )
