/**
 * Each user's own logins to `identity: "user"` servers
 * (docs/teams.md#per-user-credentials): one `OAuthManager` per user over that
 * user's view of the credential store (`CredentialStore.forPrincipal`), so
 * logins, refreshes and revocations of one user never touch another's. Web
 * logins go through the gateway's one OAuth callback; the `state` of each
 * login started here remembers whose it is.
 */
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { type CredentialMetadata, metadata } from "@mcpgate/core/Credential"
import { CredentialStore, type CredentialStoreError, forPrincipal } from "@mcpgate/core/CredentialStore"
import { AuthorizationFlow } from "@mcpgate/oauth/AuthorizationFlow"
import { Browser } from "@mcpgate/oauth/Browser"
import { Discovery } from "@mcpgate/oauth/Discovery"
import { OAuthError } from "@mcpgate/oauth/Errors"
import {
  type AuthStatus,
  type LoginResult,
  type LogoutResult,
  make as makeOAuthManager,
  type OAuthManagerShape
} from "@mcpgate/oauth/OAuthManager"
import {
  makeMemory as makePendingLogins,
  PendingLogins,
  type PendingLoginsShape
} from "@mcpgate/oauth/PendingLogins"
import { Registration } from "@mcpgate/oauth/Registration"
import { Clock, Context, Effect, Layer, Option, Ref, Scope, SynchronizedRef } from "effect"
import { UiRecords } from "../security/UiRecords.ts"

/** How long a started login may take (as `PendingLogins` keeps it). */
const loginTtlMs = 10 * 60 * 1000

export interface UserCredentialsShape {
  /** The config the gateway started with (its `identity: "user"` servers, when no file is loaded). */
  readonly startConfig: McpgateConfig
  /** The user's own manager (made on first use, kept while the gateway runs). */
  readonly managerFor: (user: string) => Effect.Effect<OAuthManagerShape>
  /** Starts the user's web login to `server`: the URL their browser goes to. */
  readonly begin: (
    user: string,
    server: ServerConfig,
    redirectUri: string
  ) => Effect.Effect<{ readonly authUrl: string }, OAuthError>
  /**
   * Completes a login this service started (by the callback URL's `state`);
   * `None` when the state is not one of its logins (the gateway's own, or unknown).
   */
  readonly complete: (
    state: string,
    callbackUrl: string
  ) => Effect.Effect<Option.Option<{ readonly user: string; readonly result: LoginResult }>, OAuthError>
  /** The user's credential for `server`, in words and numbers; never a secret. */
  readonly status: (user: string, server: ServerConfig) => Effect.Effect<AuthStatus, OAuthError>
  /** Revokes (RFC 7009) and deletes the user's credential for `server`. */
  readonly disconnect: (user: string, server: ServerConfig) => Effect.Effect<LogoutResult, OAuthError>
  /** Every user's credential (the gateway's own are not listed), as metadata. */
  readonly list: Effect.Effect<ReadonlyArray<CredentialMetadata>, CredentialStoreError>
  /** Runs `listener` with the user after each of their logins and logouts (pooled connections start over). */
  readonly onChange: (listener: (user: string) => Effect.Effect<void>) => Effect.Effect<void>
  /** Runs the `onChange` listeners for a login or logout of the user made elsewhere (another replica). */
  readonly announce: (user: string) => Effect.Effect<void>
}

interface Parts {
  readonly store: Context.Service.Shape<typeof CredentialStore>
  readonly context: Context.Context<Discovery | Registration | AuthorizationFlow>
  readonly scope: Scope.Scope
  readonly pending: PendingLoginsShape | undefined
}

/**
 * A manager over the user's view of the store. Its pending logins are the
 * gateway's when they are shared (a login begun on one replica completes on
 * another; who began it is in `owners`), else its own.
 */
const makeManager = (parts: Parts, user: string) =>
  Effect.gen(function* () {
    const pending = parts.pending ?? (yield* makePendingLogins)
    return yield* makeOAuthManager({ interactive: false, principal: user }).pipe(
      Effect.provideService(CredentialStore, forPrincipal(parts.store, user)),
      Effect.provideService(PendingLogins, pending),
      Effect.provideContext(parts.context),
      Scope.provide(parts.scope)
    )
  })

const make = Effect.fnUntraced(function* (startConfig: McpgateConfig) {
  const parts: Parts = {
    store: yield* CredentialStore,
    context: yield* Effect.context<Discovery | Registration | AuthorizationFlow>(),
    scope: yield* Effect.scope,
    pending: Option.getOrUndefined(yield* Effect.serviceOption(PendingLogins))
  }
  const managers = yield* SynchronizedRef.make<ReadonlyMap<string, OAuthManagerShape>>(new Map())
  // Whose login a `state` is: in the store's records when there is one, so any replica gets the callback.
  const owners = yield* (yield* UiRecords).forKind("user-login")
  const ownersFailed = (error: { readonly message: string }) =>
    OAuthError.of("connections", "store", `the shared store cannot be reached now: ${error.message}`, {
      retryable: true
    })
  const listeners = yield* Ref.make<ReadonlyArray<(user: string) => Effect.Effect<void>>>([])
  const changed = (user: string) =>
    Effect.flatMap(Ref.get(listeners), (all) =>
      Effect.forEach(all, (listener) => listener(user), { discard: true })
    )
  const managerFor = (user: string) =>
    SynchronizedRef.modifyEffect(managers, (current) => {
      const known = current.get(user)
      if (known !== undefined) return Effect.succeed([known, current] as const)
      return Effect.map(makeManager(parts, user), (made) => [made, new Map(current).set(user, made)] as const)
    })
  return UserCredentials.of({
    startConfig,
    managerFor,
    begin: (user, server, redirectUri) =>
      Effect.gen(function* () {
        const manager = yield* managerFor(user)
        const started = yield* manager.beginLogin(server, { redirectUri })
        const now = yield* Clock.currentTimeMillis
        yield* owners.put(started.state, user, now + loginTtlMs).pipe(Effect.mapError(ownersFailed))
        return { authUrl: started.authorizationUrl }
      }),
    complete: (state, callbackUrl) =>
      Effect.gen(function* () {
        const owner = yield* owners.take(state).pipe(Effect.mapError(ownersFailed))
        if (Option.isNone(owner)) return Option.none()
        const user = owner.value
        const manager = yield* managerFor(user)
        const result = yield* manager.completeLogin(callbackUrl)
        yield* changed(user)
        return Option.some({ user, result })
      }),
    status: (user, server) => Effect.flatMap(managerFor(user), (manager) => manager.status(server)),
    disconnect: (user, server) =>
      Effect.flatMap(managerFor(user), (manager) => manager.logout(server)).pipe(
        Effect.tap(() => changed(user))
      ),
    list: Effect.map(parts.store.list, (all) =>
      all.filter((credential) => credential.principal !== undefined).map(metadata)
    ),
    onChange: (listener) => Ref.update(listeners, (all) => [...all, listener]),
    announce: changed
  })
})

export class UserCredentials extends Context.Service<UserCredentials, UserCredentialsShape>()(
  "@mcpgate/server/UserCredentials"
) {
  /**
   * Needs the `CredentialStore` and `UiRecords` (whose login a callback completes); uses the
   * gateway's `PendingLogins` when provided (shared stores), else each user's own; discovery,
   * registration and flows of its own (never interactive).
   */
  static readonly layer = (
    config: McpgateConfig
  ): Layer.Layer<UserCredentials, never, CredentialStore | UiRecords> =>
    Layer.effect(UserCredentials, make(config)).pipe(
      Layer.provide(
        Layer.mergeAll(Discovery.layer, Registration.layer, AuthorizationFlow.layer).pipe(
          Layer.provide(Browser.layer)
        )
      )
    )
}

/** The servers whose logins are per user. */
export const userServers = (servers: Readonly<Record<string, ServerConfig>>): ReadonlyArray<ServerConfig> =>
  Object.values(servers).filter((server) => server.enabled && server.auth?.identity === "user")
