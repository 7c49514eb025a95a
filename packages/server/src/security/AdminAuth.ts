/**
 * Who may use the admin API (docs/gateway.md#admin-token, #admin-sessions,
 * #security-rules, docs/teams.md#sign-in): the admin token as a bearer token,
 * the session cookie the web UI got for it, or the session cookie of a user
 * signed in through `server.auth` who is an admin. An API key never opens it.
 * A present `Origin` must be the gateway's own; a cookie-authenticated write
 * also needs `X-Mcpgate-Csrf: 1` or a same-origin `Origin` (defense in depth
 * next to SameSite). Wrong tokens are rate limited per client address.
 */
import { Effect, Option } from "effect"
import type { HttpServerRequest } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import type { Addresses } from "./Addresses.ts"
import type { SignInLimiter } from "./SignInLimiter.ts"
import { bearerToken, type Digest, digest, matches } from "./Tokens.ts"
import type { Holder, SessionsUnavailable, WebSessions } from "./WebSessions.ts"

/** The admin session cookie of the web UI (HttpOnly, SameSite=Strict, Path=/admin). */
export const sessionCookie = "mcpgate_admin"

/**
 * The session cookie of a user signed in through `server.auth` (HttpOnly,
 * SameSite=Lax so the provider's redirect back keeps it, Path=/).
 */
export const userSessionCookie = "mcpgate_session"

/** The header that marks a cookie-authenticated write as coming from the UI's own script. */
export const csrfHeader = "x-mcpgate-csrf"

export interface AdminAccess {
  readonly via: "bearer" | "cookie"
  /** The signed-in admin user, when a user session opened it (else the admin token's holder). */
  readonly user?: string | undefined
}

export interface AdminAuthState {
  readonly adminDigest: Digest
  readonly addresses: Addresses
  readonly sessions: WebSessions
  readonly limiter: SignInLimiter
}

export const sessionsUnavailable = (error: SessionsUnavailable) =>
  new Refused({ status: 503, type: "server_error", code: "sessions_unavailable", message: error.message })

/** Whom the session cookie `name` of the request stands for; none without one or for a closed one. */
export const sessionHolder = (
  sessions: WebSessions,
  request: HttpServerRequest.HttpServerRequest,
  name: string
): Effect.Effect<Option.Option<Holder> | undefined, Refused> => {
  const id = request.cookies[name]
  if (id === undefined || id === "") return Effect.succeed(undefined)
  return sessions.get(id).pipe(Effect.mapError(sessionsUnavailable))
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

/** A page of another origin has no business with a cookie-authenticated route, reading or writing. */
export const checkSameOrigin = (
  addresses: Addresses,
  request: HttpServerRequest.HttpServerRequest,
  what: string
): Effect.Effect<void, Refused> => {
  const origin = request.headers.origin
  if (
    (origin !== undefined && !addresses.allowedOrigins.has(origin)) ||
    request.headers["sec-fetch-site"] === "cross-site"
  ) {
    return Effect.fail(
      new Refused({
        status: 403,
        type: "permission_error",
        code: "cross_origin",
        message: `cross-origin request refused: ${what} answers only pages of ${addresses.origin} (set "server.publicUrl" when the gateway is reached at another address)`
      })
    )
  }
  return Effect.void
}

/** A write authenticated by a cookie comes from the UI's own script: the CSRF header or a same-origin `Origin`. */
export const checkCookieWrite = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<void, Refused> =>
  !isRead(request.method) && request.headers.origin === undefined && request.headers[csrfHeader] !== "1"
    ? Effect.fail(
        new Refused({
          status: 403,
          type: "permission_error",
          code: "csrf_check_failed",
          message: `a write authenticated by the session cookie needs the "X-Mcpgate-Csrf: 1" header or a same-origin Origin`
        })
      )
    : Effect.void

/** A signed-in user who is no admin, at an admin route. */
export const notAnAdmin = (user: string) =>
  new Refused({
    status: 403,
    type: "permission_error",
    code: "not_an_admin",
    message: `${user} is signed in but is no admin of this gateway (server.users.<name>.admin or server.auth.adminClaim); /chat and /connections are open to every user`
  })

/** Admin routes: the admin token or a session cookie, with the Origin and CSRF rules. */
export const authorizeAdmin = (
  state: AdminAuthState,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<AdminAccess, Refused> =>
  Effect.gen(function* () {
    yield* checkSameOrigin(state.addresses, request, "the admin API")
    const token = bearerToken(request)
    if (token !== undefined) {
      // An explicit credential decides alone: a wrong token never falls back to the cookie.
      yield* checkToken(state, request, token)
      return { via: "bearer" } satisfies AdminAccess
    }
    const admin = yield* sessionHolder(state.sessions, request, sessionCookie)
    if (admin !== undefined && Option.isSome(admin)) {
      yield* checkCookieWrite(request)
      return { via: "cookie" } satisfies AdminAccess
    }
    // A stale admin-token cookie does not hide a live sign-in through server.auth.
    const user = yield* sessionHolder(state.sessions, request, userSessionCookie)
    if (user !== undefined && Option.isSome(user) && user.value._tag === "User") {
      if (!user.value.admin) return yield* notAnAdmin(user.value.id)
      yield* checkCookieWrite(request)
      return { via: "cookie", user: user.value.id } satisfies AdminAccess
    }
    if (admin !== undefined) {
      return yield* unauthorizedAdmin(
        "the admin session has expired or was closed; sign in again with the admin token"
      )
    }
    return yield* unauthorizedAdmin(
      'this route needs the admin token: send "Authorization: Bearer <token>" (set with server.adminToken or MCPGATE_ADMIN_TOKEN, or the one printed on the first start and kept in the state directory as admin-token)'
    )
  })
