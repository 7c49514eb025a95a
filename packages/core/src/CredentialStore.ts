/**
 * Where credentials live (SPEC §2): get / set / delete / list, plus
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
import { createHash, randomUUID } from "node:crypto"
import * as path from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Clock, Config, Context, Duration, Effect, FileSystem, Layer, Option, Result, Schema } from "effect"
import {
  type Credential,
  type CredentialDocumentError,
  type CredentialKey,
  canonicalUrl,
  formatDocument,
  keyOf,
  parseDocument,
  sortByKey
} from "./Credential.ts"
import * as CredentialFile from "./internal/CredentialFile.ts"
import { type FileLockError, withExclusive } from "./internal/FileLock.ts"
import * as Keychain from "./internal/Keychain.ts"
import * as Paths from "./Paths.ts"

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

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
    "invalid-config"
  ]),
  message: Schema.String,
  /** For "corrupt": where the unreadable data was kept. */
  movedTo: Schema.optionalKey(Schema.String)
}) {}

export type Backend = "keychain" | "file" | "memory"

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

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

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
}

export type AutoOptions = KeychainOptions

export const tokenStoreVariable = "MCPGATE_TOKEN_STORE"
export const tokenStoreSettings = ["auto", "keychain", "file", "memory"] as const
export type TokenStoreSetting = (typeof tokenStoreSettings)[number]

export const credentialsFileName = "credentials.json"

// ---------------------------------------------------------------------------
// State directory
// ---------------------------------------------------------------------------

/**
 * `$MCPGATE_HOME` if set, else `$XDG_STATE_HOME/mcpgate` (an absolute
 * `XDG_STATE_HOME` only, as the XDG spec says), else `~/.local/state/mcpgate`.
 */
/** The state directory from the environment read through `Config` (so a `ConfigProvider` can supply it). */
export const stateDirectoryFromConfig: Effect.Effect<string, CredentialStoreError> = Effect.gen(function* () {
  const env = {
    MCPGATE_HOME: yield* optionalSetting("MCPGATE_HOME"),
    XDG_STATE_HOME: yield* optionalSetting("XDG_STATE_HOME"),
    HOME: yield* optionalSetting("HOME")
  }
  return path.resolve(Paths.stateDirectory(env))
})

const optionalSetting = (name: string): Effect.Effect<string | undefined, CredentialStoreError> =>
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

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

const describeKey = (key: CredentialKey): string => `"${key.server}" (${canonicalUrl(key.url)})`

const fromLockError =
  (what: string) =>
  (error: FileLockError): CredentialStoreError =>
    new CredentialStoreError({
      reason: error.reason === "timeout" ? "locked" : "io",
      message: `could not lock ${what}: ${error.message}`
    })

const lockSettings = (options: LockOptions) => ({
  timeout: options.lockTimeout ?? "30 seconds",
  staleAfter: options.staleLockAfter ?? "60 seconds"
})

/** `<dir>/locks/<sha256 of keyOf>.lock`: one lock file per credential, shared by the file and keychain layers. */
const keyLockFile = (directory: string, key: CredentialKey): string =>
  path.join(directory, "locks", `${createHash("sha256").update(keyOf(key)).digest("hex").slice(0, 32)}.lock`)

const ioError = (error: { readonly message: string }) =>
  new CredentialStoreError({ reason: "io", message: error.message })

const isCorrupt = (
  error: CredentialDocumentError | CredentialFile.FileError
): error is CredentialDocumentError => error._tag === "CredentialDocumentError" && error.reason === "corrupt"

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

export const makeMemory = (options: LockOptions = {}): Effect.Effect<CredentialStoreShape> =>
  Effect.sync(() => {
    const instance = randomUUID()
    const credentials = new Map<string, Credential>()
    return {
      backend: "memory",
      description: "memory (nothing is kept after the process exits)",
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
// File
// ---------------------------------------------------------------------------

/**
 * The file store. Every mutation is a read-modify-write of the whole document
 * under the store lock (`credentials.lock`), written atomically, so processes
 * updating different keys never lose each other's writes. Reads take no lock:
 * the file is only ever replaced by rename, so a reader sees an old or a new
 * document, never half of one.
 *
 * A corrupt file (not JSON, not the schema) is moved to
 * `credentials.json.corrupt-<timestamp>` and the operation that found it fails
 * with reason "corrupt" naming that path; later operations see an empty store
 * (so the user logs in again) and nothing in the moved file is ever printed.
 * A file from a newer mcpgate ("unsupported-version") is not corrupt: it is left
 * in place and every operation fails until mcpgate is upgraded.
 *
 * Lock order: a key lock (`withLock`) may be held while the store lock is
 * taken (by `set` inside `withLock`); the store lock is never held while a key
 * lock is taken, so the two cannot deadlock.
 */
export const makeFile = (
  options: FileOptions = {}
): Effect.Effect<CredentialStoreShape, CredentialStoreError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const directory =
      options.directory === undefined ? yield* stateDirectoryFromConfig : path.resolve(options.directory)
    const file = path.join(directory, credentialsFileName)
    const storeLock = path.join(directory, "credentials.lock")
    const lock = lockSettings(options)
    const withFs = Effect.provideService(FileSystem.FileSystem, yield* FileSystem.FileSystem)
    yield* CredentialFile.ensureDirectory(directory).pipe(Effect.mapError(ioError))
    yield* CredentialFile.tightenFile(file).pipe(Effect.mapError(ioError))

    const withStoreLock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      withExclusive(
        storeLock,
        { file: storeLock, lock, onError: fromLockError(`the credentials file ${file}`) },
        effect
      )

    const readDocument = CredentialFile.read(file).pipe(
      withFs,
      Effect.flatMap(
        Option.match({
          onNone: () => Effect.succeed<ReadonlyMap<string, Credential>>(new Map()),
          onSome: parseDocument
        })
      )
    )

    const documentError = (
      error: CredentialDocumentError | CredentialFile.FileError
    ): CredentialStoreError =>
      error._tag === "FileError"
        ? ioError(error)
        : new CredentialStoreError({
            reason: error.reason,
            message:
              error.reason === "unsupported-version"
                ? `the credentials file ${file} ${error.message}; it was left unchanged`
                : `the credentials file ${file} ${error.message}`
          })

    // A corrupt file is re-checked under the store lock (a writer may have just
    // replaced it) and only then moved aside.
    const load: Effect.Effect<ReadonlyMap<string, Credential>, CredentialStoreError> = readDocument.pipe(
      Effect.catchIf(isCorrupt, () =>
        withStoreLock(
          readDocument.pipe(
            Effect.catchIf(isCorrupt, (error) =>
              Effect.gen(function* () {
                const movedTo = yield* CredentialFile.moveAside(file, yield* Clock.currentTimeMillis).pipe(
                  withFs,
                  Effect.mapError(ioError)
                )
                return yield* new CredentialStoreError({
                  reason: "corrupt",
                  message: `the credentials file ${file} ${error.message}; it was moved to ${movedTo} and the store starts empty (log in again, or repair that file and move it back)`,
                  movedTo
                })
              })
            )
          )
        )
      ),
      Effect.mapError((error) => (error._tag === "CredentialStoreError" ? error : documentError(error)))
    )

    const mutate = <A>(
      change: (credentials: Map<string, Credential>) => { readonly changed: boolean; readonly result: A }
    ): Effect.Effect<A, CredentialStoreError> =>
      withStoreLock(
        Effect.gen(function* () {
          const credentials = new Map(yield* load)
          const { changed, result } = change(credentials)
          if (changed) {
            const now = yield* Clock.currentTimeMillis
            yield* CredentialFile.removeStrayTempFiles(file, now, Duration.toMillis(lock.staleAfter)).pipe(
              withFs,
              Effect.mapError(ioError)
            )
            const content = yield* formatDocument(credentials.values())
            yield* CredentialFile.writeAtomic(file, content).pipe(withFs, Effect.mapError(ioError))
          }
          return result
        })
      )

    return {
      backend: "file",
      description: `file ${file}`,
      get: Effect.fn("CredentialStore.get")(function* (key: CredentialKey) {
        return Option.fromUndefinedOr((yield* load).get(keyOf(key)))
      }),
      set: Effect.fn("CredentialStore.set")(function* (credential: Credential) {
        yield* mutate((credentials) => {
          credentials.set(keyOf(credential), credential)
          return { changed: true, result: undefined }
        })
      }),
      delete: Effect.fn("CredentialStore.delete")(function* (key: CredentialKey) {
        return yield* mutate((credentials) => {
          const existed = credentials.delete(keyOf(key))
          return { changed: existed, result: existed }
        })
      }),
      list: Effect.map(load, (credentials) => sortByKey(credentials.values())).pipe(
        Effect.withSpan("CredentialStore.list")
      ),
      withLock: (key, effect) => {
        const lockFile = keyLockFile(directory, key)
        return withExclusive(
          lockFile,
          { file: lockFile, lock, onError: fromLockError(`the credential ${describeKey(key)}`) },
          effect
        )
      }
    } satisfies CredentialStoreShape
  })

// ---------------------------------------------------------------------------
// Keychain
// ---------------------------------------------------------------------------

/** The keychain account holding the list of stored keys. */
export const keychainIndexAccount = "__index__"

const KeychainIndex = Schema.Struct({ version: Schema.Literal(1), keys: Schema.Array(Schema.String) })

/**
 * The keychain store: one entry per credential (service `mcpgate`, account =
 * `keyOf`, password = a one-credential document), plus an index entry
 * (`__index__`) with the keys, because the platforms do not all list entries
 * reliably. `set` adds the key to the index before it writes the entry and
 * `delete` removes the entry before the key, so an interrupted operation can
 * leave an index key without an entry (skipped by `list`) but never an entry
 * `list` cannot see. Index updates and `withLock` use lock files in the state
 * directory.
 */
export const makeKeychain = (
  options: KeychainOptions = {},
  check: "probe" | "probed" = "probe"
): Effect.Effect<CredentialStoreShape, CredentialStoreError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const service = options.service ?? "mcpgate"
    const timeout = options.operationTimeout ?? "10 seconds"
    const directory =
      options.directory === undefined ? yield* stateDirectoryFromConfig : path.resolve(options.directory)
    const lock = lockSettings(options)
    const description = `keychain (${Keychain.platformName}, service "${service}")`
    if (check === "probe") {
      yield* Keychain.probe(service, options.probeTimeout ?? "2 seconds").pipe(Effect.mapError(unavailable))
    }
    yield* CredentialFile.ensureDirectory(directory).pipe(Effect.mapError(ioError))
    const indexLock = path.join(directory, "keychain.lock")

    const entryName = (account: string) => `keychain entry "${account}" (service "${service}")`

    const moveAside = (account: string, raw: string) =>
      Effect.gen(function* () {
        const stamp = new Date(yield* Clock.currentTimeMillis).toISOString().replace(/:/g, "-")
        const target = `${account}.corrupt-${stamp}`
        yield* Keychain.setPassword(service, target, raw, timeout)
        yield* Keychain.deletePassword(service, account, timeout)
        return entryName(target)
      }).pipe(Effect.mapError(unavailable))

    const readEntry = (account: string): Effect.Effect<Option.Option<Credential>, CredentialStoreError> =>
      Effect.gen(function* () {
        const raw = yield* Keychain.getPassword(service, account, timeout).pipe(Effect.mapError(unavailable))
        if (Option.isNone(raw)) return Option.none()
        const parsed = yield* Effect.result(parseDocument(raw.value))
        if (Result.isSuccess(parsed)) return Option.fromUndefinedOr(parsed.success.get(account))
        const error = parsed.failure
        if (error.reason === "unsupported-version") {
          return yield* new CredentialStoreError({
            reason: "unsupported-version",
            message: `the ${entryName(account)} ${error.message}; it was left unchanged`
          })
        }
        const movedTo = yield* moveAside(account, raw.value)
        return yield* new CredentialStoreError({
          reason: "corrupt",
          message: `the ${entryName(account)} ${error.message}; it was moved to ${movedTo} (log in again)`,
          movedTo
        })
      })

    const readIndex: Effect.Effect<ReadonlyArray<string>, CredentialStoreError> = Effect.gen(function* () {
      const raw = yield* Keychain.getPassword(service, keychainIndexAccount, timeout).pipe(
        Effect.mapError(unavailable)
      )
      if (Option.isNone(raw)) return []
      const parsed = parseIndex(raw.value)
      if (Result.isSuccess(parsed)) return parsed.success
      if (parsed.failure === "unsupported-version") {
        return yield* new CredentialStoreError({
          reason: "unsupported-version",
          message: `the ${entryName(keychainIndexAccount)} was written by a newer mcpgate; upgrade mcpgate`
        })
      }
      const movedTo = yield* moveAside(keychainIndexAccount, raw.value)
      return yield* new CredentialStoreError({
        reason: "corrupt",
        message: `the ${entryName(keychainIndexAccount)} was unreadable; it was moved to ${movedTo} (stored credentials reappear in the list when next saved)`,
        movedTo
      })
    })

    const updateIndex = (change: (keys: Set<string>) => boolean) =>
      withExclusive(
        indexLock,
        { file: indexLock, lock, onError: fromLockError(`the ${entryName(keychainIndexAccount)}`) },
        Effect.gen(function* () {
          const keys = new Set(yield* readIndex)
          if (!change(keys)) return
          const text = JSON.stringify({ version: 1, keys: [...keys].sort() })
          yield* Keychain.setPassword(service, keychainIndexAccount, text, timeout).pipe(
            Effect.mapError(unavailable)
          )
        })
      )

    return {
      backend: "keychain",
      description,
      get: Effect.fn("CredentialStore.get")(function* (key: CredentialKey) {
        return yield* readEntry(keyOf(key))
      }),
      set: Effect.fn("CredentialStore.set")(function* (credential: Credential) {
        const account = keyOf(credential)
        // The index only changes when a key is new; skip its lock otherwise.
        if (!(yield* readIndex).includes(account)) {
          yield* updateIndex((keys) => {
            if (keys.has(account)) return false
            keys.add(account)
            return true
          })
        }
        const text = yield* formatDocument([credential])
        yield* Keychain.setPassword(service, account, text, timeout).pipe(Effect.mapError(unavailable))
      }),
      delete: Effect.fn("CredentialStore.delete")(function* (key: CredentialKey) {
        const account = keyOf(key)
        const existed = yield* Keychain.deletePassword(service, account, timeout).pipe(
          Effect.mapError(unavailable)
        )
        if ((yield* readIndex).includes(account)) yield* updateIndex((keys) => keys.delete(account))
        return existed
      }),
      list: Effect.gen(function* () {
        const found: Array<Credential> = []
        for (const account of yield* readIndex) {
          const credential = yield* readEntry(account)
          if (Option.isSome(credential)) found.push(credential.value)
        }
        return sortByKey(found)
      }).pipe(Effect.withSpan("CredentialStore.list")),
      withLock: (key, effect) => {
        const lockFile = keyLockFile(directory, key)
        return withExclusive(
          lockFile,
          { file: lockFile, lock, onError: fromLockError(`the credential ${describeKey(key)}`) },
          effect
        )
      }
    } satisfies CredentialStoreShape
  })

const unavailable = (error: Keychain.KeychainError) =>
  new CredentialStoreError({
    reason: "keychain-unavailable",
    message: `the OS keychain is not usable: ${error.message}`
  })

const parseIndex = (
  text: string
): Result.Result<ReadonlyArray<string>, "corrupt" | "unsupported-version"> => {
  const json = Result.try(() => JSON.parse(text) as unknown)
  if (Result.isFailure(json)) return Result.fail("corrupt")
  const decoded = Schema.decodeUnknownResult(KeychainIndex)(json.success)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success.keys)
  const version: unknown =
    typeof json.success === "object" && json.success !== null
      ? (json.success as Record<string, unknown>).version
      : undefined
  return Result.fail(typeof version === "number" && version > 1 ? "unsupported-version" : "corrupt")
}

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
