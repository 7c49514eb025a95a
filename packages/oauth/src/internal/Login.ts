/**
 * The manager's logins: discover → register → authorize (PKCE through the
 * loopback callback, device, client credentials, or a JWT bearer assertion) →
 * store. Also what the web login shares with it: the scope choice, the stored
 * registration, and storing a login's outcome.
 */
import type { OAuthFlow, ServerConfig } from "@mcpgate/core/Config"
import { type ClientRegistration, Credential } from "@mcpgate/core/Credential"
import * as Metrics from "@mcpgate/core/Metrics"
import { Clock, Effect, Redacted } from "effect"
import type * as oauth from "oauth4webapi"
import type { Interaction } from "../AuthorizationFlow.ts"
import { authOf, type Discovered, offersOfflineAccess } from "../Discovery.ts"
import type { LoginOptions, LoginResult } from "../OAuthManager.ts"
import { grantTypes, type ResolveOptions } from "../Registration.ts"
import { splitScopes } from "../WwwAuthenticate.ts"
import { stableCallbackPort } from "./CallbackServer.ts"
import * as Dpop from "./Dpop.ts"
import * as DpopState from "./DpopState.ts"
import {
  deleteEntry,
  grantContext,
  keyString,
  load,
  locked,
  type ManagerContext,
  sameIssuer,
  save,
  withFields
} from "./ManagerContext.ts"
import { toTokenSet } from "./TokenRequest.ts"

/**
 * MCP "Scope Selection Strategy": the caller's scopes, else the challenge's,
 * else the configured ones, else the resource's `scopes_supported`, else none;
 * plus `offline_access` for user logins when the authorization server offers
 * it (SEP-2207), so a refresh token comes with the grant.
 */
export const chooseScopes = (input: {
  readonly requested?: ReadonlyArray<string> | undefined
  /** The challenge's `scope` (space-separated). */
  readonly challenge?: string | undefined
  readonly configured?: ReadonlyArray<string> | undefined
  readonly resourceSupported?: ReadonlyArray<string> | undefined
  readonly authorizationServer: oauth.AuthorizationServer
  readonly withUser: boolean
}): ReadonlyArray<string> => {
  const base =
    input.requested !== undefined && input.requested.length > 0
      ? input.requested
      : input.challenge !== undefined && splitScopes(input.challenge).length > 0
        ? splitScopes(input.challenge)
        : input.configured !== undefined && input.configured.length > 0
          ? input.configured
          : (input.resourceSupported ?? [])
  const scopes = [...new Set(base)]
  if (
    input.withUser &&
    offersOfflineAccess(input.authorizationServer) &&
    !scopes.includes("offline_access")
  ) {
    scopes.push("offline_access")
  }
  return scopes
}

/** `chooseScopes` for a server and what discovery found. */
export const scopesFor = (
  server: ServerConfig,
  discovered: Discovered,
  requested: ReadonlyArray<string> | undefined,
  withUser: boolean
): ReadonlyArray<string> => {
  const auth = authOf(server)
  return chooseScopes({
    requested,
    challenge: discovered.challenge?.scope,
    configured: auth.scopes,
    resourceSupported: discovered.protectedResource?.metadata.scopes_supported,
    authorizationServer: discovered.authorizationServer.metadata,
    withUser
  })
}

/**
 * The CLI's loopback redirect URI (RFC 8252 §7.3, docs/oauth.md#cli-redirect):
 * `auth.redirectUri`, else `http://127.0.0.1:<port>/callback` on the given,
 * configured or stable port.
 */
export const redirectUriFor = (server: ServerConfig, callbackPort: number | undefined): string => {
  const auth = authOf(server)
  if (auth.redirectUri !== undefined && callbackPort === undefined) return auth.redirectUri
  const port = callbackPort ?? auth.callbackPort ?? stableCallbackPort(server.name, server.url ?? "")
  return `http://127.0.0.1:${port}/callback`
}

/** The `grant_types` a registration for `flow` needs (RFC 7591 §2). */
export const grantsFor = (flow: OAuthFlow | "jwt-bearer"): ReadonlyArray<string> =>
  flow === "pkce"
    ? [grantTypes.authorizationCode]
    : flow === "device"
      ? [grantTypes.deviceCode]
      : flow === "client_credentials"
        ? [grantTypes.clientCredentials]
        : [grantTypes.jwtBearer]

/** The login's own interaction settings, each falling back to the manager's. */
const interactionFor = (defaults: Interaction | undefined, options: Interaction): Interaction => ({
  noBrowser: options.noBrowser ?? defaults?.noBrowser,
  onAuthorizationUrl: options.onAuthorizationUrl ?? defaults?.onAuthorizationUrl,
  readRedirectUrl: options.readRedirectUrl ?? defaults?.readRedirectUrl,
  timeout: options.timeout ?? defaults?.timeout
})

/** DPoP when the resource asks for it and the authorization server can issue it. */
const wantsDpop = (discovered: Discovered) =>
  discovered.dpop &&
  (discovered.authorizationServer.metadata.dpop_signing_alg_values_supported?.length ?? 0) > 0

/** What a login reports about the credential it stored. */
export const toResult = (server: ServerConfig, credential: Credential): LoginResult => {
  const registration = credential.registration
  const tokens = credential.tokens
  return {
    server: server.name,
    issuer: credential.issuer ?? "",
    registrationMethod: registration?.method ?? "dcr",
    clientId: registration?.clientId ?? "",
    scopes: splitScopes(tokens?.scope),
    tokenType: tokens?.tokenType ?? "Bearer",
    expiresAt: tokens?.expiresAt,
    refreshable: tokens?.refreshToken !== undefined || authOf(server).flow === "client_credentials"
  }
}

/** Stores the outcome of a login (replacing whatever was there). */
export const storeLogin = (
  ctx: ManagerContext,
  server: ServerConfig,
  discovered: Discovered,
  registration: ClientRegistration,
  response: oauth.TokenEndpointResponse,
  dpop: Dpop.DpopKey | undefined,
  requestedScopes: ReadonlyArray<string>
) =>
  locked(
    ctx,
    server,
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // OAuth 2.1 §3.2.3: no `scope` in the response means the requested scope was granted.
      const tokens = DpopState.bound(
        toTokenSet(
          response,
          now,
          requestedScopes.length === 0 ? undefined : { scope: requestedScopes.join(" ") }
        ),
        dpop
      )
      const credential = new Credential({
        server: server.name,
        url: server.url ?? "",
        issuer: discovered.authorizationServer.issuer,
        ...(discovered.resource === undefined ? {} : { resource: discovered.resource }),
        registration,
        tokens,
        updatedAt: now
      })
      yield* save(ctx, server, credential)
      yield* deleteEntry(ctx.state.neededScopes, keyString(server))
      return credential
    })
  )

/**
 * Stores a new dynamic registration before the login that uses it, so a
 * failed login does not register yet another client next time; but never at
 * the cost of tokens that work for this issuer (they stay, with their client,
 * until the new login succeeds). Decided on the credential as it is under the
 * lock: another process may have logged in since `existing` was read.
 */
export const keepRegistration = (
  ctx: ManagerContext,
  server: ServerConfig,
  existing: Credential | undefined,
  issuer: string,
  registration: ClientRegistration
) => {
  const keepsTokens = (credential: Credential | undefined) =>
    credential?.tokens !== undefined && sameIssuer(credential.issuer, issuer)
  return registration.method !== "dcr" || keepsTokens(existing)
    ? Effect.void
    : locked(
        ctx,
        server,
        Effect.gen(function* () {
          const current = yield* load(ctx, server)
          if (keepsTokens(current)) return
          const now = yield* Clock.currentTimeMillis
          const base =
            current ?? new Credential({ server: server.name, url: server.url ?? "", updatedAt: now })
          yield* save(ctx, server, withFields(base, { issuer, registration, tokens: undefined }, now))
        })
      )
}

/**
 * The registration for a login (see `Registration.resolve`): the stored one
 * when it belongs to this authorization server (SEP-2352), unless the code
 * flow would send the browser there with a client the server has forgotten
 * (`Registration.stillKnown`, skipped with `checkStoredClient: false` when the
 * server has just accepted a token of that client); then a new one. A new
 * dynamic registration is stored before the login.
 */
export const registrationFor = (
  ctx: ManagerContext,
  existing: Credential | undefined,
  options: ResolveOptions,
  checkStoredClient = true
) =>
  Effect.gen(function* () {
    const { server, authorizationServer, redirectUri } = options
    const reusable =
      existing?.registration !== undefined && sameIssuer(existing.issuer, authorizationServer.issuer)
        ? existing.registration
        : undefined
    let registration = yield* ctx.registrations.resolve({ ...options, existing: reusable })
    if (
      checkStoredClient &&
      registration === reusable &&
      registration.method === "dcr" &&
      redirectUri !== undefined &&
      options.grantTypes.includes(grantTypes.authorizationCode) &&
      !(yield* ctx.registrations.stillKnown(server, authorizationServer, registration))
    ) {
      registration = yield* ctx.registrations.register(options)
    }
    if (registration !== reusable)
      yield* keepRegistration(ctx, server, existing, authorizationServer.issuer, registration)
    return registration
  })

/**
 * Counts a login's outcome under its server (docs/observability.md#metrics)
 * and records it in the audit log (the outcome's kind, never its message).
 */
export const counted =
  (ctx: ManagerContext, server: string) =>
  <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onExit(self, (exit) => {
      const outcome = Metrics.outcomeOf(exit, (error) => error._tag)
      return Effect.andThen(
        Metrics.increment(Metrics.oauthLogins, { server, outcome }),
        ctx.audit({ kind: "login", server, outcome })
      )
    })

/**
 * A whole login; `tokens` for the callers (refresh, step-up) that need the new
 * token at once. `checkStoredClient` as in `registrationFor`.
 */
export const login = (
  ctx: ManagerContext,
  server: ServerConfig,
  options: LoginOptions,
  checkStoredClient = true
) =>
  Effect.gen(function* () {
    const name = server.name
    const auth = authOf(server)
    const flow: OAuthFlow | "jwt-bearer" =
      options.assertion !== undefined ? "jwt-bearer" : (options.flow ?? auth.flow)
    const discovered = yield* ctx.discovery.discover(server, { wwwAuthenticate: options.wwwAuthenticate })
    const authorizationServer = discovered.authorizationServer
    const existing = yield* load(ctx, server)
    const withUser = flow === "pkce" || flow === "device"
    const scopes = scopesFor(server, discovered, options.scopes, withUser)
    const redirectUri = flow === "pkce" ? redirectUriFor(server, options.callbackPort) : undefined
    const resolveOptions = { server, authorizationServer, redirectUri, grantTypes: grantsFor(flow) }
    let registration = yield* registrationFor(ctx, existing, resolveOptions, checkStoredClient)
    const dpop = wantsDpop(discovered)
      ? yield* Dpop.generate(authorizationServer.metadata.dpop_signing_alg_values_supported)
      : undefined
    const run = (current: ClientRegistration) =>
      Effect.gen(function* () {
        const context = yield* grantContext(ctx, server, authorizationServer, current, {
          resource: discovered.resource,
          scope: scopes.join(" "),
          dpop
        })
        yield* Effect.logInfo(
          `${name}: logging in (${flow}) at ${authorizationServer.issuer}${scopes.length === 0 ? "" : ` for ${scopes.join(" ")}`}`
        )
        switch (flow) {
          case "pkce":
            return yield* ctx.flows.authorizationCode(
              context,
              redirectUri ?? "",
              interactionFor(ctx.settings.interaction, options)
            )
          case "device":
            return yield* ctx.flows.device(
              context,
              options.onDeviceCode ??
                ((info) =>
                  Effect.logInfo(
                    `${name}: open ${info.verificationUriComplete ?? info.verificationUri} and enter the code ${info.userCode}`
                  ))
            )
          case "client_credentials":
            return yield* ctx.flows.clientCredentials(context)
          case "jwt-bearer":
            return yield* ctx.flows.jwtBearer(context, options.assertion ?? Redacted.make(""))
        }
      })
    const response = yield* run(registration).pipe(
      Effect.catchIf(
        (error) => registration.method === "dcr" && flow !== "pkce" && error.oauthError === "invalid_client",
        () =>
          Effect.gen(function* () {
            // The server forgot the client: register once more and try again.
            yield* Effect.logWarning(
              `${name}: the authorization server no longer knows the client; registering again`
            )
            registration = yield* ctx.registrations.register(resolveOptions)
            return yield* run(registration)
          })
      )
    )
    const credential = yield* storeLogin(ctx, server, discovered, registration, response, dpop, scopes)
    yield* Effect.logInfo(`${name}: logged in at ${authorizationServer.issuer}`)
    return { result: toResult(server, credential), tokens: credential.tokens ?? toTokenSet(response, 0) }
  })
