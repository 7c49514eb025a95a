/**
 * `CredentialStore.layerFile`: `credentials.json` in the state directory.
 */
import * as path from "node:path"
import { Clock, Duration, Effect, FileSystem, Option } from "effect"
import {
  type Credential,
  type CredentialDocumentError,
  type CredentialKey,
  formatDocument,
  keyOf,
  parseDocument,
  sortByKey
} from "../Credential.ts"
import * as CredentialFile from "./CredentialFile.ts"
import { withExclusive } from "./FileLock.ts"
import {
  CredentialStoreError,
  type CredentialStoreShape,
  credentialsFileName,
  describeKey,
  type FileOptions,
  fromLockError,
  ioError,
  keyLockFile,
  lockSettings,
  lockTimeoutOf,
  stateDirectoryFromConfig
} from "./StoreSupport.ts"

const isCorrupt = (
  error: CredentialDocumentError | CredentialFile.FileError
): error is CredentialDocumentError => error._tag === "CredentialDocumentError" && error.reason === "corrupt"

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
      lockTimeout: lockTimeoutOf(options),
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
