/**
 * The one entry point of `@mcpgate/oauth`: valid access tokens for MCP
 * servers, and the logins, step-ups and logouts that produce them.
 *
 * - `accessToken` returns the stored token, refreshed ahead of expiry (less
 *   than a minute left, plus jitter so processes do not all refresh at once).
 * - A refresh runs once per credential at a time: in this process (concurrent
 *   callers share one refresh) and across processes (`CredentialStore.withLock`,
 *   re-reading the credential inside the lock so a token another process just
 *   refreshed is used instead). A rotated refresh token is stored before the
 *   new access token is handed out. `invalid_grant` drops the tokens and keeps
 *   the registration (`NeedsLogin`); transient failures keep everything.
 * - `onUnauthorized` (401) re-checks the protected resource metadata (the
 *   server may have moved to another authorization server, SEP-2352), then
 *   refreshes once; `onInsufficientScope` (403) re-authorizes with the union of
 *   granted and required scopes (RFC 6750 §3.1, MCP "Scope Challenge Handling").
 * - `login` = discover → register → authorize (PKCE, device, client
 *   credentials or a JWT bearer assertion) → store; `beginLogin` /
 *   `completeLogin` split the code flow for the web UI.
 * - `logout` revokes (RFC 7009) when the server can, then deletes the credential.
 */
import type { OAuthFlow, ServerConfig } from "@mcpgate/core/Config"
import {
  type ClientRegistration,
  Credential,
  type CredentialKey,
  keyOf,
  type RegistrationMethod,
  type TokenSet
} from "@mcpgate/core/Credential"
import { CredentialStore, CredentialStoreError } from "@mcpgate/core/CredentialStore"
import { Clock, Context, Deferred, Duration, Effect, FiberSet, Layer, Option, Random, Redacted } from "effect"
import type * as oauth from "oauth4webapi"
import {
  AuthorizationFlow,
  type DeviceCodeInfo,
  type GrantContext,
  type Interaction,
  type PendingAuthorization,
  toTokenSet
} from "./AuthorizationFlow.ts"
import type { Browser } from "./Browser.ts"
import {
  type AuthorizationServerInfo,
  authOf,
  type Discovered,
  Discovery,
  offersOfflineAccess
} from "./Discovery.ts"
import { NeedsLogin, NeedsScope, OAuthError } from "./Errors.ts"
import { stableCallbackPort } from "./internal/CallbackServer.ts"
import * as Dpop from "./internal/Dpop.ts"
import { grantTypes, Registration } from "./Registration.ts"
import { resourceChallenge, splitScopes } from "./WwwAuthenticate.ts"

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

export interface LoginOptions extends Interaction {
  /** Overrides `auth.flow` (`--flow`). */
  readonly flow?: OAuthFlow
  /** Replaces every other scope source (`--scope`). */
  readonly scopes?: ReadonlyArray<string>
  /** Overrides `auth.callbackPort` (`--callback-port`). */
  readonly callbackPort?: number
  /** The `WWW-Authenticate` of the 401/403 that led to this login, if any. */
  readonly wwwAuthenticate?: string | null
  /** Device flow: shows the user code and the verification URI. Default: logged. */
  readonly onDeviceCode?: (info: DeviceCodeInfo) => Effect.Effect<void>
  /**
   * Instead of a user flow, redeem this assertion with the RFC 7523 JWT bearer
   * grant (workload identity, or the ID-JAG of enterprise-managed authorization).
   */
  readonly assertion?: Redacted.Redacted<string>
}

export interface LoginResult {
  readonly server: string
  readonly issuer: string
  readonly registrationMethod: RegistrationMethod
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  readonly tokenType: string
  readonly expiresAt?: number
  readonly refreshable: boolean
}

export interface BeginLoginOptions {
  /** Where the authorization server sends the browser back (the web UI's callback route). */
  readonly redirectUri: string
  readonly scopes?: ReadonlyArray<string>
  readonly wwwAuthenticate?: string | null
}

export type AuthState = "not-required" | "authenticated" | "expired" | "needs-login" | "needs-scope"

/** What `status` shows about a server's authorization; never a secret. */
export interface AuthStatus {
  readonly server: string
  readonly state: AuthState
  /** One line for people, e.g. `authenticated, expires in 52 min`. */
  readonly summary: string
  readonly refreshable: boolean
  readonly expiresAt?: number
  readonly issuer?: string
  readonly registrationMethod?: RegistrationMethod
  readonly clientId?: string
  readonly tokenType?: string
  readonly scopes: ReadonlyArray<string>
  /** With `needs-scope`: the scopes a step-up would ask for. */
  readonly neededScopes?: ReadonlyArray<string>
}

export interface LogoutResult {
  /** A credential was stored and is now deleted. */
  readonly removed: boolean
  /** The authorization server accepted a revocation (RFC 7009). */
  readonly revoked: boolean
}

/** The headers that authorize one request to the MCP server. */
export interface AuthorizationHeaders {
  /** `Bearer <token>` or `DPoP <token>`. */
  readonly authorization: Redacted.Redacted<string>
  /** The DPoP proof (RFC 9449 §4), for DPoP-bound tokens. */
  readonly dpop?: string
}

export interface UnauthorizedResponse {
  readonly wwwAuthenticate: string | null
  /** The token the server refused (so a newer stored one can be told apart). */
  readonly rejectedToken?: Redacted.Redacted<string>
  /** The `DPoP-Nonce` response header (RFC 9449 §9). */
  readonly dpopNonce?: string | null
}

export interface OAuthManagerShape {
  /** A valid access token, refreshed when less than about a minute is left. */
  readonly accessToken: (
    server: ServerConfig
  ) => Effect.Effect<Redacted.Redacted<string>, NeedsLogin | OAuthError>
  /** `Authorization` (and `DPoP`) for a request to the server. */
  readonly authorizationHeaders: (
    server: ServerConfig,
    request: { readonly method: string; readonly url: string }
  ) => Effect.Effect<AuthorizationHeaders, NeedsLogin | OAuthError>
  /** After a 401: the token to retry with (a newer stored one, or a refreshed one). */
  readonly onUnauthorized: (
    server: ServerConfig,
    response: UnauthorizedResponse
  ) => Effect.Effect<Redacted.Redacted<string>, NeedsLogin | OAuthError>
  /** After a 403 `insufficient_scope`: re-authorizes with more scopes when allowed to ask the user. */
  readonly onInsufficientScope: (
    server: ServerConfig,
    wwwAuthenticate: string | null
  ) => Effect.Effect<Redacted.Redacted<string>, NeedsLogin | NeedsScope | OAuthError>
  readonly login: (server: ServerConfig, options?: LoginOptions) => Effect.Effect<LoginResult, OAuthError>
  /** The web UI's login: the URL to open; the state is kept here for 10 minutes. */
  readonly beginLogin: (
    server: ServerConfig,
    options: BeginLoginOptions
  ) => Effect.Effect<{ readonly authorizationUrl: string; readonly state: string }, OAuthError>
  /** The web UI's callback (the full URL the browser came back to). */
  readonly completeLogin: (callbackUrl: string) => Effect.Effect<LoginResult, OAuthError>
  readonly logout: (server: ServerConfig) => Effect.Effect<LogoutResult, OAuthError>
  readonly status: (server: ServerConfig) => Effect.Effect<AuthStatus, OAuthError>
}

export interface OAuthManagerOptions {
  /**
   * Whether a 403 step-up may start an interactive login (the CLI, the
   * conformance client). The gateway says no: it reports `NeedsScope`.
   */
  readonly interactive?: boolean
  /** How interactive logins reach the user (`noBrowser`, printing the URL, …). */
  readonly interaction?: Interaction
  /** Refresh when less than this is left (default 60 s)… */
  readonly refreshMargin?: Duration.Input
  /** …plus a random part of up to this (default 30 s). */
  readonly refreshJitter?: Duration.Input
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const keyFor = (server: ServerConfig): CredentialKey => ({ server: server.name, url: server.url ?? "" })

const sameSecret = (a: Redacted.Redacted<string>, b: Redacted.Redacted<string>): boolean =>
  Redacted.value(a) === Redacted.value(b)

const sameIssuer = (a: string | undefined, b: string): boolean =>
  a !== undefined && URL.canParse(a) && URL.canParse(b) && new URL(a).href === new URL(b).href

/** A credential with some fields replaced or (with `undefined`) removed. */
const withFields = (
  credential: Credential,
  changes: {
    readonly issuer?: string | undefined
    readonly resource?: string | undefined
    readonly registration?: ClientRegistration | undefined
    readonly tokens?: TokenSet | undefined
  },
  now: number
): Credential => {
  const pick = <K extends keyof typeof changes>(key: K) => (key in changes ? changes[key] : credential[key])
  const issuer = pick("issuer")
  const resource = pick("resource")
  const registration = pick("registration")
  const tokens = pick("tokens")
  return new Credential({
    server: credential.server,
    url: credential.url,
    ...(issuer === undefined ? {} : { issuer }),
    ...(resource === undefined ? {} : { resource }),
    ...(registration === undefined ? {} : { registration }),
    ...(tokens === undefined ? {} : { tokens }),
    updatedAt: now
  })
}

const storeError = (server: string) => (error: CredentialStoreError) =>
  OAuthError.of(server, "store", `the credential store failed: ${error.message}`)

const formatIn = (millis: number): string => {
  if (millis < 60_000) return `${Math.max(0, Math.round(millis / 1000))} s`
  if (millis < 2 * 60 * 60_000) return `${Math.round(millis / 60_000)} min`
  if (millis < 2 * 24 * 60 * 60_000) return `${Math.round(millis / (60 * 60_000))} h`
  return `${Math.round(millis / (24 * 60 * 60_000))} days`
}

/**
 * MCP "Scope Selection Strategy": the caller's scopes, else the challenge's,
 * else the configured ones, else the resource's `scopes_supported`, else none;
 * plus `offline_access` for user logins when the authorization server offers
 * it (SEP-2207), so a refresh token comes with the grant.
 */
export const chooseScopes = (input: {
  readonly requested?: ReadonlyArray<string>
  readonly challenge?: string
  readonly configured?: ReadonlyArray<string>
  readonly resourceSupported?: ReadonlyArray<string>
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

const pendingLoginMillis = 10 * 60 * 1000
const stepUpWindowMillis = 10 * 60 * 1000
const maxStepUps = 3

interface PendingWebLogin {
  readonly server: ServerConfig
  readonly discovered: Discovered
  readonly registration: ClientRegistration
  readonly context: GrantContext
  readonly pending: PendingAuthorization
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
}

type TokenFailure = NeedsLogin | OAuthError

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

export const make = (options: OAuthManagerOptions = {}) =>
  Effect.gen(function* () {
    const store = yield* CredentialStore
    const discovery = yield* Discovery
    const registrations = yield* Registration
    const flows = yield* AuthorizationFlow
    const fibers = yield* FiberSet.make<unknown, unknown>()

    const marginMillis = Duration.toMillis(Duration.fromInputUnsafe(options.refreshMargin ?? "60 seconds"))
    const jitterMillis = Duration.toMillis(Duration.fromInputUnsafe(options.refreshJitter ?? "30 seconds"))

    /** Refreshes in flight in this process, by credential key. */
    const inflight = new Map<string, Deferred.Deferred<TokenSet, TokenFailure>>()
    /** DPoP keys of this process, by credential key. */
    const dpopKeys = new Map<string, Dpop.DpopKey>()
    /** Nonces the MCP servers handed out (RFC 9449 §9), by origin. */
    const resourceNonces = new Map<string, string>()
    /** Scopes a non-interactive step-up could not get, by credential key (for `status`). */
    const neededScopes = new Map<string, ReadonlyArray<string>>()
    /** Recent step-ups, by credential key: their times. */
    const stepUps = new Map<string, Array<number>>()
    const webLogins = new Map<string, PendingWebLogin>()

    /**
     * Credentials refreshed here whose save failed (disk full …), by key. The
     * authorization server has already rotated the refresh token, so dropping the
     * new one would lose the login: it is kept, used, and saved again on the next load.
     */
    const unsaved = new Map<string, Credential>()

    const load = (server: ServerConfig) =>
      Effect.gen(function* () {
        const key = keyOf(keyFor(server))
        const pending = unsaved.get(key)
        if (pending === undefined) {
          return yield* store
            .get(keyFor(server))
            .pipe(Effect.map(Option.getOrUndefined), Effect.mapError(storeError(server.name)))
        }
        const saved = yield* Effect.result(store.set(pending))
        if (saved._tag === "Success") unsaved.delete(key)
        return pending
      })

    /** Saves; a successful save supersedes any credential kept in `unsaved`. */
    const save = (server: ServerConfig, credential: Credential) =>
      store.set(credential).pipe(
        Effect.tap(() => Effect.sync(() => unsaved.delete(keyOf(keyFor(server))))),
        Effect.mapError(storeError(server.name))
      )

    /** Runs `effect` holding the credential's lock (this process and others); store failures become OAuthErrors. */
    const locked = <A, E>(
      server: ServerConfig,
      effect: Effect.Effect<A, E>
    ): Effect.Effect<A, E | OAuthError> =>
      store.withLock(keyFor(server), effect).pipe(
        Effect.catchIf(
          (error): error is CredentialStoreError => error instanceof CredentialStoreError,
          (error) => Effect.fail(storeError(server.name)(error))
        )
      )

    /**
     * True when the token should be renewed now: expiry within the margin plus
     * jitter, but never more than half the token's life (`obtainedAt` is when the
     * credential was saved), or a token shorter-lived than the margin would be
     * refreshed on every use (the soak saw one refresh per request at 5 s tokens).
     */
    const expiring = (tokens: TokenSet, obtainedAt: number) =>
      Effect.gen(function* () {
        if (tokens.expiresAt === undefined) return false
        const now = yield* Clock.currentTimeMillis
        const jitter = jitterMillis <= 0 ? 0 : yield* Random.nextIntBetween(0, jitterMillis)
        const halfLife = Math.max(0, (tokens.expiresAt - obtainedAt) / 2)
        return tokens.expiresAt - now <= Math.min(marginMillis + jitter, halfLife)
      })

    /** A DPoP-bound token is only usable with the key this process holds for it. */
    const usable = (key: string, tokens: TokenSet): boolean =>
      tokens.tokenType !== "DPoP" || dpopKeys.has(key)

    const authorizationServerOf = (server: ServerConfig, credential: Credential) =>
      discovery.authorizationServer(server, credential.issuer ?? new URL(server.url ?? "").origin)

    const grantContext = (
      server: ServerConfig,
      authorizationServer: AuthorizationServerInfo,
      registration: ClientRegistration,
      extra: { readonly resource?: string | undefined; readonly scope?: string; readonly dpop?: Dpop.DpopKey }
    ) =>
      Effect.map(
        registrations.session(server, registration),
        (session): GrantContext => ({
          server,
          authorizationServer,
          session,
          ...(extra.resource === undefined ? {} : { resource: extra.resource }),
          ...(extra.scope === undefined || extra.scope === "" ? {} : { scope: extra.scope }),
          ...(extra.dpop === undefined ? {} : { dpop: extra.dpop.handle })
        })
      )

    /** The client credentials grant with the stored registration (machine clients have no refresh token). */
    const renewMachineToken = (
      server: ServerConfig,
      credential: Credential,
      registration: ClientRegistration
    ) =>
      Effect.gen(function* () {
        const authorizationServer = yield* authorizationServerOf(server, credential)
        const scope = credential.tokens?.scope ?? authOf(server).scopes?.join(" ")
        const context = yield* grantContext(server, authorizationServer, registration, {
          resource: credential.resource,
          ...(scope === undefined ? {} : { scope })
        })
        const response = yield* flows.clientCredentials(context)
        const tokens = toTokenSet(response, yield* Clock.currentTimeMillis)
        yield* save(server, withFields(credential, { tokens }, yield* Clock.currentTimeMillis))
        return tokens
      })

    /**
     * The refresh itself, inside the credential lock. `seen` is the token the
     * caller found expiring or was refused with: a different, still-valid
     * stored token means another fiber or process refreshed meanwhile.
     */
    const refreshLocked = (server: ServerConfig, seen: Redacted.Redacted<string> | undefined) =>
      Effect.gen(function* () {
        const name = server.name
        const key = keyOf(keyFor(server))
        const credential = yield* load(server)
        const auth = authOf(server)
        if (credential === undefined || credential.registration === undefined) {
          if (auth.flow === "client_credentials") {
            const result = yield* loginUnlocked(server, { flow: "client_credentials" })
            return result.tokens
          }
          return yield* NeedsLogin.of(name, "not logged in")
        }
        const registration = credential.registration
        const tokens = credential.tokens
        if (
          tokens !== undefined &&
          (seen === undefined || !sameSecret(tokens.accessToken, seen)) &&
          usable(key, tokens) &&
          !(yield* expiring(tokens, credential.updatedAt))
        ) {
          yield* Effect.logDebug(`${name}: using the token another process or fiber refreshed`)
          return tokens
        }
        if (tokens?.refreshToken === undefined) {
          if (auth.flow === "client_credentials") {
            return yield* renewMachineToken(server, credential, registration).pipe(
              // A forgotten dynamic client: register a new one and try once more (no user needed).
              Effect.catchIf(
                (error) => error.oauthError === "invalid_client" && registration.method === "dcr",
                () =>
                  Effect.gen(function* () {
                    yield* Effect.logWarning(
                      `${name}: the authorization server no longer knows the client; registering again`
                    )
                    const replaced = yield* registrations.register({
                      server,
                      authorizationServer: yield* authorizationServerOf(server, credential),
                      grantTypes: [grantTypes.clientCredentials]
                    })
                    const updated = withFields(
                      credential,
                      { registration: replaced, tokens: undefined },
                      yield* Clock.currentTimeMillis
                    )
                    yield* save(server, updated)
                    return yield* renewMachineToken(server, updated, replaced)
                  })
              )
            )
          }
          return yield* NeedsLogin.of(
            name,
            tokens === undefined ? "not logged in" : "the access token expired and there is no refresh token"
          )
        }
        const authorizationServer = yield* authorizationServerOf(server, credential)
        let dpop = tokens.tokenType === "DPoP" ? dpopKeys.get(key) : undefined
        if (tokens.tokenType === "DPoP" && dpop === undefined) {
          dpop = yield* Dpop.generate(authorizationServer.metadata.dpop_signing_alg_values_supported)
        }
        const context = yield* grantContext(server, authorizationServer, registration, {
          resource: credential.resource,
          ...(dpop === undefined ? {} : { dpop })
        })
        yield* Effect.logInfo(`${name}: refreshing the access token`)
        const refreshed = yield* Effect.result(flows.refresh(context, tokens.refreshToken))
        const now = yield* Clock.currentTimeMillis
        if (refreshed._tag === "Success") {
          const next = toTokenSet(refreshed.success, now, tokens)
          const updated = withFields(credential, { tokens: next }, now)
          // The rotated refresh token is saved before anyone gets the new access token;
          // when the save fails it is kept in memory rather than lost (see `unsaved`).
          yield* save(server, updated).pipe(
            Effect.catch((error) =>
              Effect.andThen(
                Effect.sync(() => unsaved.set(key, updated)),
                Effect.logWarning(
                  `${error.message}; keeping the refreshed tokens in memory and saving them again on next use`
                )
              )
            )
          )
          if (dpop !== undefined) dpopKeys.set(key, dpop)
          return next
        }
        const error = refreshed.failure
        if (error.retryable) {
          yield* Effect.logWarning(`${error.message}; keeping the credential for a later retry`)
          return yield* error
        }
        if (error.oauthError === "invalid_grant") {
          yield* save(server, withFields(credential, { tokens: undefined }, now))
          return yield* NeedsLogin.of(name, "the authorization server no longer accepts the refresh token")
        }
        if (error.oauthError === "invalid_client" || error.status === 401) {
          if (registration.method === "dcr") {
            // The server forgot our client: register again now; the grant belonged to the old client.
            const replaced = yield* registrations
              .register({
                server,
                authorizationServer,
                ...(registration.redirectUris[0] === undefined
                  ? {}
                  : { redirectUri: registration.redirectUris[0] }),
                grantTypes: grantsFor(auth.flow)
              })
              .pipe(Effect.option)
            yield* save(
              server,
              withFields(
                credential,
                { tokens: undefined, ...(Option.isSome(replaced) ? { registration: replaced.value } : {}) },
                now
              )
            )
            return yield* NeedsLogin.of(
              name,
              `the authorization server no longer knows the client ${registration.clientId}${Option.isSome(replaced) ? " (a new one is registered)" : ""}`
            )
          }
          return yield* OAuthError.of(
            name,
            "token",
            `the authorization server refused the configured client ${registration.clientId} (${error.oauthError ?? `HTTP ${error.status}`}); check auth.clientId and auth.clientSecret`,
            { ...(error.oauthError === undefined ? {} : { oauthError: error.oauthError }) }
          )
        }
        return yield* error
      })

    /** One refresh per credential in this process; concurrent callers wait for it. */
    const refresh = (server: ServerConfig, seen: Redacted.Redacted<string> | undefined) =>
      Effect.gen(function* () {
        const key = keyOf(keyFor(server))
        const running = inflight.get(key)
        if (running !== undefined) return yield* Deferred.await(running)
        const deferred = yield* Deferred.make<TokenSet, TokenFailure>()
        inflight.set(key, deferred)
        // The refresh runs in the service's own fiber set, so a caller that gives up
        // (interrupted) does not cancel it for the others.
        yield* FiberSet.run(
          fibers,
          locked(server, refreshLocked(server, seen)).pipe(
            Effect.exit,
            // Forget the refresh before anyone hears its outcome, so the next caller starts afresh.
            Effect.tap(() => Effect.sync(() => inflight.delete(key))),
            Effect.flatMap((exit) => Deferred.done(deferred, exit)),
            Effect.onInterrupt(() =>
              Effect.sync(() => inflight.delete(key)).pipe(Effect.andThen(Deferred.interrupt(deferred)))
            )
          )
        )
        return yield* Deferred.await(deferred)
      })

    const currentTokens = (server: ServerConfig) =>
      Effect.gen(function* () {
        const key = keyOf(keyFor(server))
        const credential = yield* load(server)
        const tokens = credential?.tokens
        if (credential === undefined || tokens === undefined) {
          if (authOf(server).flow === "client_credentials") return yield* refresh(server, undefined)
          return yield* NeedsLogin.of(server.name, "not logged in")
        }
        if (usable(key, tokens) && !(yield* expiring(tokens, credential.updatedAt))) return tokens
        return yield* refresh(server, tokens.accessToken)
      })

    const accessToken = Effect.fn("OAuthManager.accessToken")(function* (server: ServerConfig) {
      return (yield* currentTokens(server)).accessToken
    })

    const authorizationHeaders = Effect.fn("OAuthManager.authorizationHeaders")(function* (
      server: ServerConfig,
      request: { readonly method: string; readonly url: string }
    ) {
      const tokens = yield* currentTokens(server)
      const token = Redacted.value(tokens.accessToken)
      const key = dpopKeys.get(keyOf(keyFor(server)))
      if (tokens.tokenType !== "DPoP" || key === undefined) {
        return { authorization: Redacted.make(`Bearer ${token}`) }
      }
      const origin = URL.parse(request.url)?.origin ?? ""
      const dpop = yield* Dpop.proof(
        key,
        request,
        token,
        yield* Clock.currentTimeMillis,
        resourceNonces.get(origin)
      )
      return { authorization: Redacted.make(`DPoP ${token}`), dpop }
    })

    const onUnauthorized = Effect.fn("OAuthManager.onUnauthorized")(function* (
      server: ServerConfig,
      response: UnauthorizedResponse
    ) {
      const name = server.name
      const key = keyOf(keyFor(server))
      const challenge = resourceChallenge(response.wwwAuthenticate)
      const credential = yield* load(server)
      const tokens = credential?.tokens
      // RFC 9449 §9: not a token problem; retry with the server's nonce.
      if (challenge?.error === "use_dpop_nonce" && response.dpopNonce && tokens !== undefined) {
        const origin = URL.parse(server.url ?? "")?.origin
        if (origin !== undefined) resourceNonces.set(origin, response.dpopNonce)
        return tokens.accessToken
      }
      if (credential === undefined || tokens === undefined) {
        if (authOf(server).flow === "client_credentials")
          return (yield* refresh(server, undefined)).accessToken
        return yield* NeedsLogin.of(name, "not logged in")
      }
      if (
        response.rejectedToken !== undefined &&
        !sameSecret(tokens.accessToken, response.rejectedToken) &&
        usable(key, tokens) &&
        !(yield* expiring(tokens, credential.updatedAt))
      ) {
        return tokens.accessToken
      }
      // SEP-2352: the resource may now name another authorization server; its
      // credentials are never presented elsewhere, so the old ones go.
      if (challenge?.resourceMetadata !== undefined && credential.issuer !== undefined) {
        const rediscovered = yield* Effect.result(
          discovery.discover(server, { wwwAuthenticate: response.wwwAuthenticate, probe: false })
        )
        if (
          rediscovered._tag === "Success" &&
          !sameIssuer(credential.issuer, rediscovered.success.authorizationServer.issuer)
        ) {
          const issuer = rediscovered.success.authorizationServer.issuer
          yield* locked(
            server,
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              yield* save(
                server,
                withFields(credential, { issuer: undefined, registration: undefined, tokens: undefined }, now)
              )
            })
          )
          dpopKeys.delete(key)
          return yield* NeedsLogin.of(
            name,
            `the server now uses the authorization server ${issuer} instead of ${credential.issuer}`
          )
        }
        if (rediscovered._tag === "Failure") yield* Effect.logDebug(rediscovered.failure.message)
      }
      return (yield* refresh(server, response.rejectedToken ?? tokens.accessToken)).accessToken
    })

    // -----------------------------------------------------------------------
    // Login
    // -----------------------------------------------------------------------

    const redirectUriFor = (server: ServerConfig, callbackPort: number | undefined) => {
      const auth = authOf(server)
      if (auth.redirectUri !== undefined && callbackPort === undefined) return auth.redirectUri
      const port = callbackPort ?? auth.callbackPort ?? stableCallbackPort(server.name, server.url ?? "")
      return `http://127.0.0.1:${port}/callback`
    }

    const grantsFor = (flow: OAuthFlow | "jwt-bearer"): ReadonlyArray<string> =>
      flow === "pkce"
        ? [grantTypes.authorizationCode]
        : flow === "device"
          ? [grantTypes.deviceCode]
          : flow === "client_credentials"
            ? [grantTypes.clientCredentials]
            : [grantTypes.jwtBearer]

    /** DPoP when the resource asks for it and the authorization server can issue it. */
    const wantsDpop = (discovered: Discovered) =>
      discovered.dpop &&
      (discovered.authorizationServer.metadata.dpop_signing_alg_values_supported?.length ?? 0) > 0

    const toResult = (server: ServerConfig, credential: Credential): LoginResult => {
      const registration = credential.registration
      const tokens = credential.tokens
      return {
        server: server.name,
        issuer: credential.issuer ?? "",
        registrationMethod: registration?.method ?? "dcr",
        clientId: registration?.clientId ?? "",
        scopes: splitScopes(tokens?.scope),
        tokenType: tokens?.tokenType ?? "Bearer",
        ...(tokens?.expiresAt === undefined ? {} : { expiresAt: tokens.expiresAt }),
        refreshable: tokens?.refreshToken !== undefined || authOf(server).flow === "client_credentials"
      }
    }

    /** Stores the outcome of a login (replacing whatever was there). */
    const storeLogin = (
      server: ServerConfig,
      discovered: Discovered,
      registration: ClientRegistration,
      response: oauth.TokenEndpointResponse,
      dpop: Dpop.DpopKey | undefined,
      requestedScopes: ReadonlyArray<string>
    ) =>
      locked(
        server,
        Effect.gen(function* () {
          const key = keyOf(keyFor(server))
          const now = yield* Clock.currentTimeMillis
          // OAuth 2.1 §3.2.3: no `scope` in the response means the requested scope was granted.
          const tokens = toTokenSet(
            response,
            now,
            requestedScopes.length === 0 ? undefined : { scope: requestedScopes.join(" ") }
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
          yield* save(server, credential)
          if (dpop !== undefined && tokens.tokenType === "DPoP") dpopKeys.set(key, dpop)
          else dpopKeys.delete(key)
          neededScopes.delete(key)
          return credential
        })
      )

    /**
     * Stores a new dynamic registration before the login that uses it, so a
     * failed login does not register yet another client next time; but never at
     * the cost of tokens that still work for this issuer (they stay, with their
     * client, until the new login succeeds).
     */
    const keepRegistration = (
      server: ServerConfig,
      existing: Credential | undefined,
      issuer: string,
      registration: ClientRegistration
    ) =>
      registration.method !== "dcr" || (existing?.tokens !== undefined && sameIssuer(existing.issuer, issuer))
        ? Effect.void
        : locked(
            server,
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              const base =
                existing ?? new Credential({ server: server.name, url: server.url ?? "", updatedAt: now })
              yield* save(server, withFields(base, { issuer, registration, tokens: undefined }, now))
            })
          )

    const loginUnlocked = (server: ServerConfig, loginOptions: LoginOptions) =>
      Effect.gen(function* () {
        const name = server.name
        const auth = authOf(server)
        const flow: OAuthFlow | "jwt-bearer" =
          loginOptions.assertion !== undefined ? "jwt-bearer" : (loginOptions.flow ?? auth.flow)
        const discovered = yield* discovery.discover(server, {
          ...(loginOptions.wwwAuthenticate === undefined
            ? {}
            : { wwwAuthenticate: loginOptions.wwwAuthenticate })
        })
        const authorizationServer = discovered.authorizationServer
        const existing = yield* load(server)
        const withUser = flow === "pkce" || flow === "device"
        const scopes = chooseScopes({
          ...(loginOptions.scopes === undefined ? {} : { requested: loginOptions.scopes }),
          ...(discovered.challenge?.scope === undefined ? {} : { challenge: discovered.challenge.scope }),
          ...(auth.scopes === undefined ? {} : { configured: auth.scopes }),
          ...(discovered.protectedResource?.metadata.scopes_supported === undefined
            ? {}
            : { resourceSupported: discovered.protectedResource.metadata.scopes_supported }),
          authorizationServer: authorizationServer.metadata,
          withUser
        })
        const redirectUri = flow === "pkce" ? redirectUriFor(server, loginOptions.callbackPort) : undefined
        // SEP-2352: a registration belongs to the authorization server that issued it.
        const reusable =
          existing?.registration !== undefined && sameIssuer(existing.issuer, authorizationServer.issuer)
            ? existing.registration
            : undefined
        const resolveOptions = {
          server,
          authorizationServer,
          ...(redirectUri === undefined ? {} : { redirectUri }),
          grantTypes: grantsFor(flow)
        }
        let registration = yield* registrations.resolve({
          ...resolveOptions,
          ...(reusable === undefined ? {} : { existing: reusable })
        })
        if (registration !== reusable)
          yield* keepRegistration(server, existing, authorizationServer.issuer, registration)
        const dpop = wantsDpop(discovered)
          ? yield* Dpop.generate(authorizationServer.metadata.dpop_signing_alg_values_supported)
          : undefined
        const run = (current: ClientRegistration) =>
          Effect.gen(function* () {
            const context = yield* grantContext(server, authorizationServer, current, {
              resource: discovered.resource,
              scope: scopes.join(" "),
              ...(dpop === undefined ? {} : { dpop })
            })
            yield* Effect.logInfo(
              `${name}: logging in (${flow}) at ${authorizationServer.issuer}${scopes.length === 0 ? "" : ` for ${scopes.join(" ")}`}`
            )
            switch (flow) {
              case "pkce":
                return yield* flows.authorizationCode(context, redirectUri ?? "", {
                  ...options.interaction,
                  ...loginOptions
                })
              case "device":
                return yield* flows.device(
                  context,
                  loginOptions.onDeviceCode ??
                    ((info) =>
                      Effect.logInfo(
                        `${name}: open ${info.verificationUriComplete ?? info.verificationUri} and enter the code ${info.userCode}`
                      ))
                )
              case "client_credentials":
                return yield* flows.clientCredentials(context)
              case "jwt-bearer":
                return yield* flows.jwtBearer(context, loginOptions.assertion ?? Redacted.make(""))
            }
          })
        const response = yield* run(registration).pipe(
          Effect.catchIf(
            (error) =>
              registration.method === "dcr" && flow !== "pkce" && error.oauthError === "invalid_client",
            () =>
              Effect.gen(function* () {
                // The server forgot the client: register once more and try again.
                yield* Effect.logWarning(
                  `${name}: the authorization server no longer knows the client; registering again`
                )
                registration = yield* registrations.register(resolveOptions)
                return yield* run(registration)
              })
          )
        )
        const credential = yield* storeLogin(server, discovered, registration, response, dpop, scopes)
        yield* Effect.logInfo(`${name}: logged in at ${authorizationServer.issuer}`)
        return { result: toResult(server, credential), tokens: credential.tokens ?? toTokenSet(response, 0) }
      })

    const login = Effect.fn("OAuthManager.login")(function* (
      server: ServerConfig,
      loginOptions: LoginOptions = {}
    ) {
      return (yield* loginUnlocked(server, loginOptions)).result
    })

    const onInsufficientScope = Effect.fn("OAuthManager.onInsufficientScope")(function* (
      server: ServerConfig,
      wwwAuthenticate: string | null
    ) {
      const name = server.name
      const key = keyOf(keyFor(server))
      const challenge = resourceChallenge(wwwAuthenticate)
      const required = splitScopes(challenge?.scope)
      const credential = yield* load(server)
      const granted = splitScopes(credential?.tokens?.scope)
      if (required.length === 0) {
        return yield* OAuthError.of(
          name,
          "insufficient-scope",
          "the server refused the request for lack of scope without saying which scope it needs"
        )
      }
      if (credential?.tokens !== undefined && required.every((scope) => granted.includes(scope))) {
        return yield* OAuthError.of(
          name,
          "insufficient-scope",
          `the server still refuses although ${required.join(" ")} ${required.length === 1 ? "was" : "were"} granted; authorizing again would not help`
        )
      }
      const wanted = [...new Set([...granted.filter((scope) => scope !== "offline_access"), ...required])]
      if (options.interactive !== true) {
        neededScopes.set(key, wanted)
        return yield* NeedsScope.of(name, wanted)
      }
      const now = yield* Clock.currentTimeMillis
      const recent = (stepUps.get(key) ?? []).filter((time) => now - time < stepUpWindowMillis)
      if (recent.length >= maxStepUps) {
        return yield* OAuthError.of(
          name,
          "insufficient-scope",
          `gave up after ${maxStepUps} attempts to obtain ${wanted.join(" ")}`
        )
      }
      stepUps.set(key, [...recent, now])
      yield* Effect.logInfo(
        `${name}: the server needs ${required.join(" ")}; authorizing again for ${wanted.join(" ")}`
      )
      const result = yield* loginUnlocked(server, {
        scopes: wanted,
        wwwAuthenticate,
        ...(authOf(server).flow === "client_credentials" ? { flow: "client_credentials" as const } : {})
      })
      return result.tokens.accessToken
    })

    // -----------------------------------------------------------------------
    // Web login
    // -----------------------------------------------------------------------

    const beginLogin = Effect.fn("OAuthManager.beginLogin")(function* (
      server: ServerConfig,
      begin: BeginLoginOptions
    ) {
      const now = yield* Clock.currentTimeMillis
      for (const [state, entry] of webLogins) if (entry.expiresAt <= now) webLogins.delete(state)
      const auth = authOf(server)
      const discovered = yield* discovery.discover(server, {
        ...(begin.wwwAuthenticate === undefined ? {} : { wwwAuthenticate: begin.wwwAuthenticate })
      })
      const authorizationServer = discovered.authorizationServer
      const existing = yield* load(server)
      const reusable =
        existing?.registration !== undefined && sameIssuer(existing.issuer, authorizationServer.issuer)
          ? existing.registration
          : undefined
      const registration = yield* registrations.resolve({
        server,
        authorizationServer,
        redirectUri: begin.redirectUri,
        grantTypes: [grantTypes.authorizationCode],
        ...(reusable === undefined ? {} : { existing: reusable })
      })
      if (registration !== reusable)
        yield* keepRegistration(server, existing, authorizationServer.issuer, registration)
      const scopes = chooseScopes({
        ...(begin.scopes === undefined ? {} : { requested: begin.scopes }),
        ...(discovered.challenge?.scope === undefined ? {} : { challenge: discovered.challenge.scope }),
        ...(auth.scopes === undefined ? {} : { configured: auth.scopes }),
        ...(discovered.protectedResource?.metadata.scopes_supported === undefined
          ? {}
          : { resourceSupported: discovered.protectedResource.metadata.scopes_supported }),
        authorizationServer: authorizationServer.metadata,
        withUser: true
      })
      const context = yield* grantContext(server, authorizationServer, registration, {
        resource: discovered.resource,
        scope: scopes.join(" ")
      })
      const pending = yield* flows.prepare(context, begin.redirectUri)
      webLogins.set(pending.state, {
        server,
        discovered,
        registration,
        context,
        pending,
        scopes,
        expiresAt: now + pendingLoginMillis
      })
      return { authorizationUrl: pending.url.href, state: pending.state }
    })

    const completeLogin = Effect.fn("OAuthManager.completeLogin")(function* (callbackUrl: string) {
      const url = URL.parse(callbackUrl)
      const state = url?.searchParams.get("state") ?? undefined
      const entry = state === undefined ? undefined : webLogins.get(state)
      const now = yield* Clock.currentTimeMillis
      if (url === null || state === undefined || entry === undefined || entry.expiresAt <= now) {
        if (state !== undefined) webLogins.delete(state)
        return yield* OAuthError.of(
          "login",
          "state-mismatch",
          "this sign-in is unknown or expired (it is valid for 10 minutes); start it again"
        )
      }
      webLogins.delete(state)
      const response = yield* flows.complete(entry.context, entry.pending, url)
      const credential = yield* storeLogin(
        entry.server,
        entry.discovered,
        entry.registration,
        response,
        undefined,
        entry.scopes
      )
      return toResult(entry.server, credential)
    })

    // -----------------------------------------------------------------------
    // Logout and status
    // -----------------------------------------------------------------------

    const logout = Effect.fn("OAuthManager.logout")(function* (server: ServerConfig) {
      const name = server.name
      const key = keyOf(keyFor(server))
      const credential = yield* load(server)
      if (credential === undefined) return { removed: false, revoked: false }
      let revoked = false
      const { tokens, registration } = credential
      if (tokens !== undefined && registration !== undefined) {
        const attemptRevocation = Effect.gen(function* () {
          const authorizationServer = yield* authorizationServerOf(server, credential)
          if (authorizationServer.metadata.revocation_endpoint === undefined) {
            yield* Effect.logInfo(
              `${name}: the authorization server offers no revocation; deleting the credential only`
            )
            return
          }
          const context = yield* grantContext(server, authorizationServer, registration, {})
          // The refresh token first: revoking it usually ends the whole grant (RFC 7009 §2.1).
          if (tokens.refreshToken !== undefined) {
            const result = yield* Effect.result(flows.revoke(context, tokens.refreshToken, "refresh_token"))
            if (result._tag === "Success") revoked = true
            else yield* Effect.logWarning(result.failure.message)
          }
          const result = yield* Effect.result(flows.revoke(context, tokens.accessToken, "access_token"))
          if (result._tag === "Success") revoked = true
          else yield* Effect.logWarning(result.failure.message)
        })
        yield* attemptRevocation.pipe(Effect.catch((error) => Effect.logWarning(error.message)))
      }
      const removed = yield* locked(
        server,
        store.delete(keyFor(server)).pipe(Effect.mapError(storeError(name)))
      )
      dpopKeys.delete(key)
      neededScopes.delete(key)
      stepUps.delete(key)
      unsaved.delete(key)
      return { removed, revoked }
    })

    const status = Effect.fn("OAuthManager.status")(function* (server: ServerConfig) {
      const name = server.name
      const key = keyOf(keyFor(server))
      const credential = yield* load(server)
      const now = yield* Clock.currentTimeMillis
      const registration = credential?.registration
      const tokens = credential?.tokens
      const machine = authOf(server).flow === "client_credentials"
      const refreshable = tokens?.refreshToken !== undefined || (machine && registration !== undefined)
      const common = {
        server: name,
        refreshable,
        ...(credential?.issuer === undefined ? {} : { issuer: credential.issuer }),
        ...(registration === undefined
          ? {}
          : { registrationMethod: registration.method, clientId: registration.clientId }),
        ...(tokens === undefined ? {} : { tokenType: tokens.tokenType }),
        ...(tokens?.expiresAt === undefined ? {} : { expiresAt: tokens.expiresAt }),
        scopes: splitScopes(tokens?.scope)
      }
      const needed = neededScopes.get(key)
      if (needed !== undefined) {
        return {
          ...common,
          state: "needs-scope" as const,
          neededScopes: needed,
          summary: `needs scope ${needed.join(" ")}`
        }
      }
      if (tokens === undefined) {
        if (server.auth === undefined && credential === undefined) {
          return { ...common, state: "not-required" as const, summary: "not required" }
        }
        return { ...common, state: "needs-login" as const, summary: `needs login (mcpgate login ${name})` }
      }
      if (tokens.expiresAt !== undefined && tokens.expiresAt <= now) {
        return refreshable
          ? { ...common, state: "expired" as const, summary: "expired, refreshable" }
          : {
              ...common,
              state: "needs-login" as const,
              summary: `expired; needs login (mcpgate login ${name})`
            }
      }
      return {
        ...common,
        state: "authenticated" as const,
        summary:
          tokens.expiresAt === undefined
            ? "authenticated"
            : `authenticated, expires in ${formatIn(tokens.expiresAt - now)}`
      }
    })

    return {
      accessToken,
      authorizationHeaders,
      onUnauthorized,
      onInsufficientScope,
      login,
      beginLogin,
      completeLogin,
      logout,
      status
    } satisfies OAuthManagerShape
  })

export class OAuthManager extends Context.Service<OAuthManager, OAuthManagerShape>()(
  "@mcpgate/oauth/OAuthManager"
) {
  /** The manager over its parts; needs a `CredentialStore`, `Discovery`, `Registration` and `AuthorizationFlow`. */
  static readonly layerWith = (
    options: OAuthManagerOptions = {}
  ): Layer.Layer<OAuthManager, never, CredentialStore | Discovery | Registration | AuthorizationFlow> =>
    Layer.effect(OAuthManager, make(options))

  /**
   * Everything but the store and the browser: `OAuthManager.layer(options)` then
   * `Layer.provide(CredentialStore.layerAuto)` and `Browser.layer` (or
   * `Browser.layerFollowRedirects`).
   */
  static readonly layer = (
    options: OAuthManagerOptions = {}
  ): Layer.Layer<OAuthManager, never, CredentialStore | Browser> =>
    OAuthManager.layerWith(options).pipe(
      Layer.provide(Layer.mergeAll(Discovery.layer, Registration.layer, AuthorizationFlow.layer))
    )
}
