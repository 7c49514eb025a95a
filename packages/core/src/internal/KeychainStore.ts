/**
 * `CredentialStore.layerKeychain`: one OS keychain entry per credential (service
 * `mcpgate`, password = a one-credential document), plus an index entry with the
 * keys, because the platforms do not all list entries reliably. `set` adds the
 * key to the index before it writes the entry and `delete` removes the entry
 * before the key, so an interrupted operation can leave an index key without an
 * entry (skipped by `list`) but never an entry `list` cannot see.
 *
 * Entries belong to one state directory: account `<scope>|<keyOf>` and index
 * `<scope>|__index__`, where the scope is a hash of the state directory's
 * canonical path. Index updates and `withLock` use lock files in that directory,
 * so the processes that can read an entry are exactly those that share its
 * locks, and two installations (`MCPGATE_HOME`) never see each other's logins.
 *
 * An earlier mcpgate wrote unscoped entries (account `<keyOf>`, index
 * `__index__`). The default state directory (the one without `MCPGATE_HOME`)
 * adopts them when it opens, each under its credential lock, keeping the newer
 * of an unscoped and a scoped copy, and says so in a log line; any other state
 * directory leaves them alone and says where they went.
 */
import * as path from "node:path"
import { Clock, Effect, FileSystem, Option, Result, Schema } from "effect"
import {
  type Credential,
  type CredentialKey,
  formatDocument,
  keyOf,
  parseDocument,
  sortByKey
} from "../Credential.ts"
import * as CredentialFile from "./CredentialFile.ts"
import { type FileLockOptions, withExclusive } from "./FileLock.ts"
import * as Keychain from "./Keychain.ts"
import * as KeychainEntries from "./KeychainEntries.ts"
import { nodeCrypto } from "./NodeCrypto.ts"
import {
  CredentialStoreError,
  type CredentialStoreShape,
  defaultStateDirectoryFromConfig,
  describeKey,
  fromLockError,
  ioError,
  type KeychainOptions,
  keyLockFile,
  lockSettings,
  lockTimeoutOf,
  stateDirectoryFromConfig
} from "./StoreSupport.ts"

/** The name of the index entry within a scope (and, unscoped, the index of an earlier mcpgate). */
export const keychainIndexAccount = "__index__"

/** The scope of a state directory: 16 hex digits of the SHA-256 of its canonical path. */
export const keychainScope = (canonicalDirectory: string): string =>
  nodeCrypto().createHash("sha256").update(canonicalDirectory).digest("hex").slice(0, 16)

/**
 * A scoped account. Keys always hold a `|` (`<server>|<url>`, a `|` in the
 * name is escaped), so `<scope>|…` never reads as an earlier unscoped key.
 */
export const keychainAccount = (scope: string, name: string): string => `${scope}|${name}`

const KeychainIndex = Schema.Struct({ version: Schema.Literal(1), keys: Schema.Array(Schema.String) })

/** What the functions below need; built once by `makeKeychain`. */
interface Store {
  readonly service: string
  /** Canonical. */
  readonly directory: string
  readonly scope: string
  readonly lock: FileLockOptions
  readonly entries: KeychainEntries.Entries
}

const entryName = (store: Store, account: string) =>
  `keychain entry "${account}" (service "${store.service}")`

const unavailable = (error: Keychain.KeychainError) =>
  new CredentialStoreError({
    reason: "keychain-unavailable",
    message: `the OS keychain is not usable: ${error.message}`
  })

const scoped = (store: Store, name: string) => keychainAccount(store.scope, name)

const indexAccount = (store: Store) => scoped(store, keychainIndexAccount)

const lockFile = (store: Store, name: string) =>
  path.join(
    store.directory,
    "locks",
    `${nodeCrypto().createHash("sha256").update(name).digest("hex").slice(0, 32)}.lock`
  )

const locked = <A, E, R>(store: Store, file: string, what: string, effect: Effect.Effect<A, E, R>) =>
  withExclusive(file, { file, lock: store.lock, onError: fromLockError(what) }, effect)

/** The refresh lock of a credential (`withLock`), shared with the file store's layout. */
const withKeyLock = <A, E, R>(store: Store, key: CredentialKey | string, effect: Effect.Effect<A, E, R>) =>
  locked(
    store,
    keyLockFile(store.directory, key),
    typeof key === "string" ? `the credential ${key}` : `the credential ${describeKey(key)}`,
    effect
  )

/**
 * Writers of one entry (its head and chunks) go one at a time. Short and never
 * held while waiting for another lock, so `set` inside `withLock` cannot deadlock.
 */
const withWriteLock = <A, E, R>(store: Store, account: string, effect: Effect.Effect<A, E, R>) =>
  account === indexAccount(store) || account === keychainIndexAccount
    ? locked(store, path.join(store.directory, "keychain.lock"), `the ${entryName(store, account)}`, effect)
    : locked(store, lockFile(store, `write:${account}`), `the ${entryName(store, account)}`, effect)

const writeText = (store: Store, account: string, text: string) =>
  withWriteLock(
    store,
    account,
    KeychainEntries.write(store.entries, account, text).pipe(Effect.mapError(unavailable))
  )

const eraseText = (store: Store, account: string) =>
  withWriteLock(
    store,
    account,
    KeychainEntries.erase(store.entries, account).pipe(Effect.mapError(unavailable))
  )

interface Problem {
  readonly reason: "corrupt" | "unsupported-version"
  readonly message: string
}

type Inspected<A> =
  | { readonly _tag: "Read"; readonly value: Option.Option<A> }
  | { readonly _tag: "Corrupt"; readonly raw: string; readonly message: string }

const inspect = <A>(
  store: Store,
  account: string,
  parse: (text: string) => Effect.Effect<A, Problem>
): Effect.Effect<Inspected<A>, CredentialStoreError> =>
  Effect.gen(function* () {
    const stored = yield* KeychainEntries.read(store.entries, account).pipe(Effect.result)
    if (Result.isFailure(stored)) {
      const error = stored.failure
      if (error._tag === "KeychainError") return yield* unavailable(error)
      return { _tag: "Corrupt", raw: error.raw, message: error.message } as const
    }
    if (Option.isNone(stored.success)) return { _tag: "Read", value: Option.none() } as const
    const parsed = yield* Effect.result(parse(stored.success.value.text))
    if (Result.isSuccess(parsed)) return { _tag: "Read", value: Option.some(parsed.success) } as const
    if (parsed.failure.reason === "corrupt") {
      return { _tag: "Corrupt", raw: stored.success.value.raw, message: parsed.failure.message } as const
    }
    return yield* new CredentialStoreError({
      reason: "unsupported-version",
      message: `the ${entryName(store, account)} ${parsed.failure.message}; it was left unchanged`
    })
  })

/**
 * Reads and parses the entry at `account`. One that cannot be read is checked
 * again under its write lock (a writer may just have replaced it) and only then
 * moved to `<account>.corrupt-<time>`, with an error saying so.
 */
const readChecked = <A>(
  store: Store,
  account: string,
  parse: (text: string) => Effect.Effect<A, Problem>,
  afterMove: string
): Effect.Effect<Option.Option<A>, CredentialStoreError> =>
  Effect.gen(function* () {
    const first = yield* inspect(store, account, parse)
    if (first._tag === "Read") return first.value
    return yield* withWriteLock(
      store,
      account,
      Effect.gen(function* () {
        const again = yield* inspect(store, account, parse)
        if (again._tag === "Read") return again.value
        const stamp = new Date(yield* Clock.currentTimeMillis).toISOString().replace(/:/g, "-")
        const target = `${account}.corrupt-${stamp}`
        yield* KeychainEntries.rename(store.entries, account, again.raw, target).pipe(
          Effect.mapError(unavailable)
        )
        const movedTo = entryName(store, target)
        return yield* new CredentialStoreError({
          reason: "corrupt",
          message: `the ${entryName(store, account)} ${again.message}; it was moved to ${movedTo} (${afterMove})`,
          movedTo
        })
      })
    )
  })

/** The credential of storage key `key` at `account` (its scoped or, for adoption, unscoped entry). */
const readEntry = (store: Store, account: string, key: string) =>
  readChecked(
    store,
    account,
    (text) => Effect.map(parseDocument(text), (credentials) => Option.fromUndefinedOr(credentials.get(key))),
    "log in again"
  ).pipe(Effect.map(Option.flatten))

const readIndex = (store: Store, account: string) =>
  readChecked(
    store,
    account,
    (text) => Effect.fromResult(parseIndex(text)),
    "stored credentials reappear in the list when next saved"
  ).pipe(Effect.map(Option.getOrElse((): ReadonlyArray<string> => [])))

/** Changes the index at `account` under the index lock; an empty index is removed. */
const updateIndex = (store: Store, account: string, change: (keys: Set<string>) => boolean) =>
  withWriteLock(
    store,
    account,
    Effect.gen(function* () {
      const keys = new Set(yield* readIndex(store, account))
      if (!change(keys)) return
      if (keys.size === 0) yield* eraseText(store, account)
      else yield* writeText(store, account, JSON.stringify({ version: 1, keys: [...keys].sort() }))
    })
  )

const setEntry = (store: Store, credential: Credential) =>
  Effect.gen(function* () {
    const key = keyOf(credential)
    // The index only changes when a key is new; skip its lock otherwise.
    if (!(yield* readIndex(store, indexAccount(store))).includes(key)) {
      yield* updateIndex(store, indexAccount(store), (keys) => {
        if (keys.has(key)) return false
        keys.add(key)
        return true
      })
    }
    yield* writeText(store, scoped(store, key), yield* formatDocument([credential], { compact: true }))
  })

const deleteEntry = (store: Store, key: string) =>
  Effect.gen(function* () {
    const existed = yield* eraseText(store, scoped(store, key))
    if ((yield* readIndex(store, indexAccount(store))).includes(key)) {
      yield* updateIndex(store, indexAccount(store), (keys) => keys.delete(key))
    }
    return existed
  })

const listEntries = (store: Store) =>
  Effect.gen(function* () {
    const found: Array<Credential> = []
    for (const key of yield* readIndex(store, indexAccount(store))) {
      const credential = yield* readEntry(store, scoped(store, key), key)
      if (Option.isSome(credential)) found.push(credential.value)
    }
    return sortByKey(found)
  })

// ---------------------------------------------------------------------------
// Entries of an earlier mcpgate

const plural = (count: number) => (count === 1 ? "1 credential" : `${count} credentials`)

/** Moves one unscoped credential into the scope, under its credential lock. */
const adoptOne = (store: Store, key: string) =>
  withKeyLock(
    store,
    key,
    Effect.gen(function* () {
      const legacy = yield* readEntry(store, key, key)
      if (Option.isNone(legacy)) return "missing" as const
      const current = yield* readEntry(store, scoped(store, key), key).pipe(
        Effect.catchTag("CredentialStoreError", () => Effect.succeedNone)
      )
      // An old mcpgate may still refresh the unscoped copy: the newer one wins.
      const adopt = Option.isNone(current) || legacy.value.updatedAt > current.value.updatedAt
      if (adopt) yield* setEntry(store, legacy.value)
      yield* eraseText(store, key)
      return adopt ? ("adopted" as const) : ("older" as const)
    })
  )

/** The default state directory takes the unscoped entries, once (the unscoped index is removed). */
const adoptLegacyEntries = (store: Store, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    let adopted = 0
    let dropped = 0
    for (const key of keys) {
      const result = yield* Effect.result(adoptOne(store, key))
      if (Result.isSuccess(result)) {
        if (result.success === "adopted") adopted++
        if (result.success === "older") dropped++
        yield* updateIndex(store, keychainIndexAccount, (index) => index.delete(key))
      } else {
        yield* Effect.logWarning(
          `Keychain: could not adopt the earlier mcpgate's credential ${key}: ${result.failure.message}`
        )
      }
    }
    yield* Effect.logInfo(
      `Keychain: adopted ${plural(adopted)} saved by an earlier mcpgate into the state directory ${store.directory} (service "${store.service}")${dropped === 0 ? "" : `; dropped ${dropped === 1 ? "an older copy" : `${dropped} older copies`} of credentials saved here since`}`
    )
  })

/** Adopts (default state directory) or points at (any other) the unscoped entries; never fails the store. */
const handleLegacyEntries = (store: Store, defaultDirectory: string) =>
  Effect.gen(function* () {
    const keys = yield* readIndex(store, keychainIndexAccount)
    if (keys.length === 0) return
    if (store.directory === defaultDirectory) return yield* adoptLegacyEntries(store, keys)
    yield* Effect.logInfo(
      `Keychain: ${plural(keys.length)} saved by an earlier mcpgate (before logins were kept per state directory) belong to the default state directory ${defaultDirectory}; log in again to use them from ${store.directory}`
    )
  }).pipe(
    Effect.catchTag("CredentialStoreError", (error) =>
      Effect.logWarning(`Keychain: could not check for credentials of an earlier mcpgate: ${error.message}`)
    )
  )

// ---------------------------------------------------------------------------
// The store

/** The canonical path (symlinks resolved) of a directory that exists. */
const canonical = (directory: string) =>
  FileSystem.FileSystem.use((fs) => fs.realPath(directory)).pipe(Effect.orElseSucceed(() => directory))

export const makeKeychain = (
  options: KeychainOptions = {},
  check: "probe" | "probed" = "probe"
): Effect.Effect<CredentialStoreShape, CredentialStoreError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const service = options.service ?? "mcpgate"
    const given =
      options.directory === undefined ? yield* stateDirectoryFromConfig : path.resolve(options.directory)
    if (check === "probe") {
      yield* Keychain.probe(service, options.probeTimeout ?? "2 seconds").pipe(Effect.mapError(unavailable))
    }
    yield* CredentialFile.ensureDirectory(given).pipe(Effect.mapError(ioError))
    const directory = yield* canonical(given)
    const maxEntryBytes =
      "maxEntryBytes" in options
        ? options.maxEntryBytes
        : KeychainEntries.defaultMaxEntryBytes(process.platform)
    if (maxEntryBytes !== undefined && !(maxEntryBytes >= KeychainEntries.minimumEntryBytes)) {
      return yield* new CredentialStoreError({
        reason: "invalid-config",
        message: `the keychain entry limit must be at least ${KeychainEntries.minimumEntryBytes} bytes (got ${maxEntryBytes})`
      })
    }
    const store: Store = {
      service,
      directory,
      scope: keychainScope(directory),
      lock: lockSettings(options),
      entries: {
        service,
        timeout: options.operationTimeout ?? "10 seconds",
        maxEntryBytes,
        platform: process.platform
      }
    }
    yield* handleLegacyEntries(store, yield* canonical(yield* defaultStateDirectoryFromConfig))

    return {
      backend: "keychain",
      description: `keychain (${Keychain.platformName}, service "${service}")`,
      lockTimeout: lockTimeoutOf(options),
      get: Effect.fn("CredentialStore.get")(function* (key: CredentialKey) {
        return yield* readEntry(store, scoped(store, keyOf(key)), keyOf(key))
      }),
      set: Effect.fn("CredentialStore.set")(function* (credential: Credential) {
        yield* setEntry(store, credential)
      }),
      delete: Effect.fn("CredentialStore.delete")(function* (key: CredentialKey) {
        return yield* deleteEntry(store, keyOf(key))
      }),
      list: listEntries(store).pipe(Effect.withSpan("CredentialStore.list")),
      withLock: (key, effect) => withKeyLock(store, key, effect)
    } satisfies CredentialStoreShape
  })

const parseIndex = (text: string): Result.Result<ReadonlyArray<string>, Problem> => {
  const json = Result.try(() => JSON.parse(text) as unknown)
  if (Result.isFailure(json)) return Result.fail({ reason: "corrupt", message: "was unreadable" })
  const decoded = Schema.decodeUnknownResult(KeychainIndex)(json.success)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success.keys)
  const version: unknown =
    typeof json.success === "object" && json.success !== null
      ? (json.success as Record<string, unknown>).version
      : undefined
  return Result.fail(
    typeof version === "number" && version > 1
      ? { reason: "unsupported-version", message: "was written by a newer mcpgate; upgrade mcpgate" }
      : { reason: "corrupt", message: "was unreadable" }
  )
}
