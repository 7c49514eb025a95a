/**
 * The gateway's security layer (docs/gateway.md#security-rules) as one service:
 * the admin token, the addresses the gateway is reached at, who may use the API
 * (`authorizeApi`, wrapped around `/v1/*` and `/mcp` by `apiKeyMiddleware`) and
 * the admin API (`authorizeAdmin`, UI sessions), and the rules a reloaded config
 * must keep. The rules themselves live beside it: ./ApiKeys.ts, ./AdminAuth.ts,
 * ./WebSessions.ts, ./ConfigChecks.ts, ./Addresses.ts; body limits in
 * ./BodyLimits.ts.
 */

import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { isLoopbackHost } from "@mcpgate/core/Address"
import type {
  ConfigEditor as ConfigEditorSetting,
  GatewayAuthConfig,
  McpgateConfig
} from "@mcpgate/core/Config"
import type { Env } from "@mcpgate/core/ConfigFile"
import * as Principal from "@mcpgate/core/Principal"
import * as ResourceServer from "@mcpgate/oauth/ResourceServer"
import { Context, Effect, Layer, Option, Redacted, Ref, Stream } from "effect"
import { HttpBody, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { type Refused, toResponse } from "../http/ErrorBody.ts"
import * as RequestLog from "../http/RequestLog.ts"
import { type Addresses, addresses, exposedPublicHost } from "./Addresses.ts"
import {
  type AdminAccess,
  authorizeAdmin,
  checkToken,
  sessionCookie,
  sessionsUnavailable,
  userSessionCookie
} from "./AdminAuth.ts"
import * as AdminToken from "./AdminToken.ts"
import { type ApiAccess, authorizeApi, type TokenAuth } from "./ApiKeys.ts"
import {
  checkBind,
  checkReload,
  duplicateKey,
  type InsecureBind,
  type SecurityConfigError,
  tokenClash
} from "./ConfigChecks.ts"
import * as ConfigEditorMode from "./ConfigEditorMode.ts"
import { keyTable, userOfClaims } from "./Principals.ts"
import * as ProtectedResource from "./ProtectedResource.ts"
import * as SignInLimiter from "./SignInLimiter.ts"
import { bearerToken, type Digest, digest, matches } from "./Tokens.ts"
import { memoryStorage, UiRecords } from "./UiRecords.ts"
import * as WebSessions from "./WebSessions.ts"

export type { ApiAccess } from "./ApiKeys.ts"

export interface SecurityOptions {
  readonly config: McpgateConfig
  /** The address actually bound (the `--host` flag wins over the config). */
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** Defaults to `process.env`. */
  readonly env?: Env | undefined
  /** Where a generated admin token is kept; defaults to the state directory of `env`. */
  readonly stateDirectory?: string | undefined
  /** How long a UI session lasts (default 12 hours). */
  readonly sessionTtlMs?: number | undefined
  /** Failed admin sign-ins allowed per client address (default 10 a minute). */
  readonly signInLimit?: SignInLimiter.SignInLimitOptions | undefined
}

export interface SecurityShape {
  /** The admin token of this process; `generated` says whether `serve` must print it (once). */
  readonly adminToken: AdminToken.AdminToken
  readonly addresses: Addresses
  /** The gateway's base URL: `server.publicUrl`, else the bound origin (no trailing slash). */
  readonly baseUrl: string
  /** `server.auth` as it was at start (a change needs a restart). */
  readonly gatewayAuth: GatewayAuthConfig | undefined
  /** The checker of `server.auth`'s tokens (access tokens and the web sign-in's ID tokens). */
  readonly resourceServer: ResourceServer.ResourceServerShape | undefined
  /** The user signed-in claims name, by the same rules as access tokens (`userClaim`, `adminClaim`, `admin: true`). */
  readonly userOfClaims: (
    claims: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Principal.User | undefined>
  /**
   * What the admin config editor may change (`server.configEditor` as it was at
   * start; a change needs a restart): "full" by default while the gateway is
   * reachable from this machine only, else "no-commands".
   */
  readonly configEditor: ConfigEditorSetting
  /**
   * `/v1/*` and `/mcp`: fails with 401/403 (503 when the identity provider
   * cannot be asked) when the request may not use the API; else who is calling.
   */
  readonly authorizeApi: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<ApiAccess, Refused>
  /** Admin routes: the admin token or a session cookie, with the Origin and CSRF rules. */
  readonly authorizeAdmin: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<AdminAccess, Refused>
  /** `GET /metrics`: `server.metricsToken` or the admin token, as a bearer token. */
  readonly authorizeMetrics: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<void, Refused>
  /** What `apply` would refuse, without applying it (the config editor validates with it). */
  readonly check: (config: McpgateConfig) => Effect.Effect<void, SecurityConfigError>
  /**
   * Applies a reloaded config: API keys change at once (a leaked key is revoked
   * without a restart). The admin token and the addresses need a restart.
   */
  readonly apply: (config: McpgateConfig) => Effect.Effect<void, SecurityConfigError>
  /**
   * Checks a candidate admin token and opens a UI session; the id goes into the
   * cookie. A wrong token counts against the request's address like on admin routes.
   */
  readonly openSession: (
    request: HttpServerRequest.HttpServerRequest,
    token: string
  ) => Effect.Effect<Redacted.Redacted<string>, Refused>
  /** Opens a web session for a user signed in through `server.auth` (docs/teams.md#sign-in). */
  readonly openUserSession: (user: Principal.User) => Effect.Effect<Redacted.Redacted<string>, Refused>
  /** The signed-in user of the request's session cookie; none without a live session. */
  readonly userOf: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Option.Option<Principal.User>>
  /** Ends the sessions named by the request's cookies, if any. */
  readonly closeSession: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<void>
  /** Sets a user's session cookie on a response (Path=/, SameSite=Lax). */
  readonly setUserSessionCookie: (
    response: HttpServerResponse.HttpServerResponse,
    session: Redacted.Redacted<string>
  ) => HttpServerResponse.HttpServerResponse
  /** Expires the user's session cookie on a response. */
  readonly clearUserSessionCookie: (
    response: HttpServerResponse.HttpServerResponse
  ) => HttpServerResponse.HttpServerResponse
  /** Sets the session cookie on a response. */
  readonly setSessionCookie: (
    response: HttpServerResponse.HttpServerResponse,
    session: Redacted.Redacted<string>
  ) => HttpServerResponse.HttpServerResponse
  /** Expires the session cookie on a response. */
  readonly clearSessionCookie: (
    response: HttpServerResponse.HttpServerResponse
  ) => HttpServerResponse.HttpServerResponse
}

const defaultSessionTtlMs = 12 * 60 * 60 * 1000

/** The checker of `server.auth`'s access tokens (docs/teams.md#access-tokens). */
const tokenAuth = (auth: GatewayAuthConfig, base: string): Effect.Effect<TokenAuth> =>
  Effect.map(
    ResourceServer.make({
      issuer: auth.issuer,
      clientId: auth.clientId,
      clientSecret: auth.clientSecret,
      acceptsAudience: ProtectedResource.acceptsAudience(auth, base),
      audienceDescription: auth.audience === undefined ? `this gateway (${base})` : `"${auth.audience}"`,
      requiredScopes: auth.scopes ?? []
    }),
    (resourceServer) => ({ auth, resourceServer, base })
  )

const metricsDigest = (config: McpgateConfig): Digest | undefined =>
  config.server.metricsToken === undefined ? undefined : digest(Redacted.value(config.server.metricsToken))

const make = Effect.fnUntraced(function* (options: SecurityOptions) {
  const config = options.config
  const host = options.host ?? config.server.host
  const port = options.port ?? config.server.port
  yield* checkBind(config, host)
  const adminToken = yield* AdminToken.resolve({
    config,
    env: options.env,
    stateDirectory: options.stateDirectory
  })
  const clash = tokenClash(config, adminToken.value) ?? duplicateKey(config)
  if (clash !== undefined) return yield* clash
  const sites = addresses(config, host, port)
  const keys = yield* Ref.make(keyTable(config))
  const current = yield* Ref.make(config)
  const metricsKey = yield* Ref.make(metricsDigest(config))
  const baseUrl = sites.publicUrl ?? sites.origin
  const gatewayAuth = config.server.auth
  const tokens = gatewayAuth === undefined ? undefined : yield* tokenAuth(gatewayAuth, baseUrl)
  const sessionTtlMs = options.sessionTtlMs ?? defaultSessionTtlMs
  const records = yield* Effect.serviceOption(UiRecords)
  const storage = yield* Option.match(records, {
    onNone: () => memoryStorage,
    onSome: (shared) => shared.forKind("ui-session")
  })
  const sessions = WebSessions.make(storage, sessionTtlMs)
  const admin = {
    adminDigest: digest(Redacted.value(adminToken.value)),
    addresses: sites,
    sessions,
    limiter: yield* SignInLimiter.make(options.signInLimit)
  }
  const check = (next: McpgateConfig) => checkReload(next, host, adminToken.value)
  const cookieOptions = {
    httpOnly: true,
    sameSite: "strict",
    path: "/admin",
    ...(sites.secure ? { secure: true } : {})
  } as const
  const userCookieOptions = { ...cookieOptions, sameSite: "lax", path: "/" } as const
  const closeCookie = (request: HttpServerRequest.HttpServerRequest, name: string) => {
    const id = request.cookies[name]
    return id === undefined ? Effect.void : Effect.ignore(sessions.close(id))
  }

  return Security.of({
    adminToken,
    addresses: sites,
    baseUrl,
    gatewayAuth,
    resourceServer: tokens?.resourceServer,
    userOfClaims: (claims) =>
      Effect.map(Ref.get(current), (config) =>
        gatewayAuth === undefined ? undefined : userOfClaims(config, gatewayAuth, claims, [], "session")
      ),
    configEditor: ConfigEditorMode.modeOf(
      config,
      isLoopbackHost(host) && exposedPublicHost(config) === undefined
    ),
    authorizeApi: (request) =>
      authorizeApi({ keys, config: current, addresses: sites, tokens, sessions }, request).pipe(
        Effect.tap((access) => RequestLog.setPrincipal(Principal.label(access.principal)))
      ),
    authorizeAdmin: (request) =>
      authorizeAdmin(admin, request).pipe(
        Effect.tap((access) =>
          RequestLog.setPrincipal(access.user === undefined ? "admin" : `user:${access.user}`)
        )
      ),
    authorizeMetrics: (request) =>
      Effect.flatMap(Ref.get(metricsKey), (scraper) => {
        const token = bearerToken(request)
        if (typeof token === "string" && scraper !== undefined && matches(digest(token), scraper)) {
          return RequestLog.setPrincipal("metrics")
        }
        return Effect.asVoid(
          authorizeAdmin(admin, request).pipe(Effect.tap(RequestLog.setPrincipal("admin")))
        )
      }),
    check,
    apply: (next) =>
      Effect.andThen(
        check(next),
        Effect.andThen(
          Ref.set(keys, keyTable(next)),
          Effect.andThen(Ref.set(current, next), Ref.set(metricsKey, metricsDigest(next)))
        )
      ),
    openSession: (request, token) =>
      Effect.andThen(
        checkToken(admin, request, token),
        sessions.open(WebSessions.adminTokenHolder).pipe(Effect.mapError(sessionsUnavailable))
      ),
    openUserSession: (user) => sessions.open(user).pipe(Effect.mapError(sessionsUnavailable)),
    userOf: (request) => {
      const id = request.cookies[userSessionCookie]
      if (id === undefined || id === "") return Effect.succeedNone
      return sessions.get(id).pipe(
        Effect.map((holder) =>
          Option.filter(holder, (found): found is Principal.User => found._tag === "User")
        ),
        Effect.orElseSucceed(() => Option.none())
      )
    },
    closeSession: (request) =>
      Effect.andThen(closeCookie(request, sessionCookie), closeCookie(request, userSessionCookie)),
    setUserSessionCookie: (response, session) =>
      HttpServerResponse.setCookieUnsafe(response, userSessionCookie, Redacted.value(session), {
        ...userCookieOptions,
        maxAge: `${sessionTtlMs} millis`
      }),
    clearUserSessionCookie: (response) =>
      HttpServerResponse.expireCookieUnsafe(response, userSessionCookie, userCookieOptions),
    setSessionCookie: (response, session) =>
      HttpServerResponse.setCookieUnsafe(response, sessionCookie, Redacted.value(session), {
        ...cookieOptions,
        maxAge: `${sessionTtlMs} millis`
      }),
    clearSessionCookie: (response) =>
      HttpServerResponse.expireCookieUnsafe(response, sessionCookie, cookieOptions)
  })
})

export class Security extends Context.Service<Security, SecurityShape>()("@mcpgate/server/Security") {
  /**
   * Resolves the admin token (generating it on the first start), checks the
   * bind address and the keys. Fails rather than start an insecure gateway.
   */
  static readonly layer = (
    options: SecurityOptions
  ): Layer.Layer<Security, InsecureBind | SecurityConfigError | AdminToken.AdminTokenError> =>
    Layer.effect(Security, make(options)).pipe(Layer.provide(NodeFileSystem.layer))
}

/**
 * Who made an API request, as `apiKeyMiddleware` established it: `key:` and the
 * SHA-256 of the API key (never the key), `user:<id>` for an access token, or
 * `undefined` while the API has no keys. `/mcp` ties each session to it.
 */
export const ApiCaller = Context.Reference<string | undefined>("@mcpgate/server/Security/ApiCaller", {
  defaultValue: () => undefined
})

/**
 * The principal of the request (docs/teams.md#principals), as the security
 * layer established it: handlers, access logs and per-user credentials read
 * it here. Outside an authenticated route it is the local owner.
 */
export const CurrentPrincipal = Context.Reference<Principal.Principal>(
  "@mcpgate/server/Security/CurrentPrincipal",
  { defaultValue: () => Principal.local }
)

/** Runs `effect` as `access` (the principal and the session tie), its logs annotated with the principal. */
export const withAccess = <A, E, R>(effect: Effect.Effect<A, E, R>, access: ApiAccess) =>
  effect.pipe(
    Effect.provideService(ApiCaller, access.caller),
    Effect.provideService(CurrentPrincipal, access.principal),
    Effect.annotateLogs("principal", Principal.label(access.principal))
  )

/**
 * A streamed body is consumed after the handler returned, outside what
 * `withAccess` provided: it gets the same principal, or a streamed chat would
 * run the model's tool calls as nobody (docs/teams.md#per-user-credentials).
 */
const streamWithAccess = (
  response: HttpServerResponse.HttpServerResponse,
  access: ApiAccess
): HttpServerResponse.HttpServerResponse => {
  const body = response.body
  if (body._tag !== "Stream") return response
  const stream = body.stream.pipe(
    Stream.provideService(ApiCaller, access.caller),
    Stream.provideService(CurrentPrincipal, access.principal)
  )
  return HttpServerResponse.setBody(response, HttpBody.stream(stream, body.contentType, body.contentLength))
}

/**
 * Route middleware for `/v1/*` and `/mcp`: provide it to those routes, e.g.
 * `OpenAiApi.routes.pipe(Layer.provide(Security.apiKeyMiddleware.layer))`.
 */
export const apiKeyMiddleware = HttpRouter.middleware(
  Effect.gen(function* () {
    const security = yield* Security
    return (httpEffect) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        return yield* security.authorizeApi(request).pipe(
          Effect.matchEffect({
            onFailure: (refused) => Effect.succeed(toResponse(refused)),
            onSuccess: (access) =>
              Effect.map(withAccess(httpEffect, access), (response) => streamWithAccess(response, access))
          })
        )
      })
  })
)
