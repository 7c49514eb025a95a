/**
 * What every `CredentialStore` implementation shares: the contract (re-exported
 * by ../CredentialStore.ts, where it is documented for users), the options, the
 * state directory and the per-credential lock files.
 */
import * as path from "node:path"
import { Config, Duration, Effect, Option, Schema } from "effect"
import { type Credential, type CredentialKey, canonicalUrl, keyOf } from "../Credential.ts"
import * as Paths from "../Paths.ts"
import type { FileLockError } from "./FileLock.ts"
import { nodeCrypto } from "./NodeCrypto.ts"

export class CredentialStoreError extends Schema.TaggedError<CredentialStoreError>()("CredentialStoreError", {
  reason: Schema.Literals([
    /** The stored data could not be read; it was moved aside (`movedTo`) and the store starts empty. */
    "corrupt",
    /** The file system failed (permissions, disk full, …). */
    "io",
    /** The OS keychain cannot be used (no session bus, locked, absent). */
    "keychain-unavailable",
    /** The lock was not obtained in time (another process holds it). */
    "locked",
    /** The data was written by a newer mcpgate; it is left untouched. */
    "unsupported-version",
    /** `MCPGATE_TOKEN_STORE` (or another setting) has a value we do not accept. */
    "invalid-config",
    /** A shared store (a database) cannot be reached now; nothing was changed, and a later retry may work. */
    "unavailable"
  ]),
  message: Schema.String,
  /** For "corrupt": where the unreadable data was kept. */
  movedTo: Schema.optionalKey(Schema.String)
}) {}

export type Backend = "keychain" | "file" | "memory" | "postgres"

export interface CredentialStoreShape {
  readonly backend: Backend
  /** For `status`, e.g. `file /home/me/.local/state/mcpgate/credentials.json`. */
  readonly description: string
  readonly get: (key: CredentialKey) => Effect.Effect<Option.Option<Credential>, CredentialStoreError>
  /** Inserts or replaces the credential with the same `keyOf`. */
  readonly set: (credential: Credential) => Effect.Effect<void, CredentialStoreError>
  /** Succeeds with whether a credential was there. */
  readonly delete: (key: CredentialKey) => Effect.Effect<boolean, CredentialStoreError>
  /** Every credential, sorted by `keyOf`. */
  readonly list: Effect.Effect<ReadonlyArray<Credential>, CredentialStoreError>
  /**
   * How long `withLock` waits for a lock before it fails with reason "locked".
   * Work done while holding a lock should stay well below it, so that waiters
   * behind a healthy holder get their turn.
   */
  readonly lockTimeout: Duration.Duration
  /**
   * Runs `effect` while holding the lock of `key`: no other fiber of this
   * process and no other process runs `withLock` for that key meanwhile, so
   * `effect` must re-read (`get`) inside the lock before it decides. Re-entrant
   * for the same key; do not nest two different keys (lock order is not
   * defined). Fails with reason "locked" after the lock timeout (default 30 s).
   */
  readonly withLock: <A, E, R>(
    key: CredentialKey,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | CredentialStoreError, R>
}

export interface LockOptions {
  /** How long `withLock` and writes wait for a lock (default 30 s). */
  readonly lockTimeout?: Duration.Input
  /** A lock file not refreshed for this long is stale (default 60 s; holders refresh it at a quarter of that). */
  readonly staleLockAfter?: Duration.Input
}

export interface FileOptions extends LockOptions {
  /** Default: the state directory (see `stateDirectoryFromConfig`). */
  readonly directory?: string
}

export interface KeychainOptions extends LockOptions {
  /** Where the lock files live. Default: the state directory. */
  readonly directory?: string
  /** The keychain service name (default `mcpgate`). */
  readonly service?: string
  /** Limit for the write/read/delete probe (default 2 s). */
  readonly probeTimeout?: Duration.Input
  /** Limit for one keychain call (default 10 s). */
  readonly operationTimeout?: Duration.Input
  /**
   * The largest password one keychain entry holds, in bytes as the platform
   * stores it (UTF-16 on Windows); a larger credential is split across entries.
   * Default: 2,560 on Windows (Credential Manager's limit), none elsewhere
   * (macOS Keychain and Secret Service hold far more, and every extra entry is
   * an extra keychain call). `undefined` means no limit.
   */
  readonly maxEntryBytes?: number | undefined
}

export type AutoOptions = KeychainOptions

export const tokenStoreVariable = "MCPGATE_TOKEN_STORE"
export const tokenStoreSettings = ["auto", "keychain", "file", "memory"] as const
export type TokenStoreSetting = (typeof tokenStoreSettings)[number]

export const credentialsFileName = "credentials.json"

/**
 * The state directory from the environment read through `Config` (so a
 * `ConfigProvider` can supply it): `$MCPGATE_HOME` if set, else
 * `$XDG_STATE_HOME/mcpgate` (an absolute `XDG_STATE_HOME` only, as the XDG spec
 * says), else `~/.local/state/mcpgate`.
 */
export const stateDirectoryFromConfig: Effect.Effect<string, CredentialStoreError> = Effect.gen(function* () {
  const env = {
    MCPGATE_HOME: yield* optionalSetting("MCPGATE_HOME"),
    XDG_STATE_HOME: yield* optionalSetting("XDG_STATE_HOME"),
    HOME: yield* optionalSetting("HOME")
  }
  return path.resolve(Paths.stateDirectory(env))
})

/** The state directory `MCPGATE_HOME` would replace: `$XDG_STATE_HOME/mcpgate` or `~/.local/state/mcpgate`. */
export const defaultStateDirectoryFromConfig: Effect.Effect<string, CredentialStoreError> = Effect.gen(
  function* () {
    const env = {
      XDG_STATE_HOME: yield* optionalSetting("XDG_STATE_HOME"),
      HOME: yield* optionalSetting("HOME")
    }
    return path.resolve(Paths.stateDirectory(env))
  }
)

export const optionalSetting = (name: string): Effect.Effect<string | undefined, CredentialStoreError> =>
  Config.option(Config.String(name)).pipe(
    Effect.map((value) => Option.getOrUndefined(Option.filter(value, (text) => text.trim() !== ""))),
    Effect.mapError(
      (error) =>
        new CredentialStoreError({
          reason: "invalid-config",
          message: `could not read ${name}: ${error.message}`
        })
    )
  )

export const describeKey = (key: CredentialKey): string =>
  `"${key.server}" (${canonicalUrl(key.url)})${key.principal === undefined ? "" : ` of user "${key.principal}"`}`

export const fromLockError =
  (what: string) =>
  (error: FileLockError): CredentialStoreError =>
    new CredentialStoreError({
      reason: error.reason === "timeout" ? "locked" : "io",
      message: `could not lock ${what}: ${error.message}`
    })

export const lockSettings = (options: LockOptions) => ({
  timeout: options.lockTimeout ?? "30 seconds",
  staleAfter: options.staleLockAfter ?? "60 seconds"
})

export const lockTimeoutOf = (options: LockOptions): Duration.Duration =>
  Duration.fromInputUnsafe(lockSettings(options).timeout)

/**
 * `<dir>/locks/<sha256 of keyOf>.lock`: one lock file per credential (given as a
 * key or its `keyOf`), shared by the file and keychain layers.
 */
export const keyLockFile = (directory: string, key: CredentialKey | string): string =>
  path.join(
    directory,
    "locks",
    `${nodeCrypto()
      .createHash("sha256")
      .update(typeof key === "string" ? key : keyOf(key))
      .digest("hex")
      .slice(0, 32)}.lock`
  )

export const ioError = (error: { readonly message: string }) =>
  new CredentialStoreError({ reason: "io", message: error.message })
