/**
 * Where credentials live (docs/credentials.md#backends, #locking): get / set / delete / list, plus
 * `withLock(key, effect)` for a read-modify-write of one credential that is
 * exclusive across the fibers of this process and across processes (the OAuth
 * refresh runs inside it).
 *
 * Layers: `layerKeychain` (the OS keychain), `layerFile` (`credentials.json` in
 * the state directory), `layerMemory`, and `layerAuto`, which picks one from
 * `MCPGATE_TOKEN_STORE`. The interface has no file-system idea in it, so a
 * Redis or Postgres layer can implement it for several gateway replicas.
 *
 * Error messages name servers, URLs and paths, never a secret.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Context, Effect, type FileSystem, Layer, Option, Result } from "effect"
import { Credential, keyOf, sortByKey } from "./Credential.ts"
import { withExclusive } from "./internal/FileLock.ts"
import { makeFile } from "./internal/FileStore.ts"
import * as Keychain from "./internal/Keychain.ts"
import { makeKeychain } from "./internal/KeychainStore.ts"
import {
  type AutoOptions,
  CredentialStoreError,
  type CredentialStoreShape,
  describeKey,
  type FileOptions,
  fromLockError,
  type KeychainOptions,
  type LockOptions,
  lockSettings,
  lockTimeoutOf,
  optionalSetting,
  type TokenStoreSetting,
  tokenStoreSettings,
  tokenStoreVariable
} from "./internal/StoreSupport.ts"

export { makeFile } from "./internal/FileStore.ts"
export { keychainIndexAccount, makeKeychain } from "./internal/KeychainStore.ts"
export {
  type AutoOptions,
  type Backend,
  CredentialStoreError,
  type CredentialStoreShape,
  credentialsFileName,
  type FileOptions,
  type KeychainOptions,
  type LockOptions,
  stateDirectoryFromConfig,
  type TokenStoreSetting,
  tokenStoreSettings,
  tokenStoreVariable
} from "./internal/StoreSupport.ts"

import { nodeCrypto } from "./internal/NodeCrypto.ts"

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

export const makeMemory = (options: LockOptions = {}): Effect.Effect<CredentialStoreShape> =>
  Effect.sync(() => {
    const instance = nodeCrypto().randomUUID()
    const credentials = new Map<string, Credential>()
    return {
      backend: "memory",
      description: "memory (nothing is kept after the process exits)",
      lockTimeout: lockTimeoutOf(options),
      get: (key) => Effect.sync(() => Option.fromUndefinedOr(credentials.get(keyOf(key)))),
      set: (credential) =>
        Effect.sync(() => {
          credentials.set(keyOf(credential), credential)
        }),
      delete: (key) => Effect.sync(() => credentials.delete(keyOf(key))),
      list: Effect.sync(() => sortByKey(credentials.values())),
      withLock: (key, effect) =>
        withExclusive(
          `memory:${instance}:${keyOf(key)}`,
          { lock: lockSettings(options), onError: fromLockError(`the credential ${describeKey(key)}`) },
          effect
        )
    } satisfies CredentialStoreShape
  })

// ---------------------------------------------------------------------------
// One user's credentials
// ---------------------------------------------------------------------------

/**
 * The credentials of one user (docs/teams.md#per-user-credentials), over any
 * store: every key gets `principal`, `set` stamps it on the credential, and
 * `list` shows that user's only. An `OAuthManager` over this view logs in,
 * refreshes and revokes for that user alone; its locks are that user's too.
 */
export const forPrincipal = (store: CredentialStoreShape, principal: string): CredentialStoreShape => ({
  ...store,
  get: (key) => store.get({ server: key.server, url: key.url, principal }),
  set: (credential) =>
    store.set(credential.principal === principal ? credential : new Credential({ ...credential, principal })),
  delete: (key) => store.delete({ server: key.server, url: key.url, principal }),
  list: Effect.map(store.list, (credentials) =>
    credentials.filter((credential) => credential.principal === principal)
  ),
  withLock: (key, effect) => store.withLock({ server: key.server, url: key.url, principal }, effect)
})

// ---------------------------------------------------------------------------
// Auto
// ---------------------------------------------------------------------------

/** `MCPGATE_TOKEN_STORE`, defaulting to `auto`; any other value is an "invalid-config" error. */
export const tokenStoreSetting: Effect.Effect<TokenStoreSetting, CredentialStoreError> = Effect.gen(
  function* () {
    const raw = (yield* optionalSetting(tokenStoreVariable))?.trim().toLowerCase() ?? "auto"
    const setting = tokenStoreSettings.find((allowed) => allowed === raw)
    if (setting === undefined) {
      return yield* new CredentialStoreError({
        reason: "invalid-config",
        message: `${tokenStoreVariable} must be one of ${tokenStoreSettings.join(", ")} (got "${raw}")`
      })
    }
    return setting
  }
)

export const makeAuto = (
  options: AutoOptions = {}
): Effect.Effect<CredentialStoreShape, CredentialStoreError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const setting = yield* tokenStoreSetting
    switch (setting) {
      case "memory":
        return yield* makeMemory(options)
      case "file":
        return yield* makeFile(options)
      case "keychain":
        return yield* makeKeychain(options, "probe")
      case "auto": {
        const probed = yield* Effect.result(
          Keychain.probe(options.service ?? "mcpgate", options.probeTimeout ?? "2 seconds")
        )
        if (Result.isSuccess(probed)) {
          const store = yield* makeKeychain(options, "probed")
          return { ...store, description: `${store.description}, chosen by ${tokenStoreVariable}=auto` }
        }
        const store = yield* makeFile(options)
        return {
          ...store,
          description: `${store.description}, chosen by ${tokenStoreVariable}=auto because the OS keychain is not usable: ${probed.failure.message}`
        }
      }
    }
  })

// ---------------------------------------------------------------------------
// Service and layers
// ---------------------------------------------------------------------------

export class CredentialStore extends Context.Service<CredentialStore, CredentialStoreShape>()(
  "@mcpgate/core/CredentialStore"
) {
  /** In-process only: nothing survives the process. `withLock` serialises this process's fibers. */
  static readonly layerMemory: Layer.Layer<CredentialStore> = Layer.effect(this, makeMemory())

  /** `layerMemory` with lock options. */
  static readonly layerMemoryWith = (options: LockOptions): Layer.Layer<CredentialStore> =>
    Layer.effect(CredentialStore, makeMemory(options))

  /** `credentials.json` (0600) in the state directory (0700); see `makeFile`. */
  static readonly layerFile = (
    options: FileOptions = {}
  ): Layer.Layer<CredentialStore, CredentialStoreError> =>
    Layer.effect(CredentialStore, makeFile(options)).pipe(Layer.provide(NodeFileSystem.layer))

  /** The OS keychain; fails with "keychain-unavailable" when its probe fails (never falls back). */
  static readonly layerKeychain = (
    options: KeychainOptions = {}
  ): Layer.Layer<CredentialStore, CredentialStoreError> =>
    Layer.effect(CredentialStore, makeKeychain(options, "probe")).pipe(Layer.provide(NodeFileSystem.layer))

  /**
   * Chooses from `MCPGATE_TOKEN_STORE` (read through `Config`, so a
   * `ConfigProvider` can supply it): `auto` (default) probes the keychain and
   * falls back to the file when the probe fails, saying so in `description`;
   * `keychain` | `file` | `memory` force one (an unusable keychain is then an
   * error). Any other value is an "invalid-config" error.
   */
  static readonly layerAutoWith = (
    options: AutoOptions = {}
  ): Layer.Layer<CredentialStore, CredentialStoreError> =>
    Layer.effect(CredentialStore, makeAuto(options)).pipe(Layer.provide(NodeFileSystem.layer))

  /** `layerAutoWith` with the defaults (state directory, service `mcpgate`). */
  static readonly layerAuto: Layer.Layer<CredentialStore, CredentialStoreError> = Layer.effect(
    this,
    makeAuto()
  ).pipe(Layer.provide(NodeFileSystem.layer))
}

export const layerMemory = CredentialStore.layerMemory
export const layerMemoryWith = CredentialStore.layerMemoryWith
export const layerFile = CredentialStore.layerFile
export const layerKeychain = CredentialStore.layerKeychain
export const layerAuto = CredentialStore.layerAuto
export const layerAutoWith = CredentialStore.layerAutoWith
