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
 *   the registration (`NeedsLogin`), but only while the store still holds the
 *   tokens that failed: what another process stored meanwhile is kept and used.
 *   Transient failures keep everything. Every read-modify-write of a credential
 *   re-reads it under the lock, and the network work done holding the lock
 *   stays within half the store's lock wait. DPoP keys are stored with the
 *   tokens they bind, so every process can present and refresh them.
 * - `onUnauthorized` (401) re-checks the protected resource metadata (the
 *   server may have moved to another authorization server, SEP-2352), then
 *   refreshes once; `onInsufficientScope` (403) re-authorizes with the union of
 *   granted and required scopes (RFC 6750 §3.1, MCP "Scope Challenge Handling").
 *   Concurrent step-ups for one server share one login.
 * - `login` = discover → register (a stored dynamic client is checked first,
 *   so a forgotten one is replaced instead of leaving the browser at an error
 *   page) → authorize (PKCE, device, client credentials or a JWT bearer
 *   assertion) → store; `beginLogin` / `completeLogin` split the code flow for
 *   the web UI (pending logins in `PendingLogins`).
 * - `logout` revokes (RFC 7009) when the server can, then deletes the credential.
 *
 * This file is the contract and a short `make`; the work is in `internal/`:
 * `Refresh`, `Login`, `StepUp`, `WebLogin`, `Status` (with logout), `DpopState`,
 * over the shared `ManagerContext`. The rules, with their sources:
 * docs/oauth.md.
 */
import * as AuditLog from "@mcpgate/core/AuditLog"
import type { OAuthFlow, ServerConfig } from "@mcpgate/core/Config"
import type { RegistrationMethod } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Cache, Context, Duration, Effect, FiberSet, Layer, type Redacted } from "effect"
import { AuthorizationFlow, type DeviceCodeInfo, type Interaction } from "./AuthorizationFlow.ts"
import type { Browser } from "./Browser.ts"
import { Discovery } from "./Discovery.ts"
import type { NeedsLogin, NeedsScope, OAuthError } from "./Errors.ts"
import * as Dpop from "./internal/Dpop.ts"
import * as DpopState from "./internal/DpopState.ts"
import * as Login from "./internal/Login.ts"
import { type ManagerContext, makeState } from "./internal/ManagerContext.ts"
import * as Refresh from "./internal/Refresh.ts"
import * as Status from "./internal/Status.ts"
import * as StepUp from "./internal/StepUp.ts"
import * as WebLogin from "./internal/WebLogin.ts"
import { PendingLogins } from "./PendingLogins.ts"
import { Registration } from "./Registration.ts"

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

/** How `login` runs; the `Interaction` fields override the manager's. */
export interface LoginOptions extends Interaction {
  /** Overrides `auth.flow` (`--flow`). */
  readonly flow?: OAuthFlow | undefined
  /** Replaces every other scope source (`--scope`). */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** Overrides `auth.callbackPort` (`--callback-port`). */
  readonly callbackPort?: number | undefined
  /** The `WWW-Authenticate` of the 401/403 that led to this login, if any. */
  readonly wwwAuthenticate?: string | null | undefined
  /** Device flow: shows the user code and the verification URI. Default: logged. */
  readonly onDeviceCode?: ((info: DeviceCodeInfo) => Effect.Effect<void>) | undefined
  /**
   * Instead of a user flow, redeem this assertion with the RFC 7523 JWT bearer
   * grant (workload identity, or the ID-JAG of enterprise-managed authorization).
   */
  readonly assertion?: Redacted.Redacted<string> | undefined
}

/** What a login obtained; never a secret. */
export interface LoginResult {
  readonly server: string
  readonly issuer: string
  readonly registrationMethod: RegistrationMethod
  readonly clientId: string
  /** The granted scopes (RFC 6749 §3.3; the requested ones when the response names none). */
  readonly scopes: ReadonlyArray<string>
  /** `Bearer` or `DPoP`. */
  readonly tokenType: string
  /** Epoch ms. */
  readonly expiresAt?: number | undefined
  /** A refresh token came with it, or the client credentials grant can run again. */
  readonly refreshable: boolean
}

/** The web UI's login (`beginLogin`). */
export interface BeginLoginOptions {
  /** Where the authorization server sends the browser back (the web UI's callback route). */
  readonly redirectUri: string
  /** Replaces every other scope source. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** The `WWW-Authenticate` of the 401/403 that led to this login, if any. */
  readonly wwwAuthenticate?: string | null | undefined
}

/** The state `status` reports (docs/oauth.md#step-up for `needs-scope`). */
export type AuthState = "not-required" | "authenticated" | "expired" | "needs-login" | "needs-scope"

/** What `status` shows about a server's authorization; never a secret. */
export interface AuthStatus {
  readonly server: string
  readonly state: AuthState
  /** One line for people, e.g. `authenticated, expires in 52 min`. */
  readonly summary: string
  readonly refreshable: boolean
  /** Epoch ms. */
  readonly expiresAt?: number | undefined
  readonly issuer?: string | undefined
  readonly registrationMethod?: RegistrationMethod | undefined
  readonly clientId?: string | undefined
  readonly tokenType?: string | undefined
  readonly scopes: ReadonlyArray<string>
  /** With `needs-scope`: the scopes a step-up would ask for. */
  readonly neededScopes?: ReadonlyArray<string> | undefined
}

/** What `logout` did. */
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
  readonly dpop?: string | undefined
}

/** What a 401 from the MCP server said. */
export interface UnauthorizedResponse {
  /** Its `WWW-Authenticate` (RFC 6750 §3, RFC 9728 §5.1). */
  readonly wwwAuthenticate: string | null
  /** The token the server refused (so a newer stored one can be told apart). */
  readonly rejectedToken?: Redacted.Redacted<string> | undefined
  /** The `DPoP-Nonce` response header (RFC 9449 §9). */
  readonly dpopNonce?: string | null | undefined
}

/**
 * The manager. `NeedsLogin` means only a person can help (`mcpgate login`);
 * an `OAuthError` names the failed step, and is `retryable` when the
 * credential was kept for a later attempt (docs/oauth.md#errors).
 */
export interface OAuthManagerShape {
  /**
   * A valid access token, refreshed when less than about a minute is left
   * (docs/oauth.md#refresh). Fails with `NeedsLogin` when there is no usable
   * credential or the refresh token was refused.
   */
  readonly accessToken: (
    server: ServerConfig
  ) => Effect.Effect<Redacted.Redacted<string>, NeedsLogin | OAuthError>
  /** `Authorization` (and `DPoP`) for a request to the server. */
  readonly authorizationHeaders: (
    server: ServerConfig,
    request: { readonly method: string; readonly url: string }
  ) => Effect.Effect<AuthorizationHeaders, NeedsLogin | OAuthError>
  /**
   * After a 401: the token to retry with (a newer stored one, the same one
   * with the server's DPoP nonce, or a refreshed one). Fails with `NeedsLogin`
   * also when the resource now names another authorization server
   * (docs/oauth.md#authorization-server-change).
   */
  readonly onUnauthorized: (
    server: ServerConfig,
    response: UnauthorizedResponse
  ) => Effect.Effect<Redacted.Redacted<string>, NeedsLogin | OAuthError>
  /**
   * After a 403 `insufficient_scope` (RFC 6750 §3.1, docs/oauth.md#step-up):
   * re-authorizes with more scopes when allowed to ask the user, else fails
   * with `NeedsScope`; reason "insufficient-scope" when a new login would not
   * help.
   */
  readonly onInsufficientScope: (
    server: ServerConfig,
    wwwAuthenticate: string | null
  ) => Effect.Effect<Redacted.Redacted<string>, NeedsLogin | NeedsScope | OAuthError>
  /**
   * Discover, register, authorize, store (docs/oauth.md#overview). Fails with
   * an `OAuthError` of the step that failed.
   */
  readonly login: (server: ServerConfig, options?: LoginOptions) => Effect.Effect<LoginResult, OAuthError>
  /**
   * The web UI's login (docs/oauth.md#web-login): the URL to open; the
   * pending login is kept in `PendingLogins` for 10 minutes.
   */
  readonly beginLogin: (
    server: ServerConfig,
    options: BeginLoginOptions
  ) => Effect.Effect<{ readonly authorizationUrl: string; readonly state: string }, OAuthError>
  /**
   * The web UI's callback (the full URL the browser came back to). An unknown or
   * expired `state` fails with reason "state-mismatch"; any other failure (as
   * `AuthorizationFlow.complete` fails) names the server of the login
   * (`OAuthError.server`).
   */
  readonly completeLogin: (callbackUrl: string) => Effect.Effect<LoginResult, OAuthError>
  /**
   * Revokes what the server can revoke (RFC 7009), then deletes the
   * credential (docs/oauth.md#logout-and-revocation). A failed revocation
   * does not stop it; fails only when the store does (reason "store").
   */
  readonly logout: (server: ServerConfig) => Effect.Effect<LogoutResult, OAuthError>
  /** What the credential allows now; never a secret. Fails only when the store does (reason "store"). */
  readonly status: (server: ServerConfig) => Effect.Effect<AuthStatus, OAuthError>
}

/** How the manager behaves (`OAuthManager.layer(options)`). */
export interface OAuthManagerOptions {
  /**
   * Whether a 403 step-up may start an interactive login (the CLI, the
   * conformance client). The gateway says no: it reports `NeedsScope`.
   */
  readonly interactive?: boolean | undefined
  /** How interactive logins reach the user (`noBrowser`, printing the URL, …). */
  readonly interaction?: Interaction | undefined
  /** Refresh when less than this is left (default 60 s)… */
  readonly refreshMargin?: Duration.Input | undefined
  /** …plus a random part of up to this (default 30 s). */
  readonly refreshJitter?: Duration.Input | undefined
  /** The user whose credentials this manager holds (per-user credentials), named in the audit log. */
  readonly principal?: string | undefined
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

export { chooseScopes } from "./internal/Login.ts"

/** The manager over the parts in context (see `OAuthManager.layerWith`). */
export const make = (options: OAuthManagerOptions = {}) =>
  Effect.gen(function* () {
    const store = yield* CredentialStore
    // Optional: a gateway records to its audit log (docs/store.md#audit-log); the CLI has none.
    const record = AuditLog.recordWith(yield* Effect.serviceOption(AuditLog.AuditLog))
    const principal = options.principal
    const parts = {
      store,
      audit: (event: AuditLog.AuditEvent) =>
        record(principal === undefined ? event : { ...event, principal }),
      discovery: yield* Discovery,
      registrations: yield* Registration,
      flows: yield* AuthorizationFlow,
      pendingLogins: yield* PendingLogins,
      fibers: yield* FiberSet.make<unknown, unknown>(),
      state: yield* makeState,
      settings: {
        interactive: options.interactive === true,
        interaction: options.interaction,
        marginMillis: Duration.toMillis(Duration.fromInputUnsafe(options.refreshMargin ?? "60 seconds")),
        jitterMillis: Duration.toMillis(Duration.fromInputUnsafe(options.refreshJitter ?? "30 seconds")),
        lockBudget: Duration.divideUnsafe(store.lockTimeout, 2)
      }
    }
    const ctx: ManagerContext = {
      ...parts,
      dpopKeys: yield* Cache.make({ lookup: Dpop.fromStored, capacity: 64 }),
      // Single-flight: an entry lives while its refresh runs (time to live zero).
      stepUps: yield* Cache.makeWith((request: StepUp.StepUpRequest) => StepUp.runStepUp(ctx, request), {
        capacity: Number.POSITIVE_INFINITY,
        timeToLive: () => Duration.zero
      }),
      refreshes: yield* Cache.makeWith(
        (request: Refresh.RefreshRequest) => Refresh.runRefresh(ctx, request),
        {
          capacity: Number.POSITIVE_INFINITY,
          timeToLive: () => Duration.zero
        }
      )
    }

    return {
      accessToken: Effect.fn("OAuthManager.accessToken")(function* (server: ServerConfig) {
        return (yield* Refresh.currentTokens(ctx, server)).accessToken
      }),
      authorizationHeaders: Effect.fn("OAuthManager.authorizationHeaders")(function* (server, request) {
        const tokens = yield* Refresh.currentTokens(ctx, server)
        return yield* DpopState.headers(ctx, server, tokens, request)
      }),
      onUnauthorized: Effect.fn("OAuthManager.onUnauthorized")((server, response) =>
        Refresh.onUnauthorized(ctx, server, response)
      ),
      onInsufficientScope: Effect.fn("OAuthManager.onInsufficientScope")((server, wwwAuthenticate) =>
        StepUp.onInsufficientScope(ctx, server, wwwAuthenticate)
      ),
      login: Effect.fn("OAuthManager.login")(function* (server, loginOptions = {}) {
        return (yield* Login.login(ctx, server, loginOptions).pipe(Login.counted(ctx, server.name))).result
      }),
      beginLogin: Effect.fn("OAuthManager.beginLogin")((server, begin) =>
        WebLogin.beginLogin(ctx, server, begin)
      ),
      completeLogin: Effect.fn("OAuthManager.completeLogin")((callbackUrl) =>
        WebLogin.completeLogin(ctx, callbackUrl)
      ),
      logout: Effect.fn("OAuthManager.logout")((server) => Status.logout(ctx, server)),
      status: Effect.fn("OAuthManager.status")((server) => Status.status(ctx, server))
    } satisfies OAuthManagerShape
  })

/** Valid tokens for MCP servers, and the logins, step-ups and logouts that produce them. */
export class OAuthManager extends Context.Service<OAuthManager, OAuthManagerShape>()(
  "@mcpgate/oauth/OAuthManager"
) {
  /**
   * The manager over its parts; needs a `CredentialStore`, `Discovery`,
   * `Registration`, `AuthorizationFlow` and `PendingLogins`.
   */
  static readonly layerWith = (
    options: OAuthManagerOptions = {}
  ): Layer.Layer<
    OAuthManager,
    never,
    CredentialStore | Discovery | Registration | AuthorizationFlow | PendingLogins
  > => Layer.effect(OAuthManager, make(options))

  /**
   * Everything but the store and the browser: `OAuthManager.layer(options)` then
   * `Layer.provide(CredentialStore.layerAuto)` and `Browser.layer` (or
   * `Browser.layerFollowRedirects`).
   */
  static readonly layer = (
    options: OAuthManagerOptions = {},
    /** Where web logins wait for their callback; a shared store lets any replica complete them. */
    pendingLogins: Layer.Layer<PendingLogins> = PendingLogins.layerMemory
  ): Layer.Layer<OAuthManager, never, CredentialStore | Browser> =>
    OAuthManager.layerWith(options).pipe(
      Layer.provide(
        Layer.mergeAll(Discovery.layer, Registration.layer, AuthorizationFlow.layer, pendingLogins)
      )
    )
}
