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
import { createHash } from "node:crypto"
import * as path from "node:path"
import { Clock, type Duration, Effect, FileSystem, Option, Result, Schema } from "effect"
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
  stateDirectoryFromConfig
} from "./StoreSupport.ts"

/** The name of the index entry within a scope (and, unscoped, the index of an earlier mcpgate). */
export const keychainIndexAccount = "__index__"

/** The scope of a state directory: 16 hex digits of the SHA-256 of its canonical path. */
export const keychainScope = (canonicalDirectory: string): string =>
  createHash("sha256").update(canonicalDirectory).digest("hex").slice(0, 16)

/**
 * A scoped account. Keys always hold a `|` (`<server>|<url>`, a `|` in the
 * name is escaped), so `<scope>|…` never reads as an earlier unscoped key.
 */
export const keychainAccount = (scope: string, name: string): string => `${scope}|${name}`

const KeychainIndex = Schema.Struct({ version: Schema.Literal(1), keys: Schema.Array(Schema.String) })

/** What the functions below need; built once by `makeKeychain`. */
interface Store {
  readonly service: string
  readonly timeout: Duration.Input
  /** Canonical. */
  readonly directory: string
  readonly scope: string
  readonly lock: FileLockOptions
}

const entryName = (keychain: Store, account: string) =>
  `keychain entry "${account}" (service "${keychain.service}")`

const unavailable = (error: Keychain.KeychainError) =>
  new CredentialStoreError({
    reason: "keychain-unavailable",
    message: `the OS keychain is not usable: ${error.message}`
  })

const getText = (keychain: Store, account: string) =>
  Keychain.getPassword(keychain.service, account, keychain.timeout).pipe(Effect.mapError(unavailable))

const setText = (keychain: Store, account: string, text: string) =>
  Keychain.setPassword(keychain.service, account, text, keychain.timeout).pipe(Effect.mapError(unavailable))

const deleteText = (keychain: Store, account: string) =>
  Keychain.deletePassword(keychain.service, account, keychain.timeout).pipe(Effect.mapError(unavailable))

/** Copies an unreadable entry to `<account>.corrupt-<time>` and removes it; returns the new entry's name. */
const moveAside = (keychain: Store, account: string, raw: string) =>
  Effect.gen(function* () {
    const stamp = new Date(yield* Clock.currentTimeMillis).toISOString().replace(/:/g, "-")
    const target = `${account}.corrupt-${stamp}`
    yield* setText(keychain, target, raw)
    yield* deleteText(keychain, account)
    return entryName(keychain, target)
  })

/** The credential of storage key `key` at `account` (its scoped or, for adoption, unscoped entry). */
const readEntry = (
  keychain: Store,
  account: string,
  key: string
): Effect.Effect<Option.Option<Credential>, CredentialStoreError> =>
  Effect.gen(function* () {
    const raw = yield* getText(keychain, account)
    if (Option.isNone(raw)) return Option.none()
    const parsed = yield* Effect.result(parseDocument(raw.value))
    if (Result.isSuccess(parsed)) return Option.fromUndefinedOr(parsed.success.get(key))
    const error = parsed.failure
    if (error.reason === "unsupported-version") {
      return yield* new CredentialStoreError({
        reason: "unsupported-version",
        message: `the ${entryName(keychain, account)} ${error.message}; it was left unchanged`
      })
    }
    const movedTo = yield* moveAside(keychain, account, raw.value)
    return yield* new CredentialStoreError({
      reason: "corrupt",
      message: `the ${entryName(keychain, account)} ${error.message}; it was moved to ${movedTo} (log in again)`,
      movedTo
    })
  })

const readIndex = (
  keychain: Store,
  account: string
): Effect.Effect<ReadonlyArray<string>, CredentialStoreError> =>
  Effect.gen(function* () {
    const raw = yield* getText(keychain, account)
    if (Option.isNone(raw)) return []
    const parsed = parseIndex(raw.value)
    if (Result.isSuccess(parsed)) return parsed.success
    if (parsed.failure === "unsupported-version") {
      return yield* new CredentialStoreError({
        reason: "unsupported-version",
        message: `the ${entryName(keychain, account)} was written by a newer mcpgate; upgrade mcpgate`
      })
    }
    const movedTo = yield* moveAside(keychain, account, raw.value)
    return yield* new CredentialStoreError({
      reason: "corrupt",
      message: `the ${entryName(keychain, account)} was unreadable; it was moved to ${movedTo} (stored credentials reappear in the list when next saved)`,
      movedTo
    })
  })

/** Changes the index at `account` under the index lock; an empty index is removed. */
const updateIndex = (keychain: Store, account: string, change: (keys: Set<string>) => boolean) => {
  const indexLock = path.join(keychain.directory, "keychain.lock")
  return withExclusive(
    indexLock,
    {
      file: indexLock,
      lock: keychain.lock,
      onError: fromLockError(`the ${entryName(keychain, account)}`)
    },
    Effect.gen(function* () {
      const keys = new Set(yield* readIndex(keychain, account))
      if (!change(keys)) return
      if (keys.size === 0) yield* deleteText(keychain, account)
      else yield* setText(keychain, account, JSON.stringify({ version: 1, keys: [...keys].sort() }))
    })
  )
}

const withKeyLock = <A, E, R>(
  keychain: Store,
  key: CredentialKey | string,
  effect: Effect.Effect<A, E, R>
) => {
  const lockFile = keyLockFile(keychain.directory, key)
  const what = typeof key === "string" ? `the credential ${key}` : `the credential ${describeKey(key)}`
  return withExclusive(
    lockFile,
    { file: lockFile, lock: keychain.lock, onError: fromLockError(what) },
    effect
  )
}

const scoped = (keychain: Store, name: string) => keychainAccount(keychain.scope, name)

const setEntry = (keychain: Store, credential: Credential) =>
  Effect.gen(function* () {
    const key = keyOf(credential)
    const index = scoped(keychain, keychainIndexAccount)
    // The index only changes when a key is new; skip its lock otherwise.
    if (!(yield* readIndex(keychain, index)).includes(key)) {
      yield* updateIndex(keychain, index, (keys) => {
        if (keys.has(key)) return false
        keys.add(key)
        return true
      })
    }
    yield* setText(keychain, scoped(keychain, key), yield* formatDocument([credential]))
  })

const deleteEntry = (keychain: Store, key: string) =>
  Effect.gen(function* () {
    const existed = yield* deleteText(keychain, scoped(keychain, key))
    const index = scoped(keychain, keychainIndexAccount)
    if ((yield* readIndex(keychain, index)).includes(key)) {
      yield* updateIndex(keychain, index, (keys) => keys.delete(key))
    }
    return existed
  })

const listEntries = (keychain: Store) =>
  Effect.gen(function* () {
    const found: Array<Credential> = []
    for (const key of yield* readIndex(keychain, scoped(keychain, keychainIndexAccount))) {
      const credential = yield* readEntry(keychain, scoped(keychain, key), key)
      if (Option.isSome(credential)) found.push(credential.value)
    }
    return sortByKey(found)
  })

// ---------------------------------------------------------------------------
// Entries of an earlier mcpgate

const plural = (count: number) => (count === 1 ? "1 credential" : `${count} credentials`)

/** Moves one unscoped credential into the scope, under its credential lock; true when it was adopted. */
const adoptOne = (keychain: Store, key: string) =>
  withKeyLock(
    keychain,
    key,
    Effect.gen(function* () {
      const legacy = yield* readEntry(keychain, key, key)
      if (Option.isNone(legacy)) return false
      const current = yield* readEntry(keychain, scoped(keychain, key), key).pipe(
        Effect.catchTag("CredentialStoreError", () => Effect.succeedNone)
      )
      // An old mcpgate may still refresh the unscoped copy: the newer one wins.
      const adopt = Option.isNone(current) || legacy.value.updatedAt > current.value.updatedAt
      if (adopt) yield* setEntry(keychain, legacy.value)
      yield* deleteText(keychain, key)
      return adopt
    })
  )

/** The default state directory takes the unscoped entries, once (the unscoped index is removed). */
const adoptLegacyEntries = (keychain: Store, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    let adopted = 0
    let dropped = 0
    for (const key of keys) {
      const result = yield* Effect.result(adoptOne(keychain, key))
      if (Result.isSuccess(result)) {
        if (result.success) adopted++
        else dropped++
        yield* updateIndex(keychain, keychainIndexAccount, (index) => index.delete(key))
      } else {
        yield* Effect.logWarning(
          `Keychain: could not adopt the earlier mcpgate's credential ${key}: ${result.failure.message}`
        )
      }
    }
    yield* Effect.logInfo(
      `Keychain: adopted ${plural(adopted)} saved by an earlier mcpgate into the state directory ${keychain.directory} (service "${keychain.service}")${dropped === 0 ? "" : `; ${plural(dropped)} already saved here more recently kept as they were`}`
    )
  })

/** Adopts (default state directory) or points at (any other) the unscoped entries; never fails the store. */
const handleLegacyEntries = (keychain: Store, defaultDirectory: string) =>
  Effect.gen(function* () {
    const keys = yield* readIndex(keychain, keychainIndexAccount)
    if (keys.length === 0) return
    if (keychain.directory === defaultDirectory) return yield* adoptLegacyEntries(keychain, keys)
    yield* Effect.logInfo(
      `Keychain: ${plural(keys.length)} saved by an earlier mcpgate (before logins were kept per state directory) belong to the default state directory ${defaultDirectory}; log in again to use them from ${keychain.directory}`
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
    const keychain: Store = {
      service,
      timeout: options.operationTimeout ?? "10 seconds",
      directory,
      scope: keychainScope(directory),
      lock: lockSettings(options)
    }
    yield* handleLegacyEntries(keychain, yield* canonical(yield* defaultStateDirectoryFromConfig))

    return {
      backend: "keychain",
      description: `keychain (${Keychain.platformName}, service "${service}")`,
      get: Effect.fn("CredentialStore.get")(function* (key: CredentialKey) {
        return yield* readEntry(keychain, scoped(keychain, keyOf(key)), keyOf(key))
      }),
      set: Effect.fn("CredentialStore.set")(function* (credential: Credential) {
        yield* setEntry(keychain, credential)
      }),
      delete: Effect.fn("CredentialStore.delete")(function* (key: CredentialKey) {
        return yield* deleteEntry(keychain, keyOf(key))
      }),
      list: listEntries(keychain).pipe(Effect.withSpan("CredentialStore.list")),
      withLock: (key, effect) => withKeyLock(keychain, key, effect)
    } satisfies CredentialStoreShape
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
