/**
 * Who may use the admin API (docs/gateway.md#admin-token, #admin-sessions,
 * #security-rules): the admin token as a bearer token, or the session cookie
 * the web UI got for it. An API key never opens it. A present `Origin` must be
 * the gateway's own; a cookie-authenticated write also needs `X-Mcpgate-Csrf: 1`
 * or a same-origin `Origin` (defense in depth next to SameSite=Strict). Wrong
 * tokens are rate limited per client address.
 */
import { Effect, Option } from "effect"
import type { HttpServerRequest } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import type { Addresses } from "./Addresses.ts"
import type { AdminSessions } from "./AdminSessions.ts"
import type { SignInLimiter } from "./SignInLimiter.ts"
import { bearerToken, type Digest, digest, matches } from "./Tokens.ts"

/** The admin session cookie of the web UI (HttpOnly, SameSite=Strict, Path=/admin). */
export const sessionCookie = "mcpgate_admin"

/** The header that marks a cookie-authenticated write as coming from the UI's own script. */
export const csrfHeader = "x-mcpgate-csrf"

export interface AdminAccess {
  readonly via: "bearer" | "cookie"
}

export interface AdminAuthState {
  readonly adminDigest: Digest
  readonly addresses: Addresses
  readonly sessions: AdminSessions
  readonly limiter: SignInLimiter
}

const unauthorizedAdmin = (message: string) =>
  new Refused({
    status: 401,
    type: "authentication_error",
    code: "invalid_admin_token",
    message,
    challenge: 'Bearer realm="mcpgate-admin"'
  })

/**
 * A candidate admin token, rate limited per client address: while the address
 * is blocked even the right token is refused, or the guessing would go on.
 */
export const checkToken = (
  state: AdminAuthState,
  request: HttpServerRequest.HttpServerRequest,
  token: string | null
): Effect.Effect<void, Refused> =>
  Effect.gen(function* () {
    const address = Option.getOrElse(request.remoteAddress, () => "unknown")
    const wait = yield* state.limiter.retryAfter(address)
    if (wait > 0) {
      return yield* new Refused({
        status: 429,
        type: "rate_limit_error",
        code: "too_many_failed_sign_ins",
        message: `too many failed admin sign-ins from this address; try again in ${wait} s`,
        retryAfter: wait
      })
    }
    if (token === null || !matches(digest(token), state.adminDigest)) {
      yield* state.limiter.recordFailure(address)
      yield* Effect.logWarning(`failed admin sign-in from ${address}`)
      return yield* unauthorizedAdmin("the admin token is not valid")
    }
  })

const isRead = (method: string) => ["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase())

/** Admin routes: the admin token or a session cookie, with the Origin and CSRF rules. */
export const authorizeAdmin = (
  state: AdminAuthState,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<AdminAccess, Refused> =>
  Effect.gen(function* () {
    const origin = request.headers.origin
    // A page of another origin has no business here, reading or writing.
    if (
      (origin !== undefined && !state.addresses.allowedOrigins.has(origin)) ||
      request.headers["sec-fetch-site"] === "cross-site"
    ) {
      return yield* new Refused({
        status: 403,
        type: "permission_error",
        code: "cross_origin",
        message: `cross-origin request refused: the admin API answers only pages of ${state.addresses.origin} (set "server.publicUrl" when the gateway is reached at another address)`
      })
    }
    const token = bearerToken(request)
    if (token !== undefined) {
      // An explicit credential decides alone: a wrong token never falls back to the cookie.
      yield* checkToken(state, request, token)
      return { via: "bearer" } satisfies AdminAccess
    }
    const session = request.cookies[sessionCookie]
    if (session !== undefined && session !== "") {
      if (!(yield* state.sessions.isValid(session))) {
        return yield* unauthorizedAdmin(
          "the admin session has expired or was closed; sign in again with the admin token"
        )
      }
      if (!isRead(request.method) && origin === undefined && request.headers[csrfHeader] !== "1") {
        return yield* new Refused({
          status: 403,
          type: "permission_error",
          code: "csrf_check_failed",
          message: `a write authenticated by the session cookie needs the "X-Mcpgate-Csrf: 1" header or a same-origin Origin`
        })
      }
      return { via: "cookie" } satisfies AdminAccess
    }
    return yield* unauthorizedAdmin(
      'this route needs the admin token: send "Authorization: Bearer <token>" (set with server.adminToken or MCPGATE_ADMIN_TOKEN, or the one printed on the first start and kept in the state directory as admin-token)'
    )
  })
