/**
 * `CredentialStore.layerKeychain`: one OS keychain entry per credential.
 */
import * as path from "node:path"
import { Clock, Effect, type FileSystem, Option, Result, Schema } from "effect"
import {
  type Credential,
  type CredentialKey,
  formatDocument,
  keyOf,
  parseDocument,
  sortByKey
} from "../Credential.ts"
import * as CredentialFile from "./CredentialFile.ts"
import { withExclusive } from "./FileLock.ts"
import * as Keychain from "./Keychain.ts"
import {
  CredentialStoreError,
  type CredentialStoreShape,
  describeKey,
  fromLockError,
  ioError,
  type KeychainOptions,
  keyLockFile,
  lockSettings,
  stateDirectoryFromConfig
} from "./StoreSupport.ts"

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
