/**
 * What the modules of `OAuthManager` share: its parts (store, discovery,
 * registration, flows, pending logins), its settings and its per-process state,
 * plus the credential reads and writes every module does the same way.
 */
import type { AuditEvent } from "@mcpgate/core/AuditLog"
import type { ServerConfig } from "@mcpgate/core/Config"
import {
  type ClientRegistration,
  Credential,
  type CredentialKey,
  keyOf,
  type TokenSet
} from "@mcpgate/core/Credential"
import { CredentialStoreError, type CredentialStoreShape } from "@mcpgate/core/CredentialStore"
import { type Cache, Duration, Effect, type FiberSet, Option, Redacted, Ref } from "effect"
import type { AuthorizationFlowShape, GrantContext, Interaction } from "../AuthorizationFlow.ts"
import { type AuthorizationServerInfo, authOf, type DiscoveryShape } from "../Discovery.ts"
import { type NeedsLogin, OAuthError } from "../Errors.ts"
import type { PendingLoginsShape } from "../PendingLogins.ts"
import type { RegistrationShape } from "../Registration.ts"
import type * as Dpop from "./Dpop.ts"
import type { RefreshRequest } from "./Refresh.ts"
import type { StepUpOutcome, StepUpRequest } from "./StepUp.ts"

/** How getting a token fails. */
export type TokenFailure = NeedsLogin | OAuthError

/** The manager's options, resolved. */
export interface Settings {
  /** A 403 step-up may start an interactive login. */
  readonly interactive: boolean
  readonly interaction: Interaction | undefined
  /** Refresh when less than this is left… */
  readonly marginMillis: number
  /** …plus a random part of up to this. */
  readonly jitterMillis: number
  /**
   * How long the network work done while holding a credential's lock may take:
   * half the store's lock wait, so a waiter behind a healthy holder always gets
   * its turn (the rest covers the store's own reads and writes).
   */
  readonly lockBudget: Duration.Duration
}

/** Per-process state, each keyed by `keyOf` of the credential (or by origin for nonces). */
export interface ManagerState {
  /** Nonces the MCP servers handed out (RFC 9449 §9), by origin. */
  readonly resourceNonces: Ref.Ref<ReadonlyMap<string, string>>
  /** Scopes a non-interactive step-up could not get (for `status`, until the stored credential has them). */
  readonly neededScopes: Ref.Ref<ReadonlyMap<string, NeededScopes>>
  /** The times of recent step-ups. */
  readonly stepUpTimes: Ref.Ref<ReadonlyMap<string, ReadonlyArray<number>>>
  /**
   * Credentials refreshed here whose save failed (disk full …). The
   * authorization server has already rotated the refresh token, so dropping the
   * new one would lose the login: it is kept, used, and saved again on the next
   * load, while the store still holds the tokens it replaced.
   */
  readonly unsaved: Ref.Ref<ReadonlyMap<string, Unsaved>>
}

/** Scopes a non-interactive step-up could not get. */
export interface NeededScopes {
  /** What a login would ask for (the granted scopes and the required ones). */
  readonly wanted: ReadonlyArray<string>
  /** What the server asked for. */
  readonly required: ReadonlyArray<string>
}

/** A refreshed credential whose save failed. */
export interface Unsaved {
  readonly credential: Credential
  /** The stored tokens the refresh replaced. */
  readonly replaces: TokenSet | undefined
}

/** The manager's parts, settings and state, given to every internal module. */
export interface ManagerContext {
  readonly store: CredentialStoreShape
  /** Records logins, logouts and failed refreshes (docs/store.md#audit-log); never a secret. */
  readonly audit: (event: AuditEvent) => Effect.Effect<void>
  readonly discovery: DiscoveryShape
  readonly registrations: RegistrationShape
  readonly flows: AuthorizationFlowShape
  readonly pendingLogins: PendingLoginsShape
  readonly settings: Settings
  readonly state: ManagerState
  /** Where refreshes run, so that a caller who gives up does not cancel one the others wait for. */
  readonly fibers: FiberSet.FiberSet<unknown, unknown>
  /** Stored DPoP keys, imported once per process (their handles keep the authorization server's nonce). */
  readonly dpopKeys: Cache.Cache<Dpop.StoredKey, Dpop.DpopKey, Dpop.StoredKeyError>
  /** One refresh per credential at a time in this process (single-flight). */
  readonly refreshes: Cache.Cache<RefreshRequest, TokenSet, TokenFailure>
  /** One step-up per credential at a time in this process (single-flight). */
  readonly stepUps: Cache.Cache<StepUpRequest, StepUpOutcome, OAuthError>
}

/** Empty per-process state. */
export const makeState: Effect.Effect<ManagerState> = Effect.all({
  resourceNonces: Ref.make<ReadonlyMap<string, string>>(new Map()),
  neededScopes: Ref.make<ReadonlyMap<string, NeededScopes>>(new Map()),
  stepUpTimes: Ref.make<ReadonlyMap<string, ReadonlyArray<number>>>(new Map()),
  unsaved: Ref.make<ReadonlyMap<string, Unsaved>>(new Map())
})

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** The store key of a server's credential. */
export const keyFor = (server: ServerConfig): CredentialKey => ({
  server: server.name,
  url: server.url ?? ""
})

/** The credential's storage key (`keyOf`), which keys the per-process state too. */
export const keyString = (server: ServerConfig): string => keyOf(keyFor(server))

/** The same secret value. */
export const sameSecret = (a: Redacted.Redacted<string>, b: Redacted.Redacted<string>): boolean =>
  Redacted.value(a) === Redacted.value(b)

/** The same access and refresh token (or both absent). */
export const sameTokens = (a: TokenSet | undefined, b: TokenSet | undefined): boolean => {
  if (a === undefined || b === undefined) return a === b
  const refresh =
    a.refreshToken === undefined || b.refreshToken === undefined
      ? a.refreshToken === b.refreshToken
      : sameSecret(a.refreshToken, b.refreshToken)
  return refresh && sameSecret(a.accessToken, b.accessToken)
}

/** The same issuer, compared as URLs. */
export const sameIssuer = (a: string | undefined, b: string): boolean =>
  a !== undefined && URL.canParse(a) && URL.canParse(b) && new URL(a).href === new URL(b).href

/** Sets one entry of a map held in a `Ref`. */
export const setEntry = <V>(ref: Ref.Ref<ReadonlyMap<string, V>>, key: string, value: V) =>
  Ref.update(ref, (map) => new Map(map).set(key, value))

/** Removes one entry of a map held in a `Ref`. */
export const deleteEntry = <V>(ref: Ref.Ref<ReadonlyMap<string, V>>, key: string) =>
  Ref.update(ref, (map) => {
    if (!map.has(key)) return map
    const next = new Map(map)
    next.delete(key)
    return next
  })

/** One entry of a map held in a `Ref`. */
export const getEntry = <V>(ref: Ref.Ref<ReadonlyMap<string, V>>, key: string) =>
  Effect.map(Ref.get(ref), (map) => map.get(key))

/** A credential with some fields replaced or (with `undefined`) removed. */
export const withFields = (
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

/** A store failure as an `OAuthError` of reason "store"; retryable when a shared store is unreachable for now. */
export const storeError = (server: string) => (error: CredentialStoreError) =>
  OAuthError.of(server, "store", `the credential store failed: ${error.message}`, {
    retryable: error.reason === "unavailable"
  })

// ---------------------------------------------------------------------------
// The credential in the store
// ---------------------------------------------------------------------------

/** The credential as the store holds it now. */
export const readStored = (ctx: ManagerContext, server: ServerConfig) =>
  ctx.store
    .get(keyFor(server))
    .pipe(Effect.map(Option.getOrUndefined), Effect.mapError(storeError(server.name)))

/**
 * The credential to use: the stored one, or one refreshed here whose save
 * failed. The latter is saved again, under the lock, while the store still
 * holds the tokens it replaced; once the store holds anything else (another
 * process refreshed, logged in or out) that wins and the unsaved one is dropped.
 */
export const load = (ctx: ManagerContext, server: ServerConfig) =>
  Effect.gen(function* () {
    const key = keyString(server)
    if ((yield* getEntry(ctx.state.unsaved, key)) === undefined) return yield* readStored(ctx, server)
    return yield* locked(
      ctx,
      server,
      Effect.gen(function* () {
        const stored = yield* readStored(ctx, server)
        const unsaved = yield* getEntry(ctx.state.unsaved, key)
        if (unsaved === undefined) return stored
        if (stored === undefined || !sameTokens(stored.tokens, unsaved.replaces)) {
          yield* deleteEntry(ctx.state.unsaved, key)
          return stored
        }
        const saved = yield* Effect.result(ctx.store.set(unsaved.credential))
        if (saved._tag === "Success") yield* deleteEntry(ctx.state.unsaved, key)
        return unsaved.credential
      })
    )
  })

/** Keeps a refreshed credential whose save failed (see `ManagerState.unsaved`). */
export const keepUnsaved = (
  ctx: ManagerContext,
  server: ServerConfig,
  credential: Credential,
  replaces: TokenSet | undefined
) => setEntry(ctx.state.unsaved, keyString(server), { credential, replaces })

/** Saves; a successful save supersedes any credential kept in `unsaved`. */
export const save = (ctx: ManagerContext, server: ServerConfig, credential: Credential) =>
  ctx.store.set(credential).pipe(
    Effect.tap(() => deleteEntry(ctx.state.unsaved, keyString(server))),
    Effect.mapError(storeError(server.name))
  )

/** Runs `effect` holding the credential's lock (this process and others); store failures become OAuthErrors. */
export const locked = <A, E>(
  ctx: ManagerContext,
  server: ServerConfig,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E | OAuthError> =>
  ctx.store.withLock(keyFor(server), effect).pipe(
    Effect.catchIf(
      (error): error is CredentialStoreError => error instanceof CredentialStoreError,
      (error) =>
        Effect.fail(
          error.reason === "locked"
            ? // Another process holds the lock longer than we wait: busy, not broken.
              OAuthError.of(
                server.name,
                "store",
                `another process is updating this credential (${error.message}); try again`,
                { retryable: true }
              )
            : storeError(server.name)(error)
        )
    )
  )

/**
 * Bounds network work done while holding the credential's lock to
 * `settings.lockBudget`; past it the work is abandoned with a retryable error
 * and the lock is released for the next one.
 */
export const withinLockBudget = <A, E>(
  ctx: ManagerContext,
  server: ServerConfig,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E | OAuthError> =>
  Effect.timeoutOrElse(effect, {
    duration: ctx.settings.lockBudget,
    orElse: () =>
      Effect.fail(
        OAuthError.of(
          server.name,
          "network",
          `the authorization server did not finish within ${Duration.format(ctx.settings.lockBudget)}; the credential is kept for a later retry`,
          { retryable: true }
        )
      )
  })

// ---------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------

/** The metadata of the authorization server that issued the credential. */
export const authorizationServerOf = (ctx: ManagerContext, server: ServerConfig, credential: Credential) =>
  ctx.discovery.authorizationServer(server, credential.issuer ?? new URL(server.url ?? "").origin)

/** What every grant needs: the server, its authorization server, our client there, and the request's extras. */
export const grantContext = (
  ctx: ManagerContext,
  server: ServerConfig,
  authorizationServer: AuthorizationServerInfo,
  registration: ClientRegistration,
  extra: {
    readonly resource?: string | undefined
    readonly scope?: string | undefined
    readonly dpop?: Dpop.DpopKey | undefined
  }
): Effect.Effect<GrantContext, OAuthError> =>
  Effect.map(ctx.registrations.session(server, registration), (session) => ({
    server,
    authorizationServer,
    session,
    audience: authOf(server).audience,
    resource: extra.resource,
    scope: extra.scope,
    dpop: extra.dpop?.handle
  }))
