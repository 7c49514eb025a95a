/**
 * Who may use `/v1/*` and `/mcp` (docs/gateway.md#api-keys, docs/teams.md):
 * with `server.apiKeys` or `server.users`, a request needs one of their keys
 * as a bearer token; with `server.auth`, an access token of its provider does
 * too, and a 401 points at the resource metadata (RFC 9728 §5.1). Without
 * any of them the API is open, which the bind check allows only on loopback,
 * and there a foreign `Host` (DNS rebinding) or `Origin` (a web page driving
 * the local gateway) is refused. With `server.auth`, the web UI's session
 * cookie of a signed-in user opens it as that user, under the admin API's
 * Origin and CSRF rules (docs/teams.md#sign-in).
 */
import { isLoopbackHost } from "@mcpgate/core/Address"
import type { GatewayAuthConfig, McpgateConfig } from "@mcpgate/core/Config"
import * as Principal from "@mcpgate/core/Principal"
import type { ResourceServerShape, TokenRejected } from "@mcpgate/oauth/ResourceServer"
import { Effect, Option, Ref } from "effect"
import type { HttpServerRequest } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import { type Addresses, hostnameOf } from "./Addresses.ts"
import { checkCookieWrite, checkSameOrigin, sessionHolder, userSessionCookie } from "./AdminAuth.ts"
import { isEmpty, type KeyTable, principalOfKey, userOfClaims } from "./Principals.ts"
import * as ProtectedResource from "./ProtectedResource.ts"
import { bearerToken, digest } from "./Tokens.ts"
import type { WebSessions } from "./WebSessions.ts"

/** Access tokens of `server.auth`'s provider (fixed at start). */
export interface TokenAuth {
  readonly auth: GatewayAuthConfig
  readonly resourceServer: ResourceServerShape
  /** The gateway's base URL, for the resource metadata URL of a challenge. */
  readonly base: string
}

export interface ApiKeysState {
  /** The keys in force; a reload replaces them. */
  readonly keys: Ref.Ref<KeyTable>
  /** The config in force (`admin: true` of users signed in by token). */
  readonly config: Ref.Ref<McpgateConfig>
  readonly addresses: Addresses
  readonly tokens: TokenAuth | undefined
  /** The web UI's sessions (a signed-in user's cookie). */
  readonly sessions: WebSessions
}

/** Who may use the API, and which `/mcp` sessions are theirs. */
export interface ApiAccess {
  readonly principal: Principal.Principal
  /**
   * What ties an `/mcp` session to its opener: `key:` and the hex SHA-256 of
   * the key (never the key), `user:<id>` for a signed-in user, `undefined`
   * while the API is open.
   */
  readonly caller: string | undefined
}

/** Without keys: only requests a page of another site could not have sent. */
const checkOpenRequest = (addresses: Addresses, request: HttpServerRequest.HttpServerRequest) => {
  const hostHeader = request.headers.host
  if (
    hostHeader !== undefined &&
    !addresses.allowedHostnames.has(hostnameOf(hostHeader)) &&
    !isLoopbackHost(hostnameOf(hostHeader))
  ) {
    return Effect.fail(
      new Refused({
        status: 403,
        type: "permission_error",
        code: "forbidden_host",
        message: `the Host "${hostnameOf(hostHeader)}" is not this gateway's (a DNS-rebinding guard); without "server.apiKeys" the API answers only on loopback names or server.publicUrl`
      })
    )
  }
  const origin = request.headers.origin
  if (origin !== undefined && !addresses.allowedOrigins.has(origin)) {
    return Effect.fail(
      new Refused({
        status: 403,
        type: "permission_error",
        code: "forbidden_origin",
        message:
          'cross-origin requests are refused while the API has no keys; set "server.apiKeys" to let other web pages use it'
      })
    )
  }
  return Effect.succeed(undefined)
}

const pathOf = (request: HttpServerRequest.HttpServerRequest): string =>
  new URL(request.url, "http://gateway").pathname

const unauthorized = (message: string, challenge: string, code = "invalid_api_key") =>
  new Refused({ status: 401, type: "authentication_error", code, message, challenge })

/** A refused access token as RFC 6750 §3.1 answers it: 401 `invalid_token`, 403 `insufficient_scope`, 503. */
const tokenRefusal = (tokens: TokenAuth, pathname: string, rejected: TokenRejected): Refused => {
  switch (rejected.reason) {
    case "invalid_token":
      return unauthorized(
        rejected.message,
        ProtectedResource.challenge(tokens.base, pathname, {
          code: "invalid_token",
          description: rejected.message
        }),
        "invalid_token"
      )
    case "insufficient_scope":
      return new Refused({
        status: 403,
        type: "permission_error",
        code: "insufficient_scope",
        message: rejected.message,
        challenge: ProtectedResource.challenge(tokens.base, pathname, {
          code: "insufficient_scope",
          description: rejected.message,
          scope: tokens.auth.scopes
        })
      })
    case "unavailable":
      return new Refused({
        status: 503,
        type: "server_error",
        code: "identity_provider_unavailable",
        message: rejected.message
      })
  }
}

/** An access token of `server.auth`'s provider, as the user it names. */
const principalOfToken = (
  state: ApiKeysState,
  tokens: TokenAuth,
  pathname: string,
  token: string
): Effect.Effect<ApiAccess, Refused> =>
  Effect.gen(function* () {
    const verified = yield* tokens.resourceServer
      .verify(token)
      .pipe(Effect.mapError((rejected) => tokenRefusal(tokens, pathname, rejected)))
    const config = yield* Ref.get(state.config)
    const user = userOfClaims(config, tokens.auth, verified.claims, verified.scopes, "access-token")
    if (user === undefined) {
      const message = `the access token has no "${tokens.auth.userClaim}" claim (server.auth.userClaim) to name its user`
      return yield* unauthorized(
        message,
        ProtectedResource.challenge(tokens.base, pathname, { code: "invalid_token", description: message }),
        "invalid_token"
      )
    }
    return { principal: user, caller: Principal.label(user) }
  })

/**
 * The user a session cookie stands for; `undefined` without the cookie. A
 * closed or expired session is refused rather than passed over.
 */
const principalOfSession = (
  state: ApiKeysState,
  tokens: TokenAuth,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<ApiAccess, Refused> | undefined => {
  const id = request.cookies[userSessionCookie]
  if (id === undefined || id === "") return undefined
  return Effect.gen(function* () {
    yield* checkSameOrigin(state.addresses, request, "the API with a session cookie")
    const holder = yield* sessionHolder(state.sessions, request, userSessionCookie)
    if (holder === undefined || Option.isNone(holder) || holder.value._tag !== "User") {
      return yield* unauthorized(
        "the web session has expired or was closed; sign in again at /signin",
        ProtectedResource.challenge(tokens.base, pathOf(request)),
        "session_expired"
      )
    }
    yield* checkCookieWrite(request)
    return { principal: holder.value, caller: Principal.label(holder.value) }
  })
}

/**
 * Fails with 401/403 when the request may not use the API; else who is
 * calling (`ApiAccess`).
 */
export const authorizeApi = (
  state: ApiKeysState,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<ApiAccess, Refused> =>
  Effect.flatMap(Ref.get(state.keys), (keys) => {
    const tokens = state.tokens
    if (isEmpty(keys) && tokens === undefined) {
      return Effect.as(checkOpenRequest(state.addresses, request), {
        principal: Principal.local,
        caller: undefined
      })
    }
    const token = bearerToken(request)
    const pathname = pathOf(request)
    if (typeof token === "string") {
      const candidate = digest(token)
      const principal = principalOfKey(keys, candidate)
      if (principal !== undefined) {
        return Effect.succeed({ principal, caller: `key:${candidate.toString("hex")}` })
      }
      if (tokens !== undefined) return principalOfToken(state, tokens, pathname, token)
    }
    const session =
      token === undefined && tokens !== undefined ? principalOfSession(state, tokens, request) : undefined
    if (session !== undefined) return session
    if (tokens !== undefined) {
      return Effect.fail(
        unauthorized(
          token === undefined
            ? 'this route needs "Authorization: Bearer <token>": an access token of the identity provider (its metadata is at the resource_metadata URL of WWW-Authenticate) or an API key'
            : "the credential is neither an API key nor a bearer access token",
          token === undefined
            ? ProtectedResource.challenge(tokens.base, pathname)
            : ProtectedResource.challenge(tokens.base, pathname, {
                code: "invalid_token",
                description: "not a bearer token"
              }),
          token === undefined ? "missing_credentials" : "invalid_token"
        )
      )
    }
    return Effect.fail(
      unauthorized(
        token === undefined
          ? 'an API key is required: send "Authorization: Bearer <key>" with one of server.apiKeys'
          : "the API key is not valid",
        token === undefined ? 'Bearer realm="mcpgate"' : 'Bearer realm="mcpgate", error="invalid_token"'
      )
    )
  })
