/**
 * The file behind `CredentialStore.layerFile`: permissions, atomic replacement
 * (../AtomicFile.ts) and moving a corrupt file aside. Locking is the caller's job.
 */
import { Data, Effect, FileSystem, Option } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as AtomicFile from "../AtomicFile.ts"

export class FileError extends Data.TaggedError("FileError")<{ readonly message: string }> {}

const posix = process.platform !== "win32"

const failure =
  (what: string) =>
  (error: PlatformError): FileError =>
    new FileError({ message: `could not ${what}: ${AtomicFile.describeError(error)}` })

/** Creates the directory 0700, or tightens an existing one to 0700. */
export const ensureDirectory = (directory: string): Effect.Effect<void, FileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 })
    if (!posix) return
    const info = yield* fs.stat(directory)
    if ((info.mode & 0o777) !== 0o700) yield* fs.chmod(directory, 0o700)
  }).pipe(Effect.mapError(failure(`prepare the directory ${directory}`)))

/** Tightens an existing credentials file to 0600 (an older tool or a copy may have widened it). */
export const tightenFile = (file: string): Effect.Effect<void, FileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    if (!posix) return
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(file).pipe(Effect.option)
    if (Option.isSome(info) && (info.value.mode & 0o777) !== 0o600) yield* fs.chmod(file, 0o600)
  }).pipe(Effect.mapError(failure(`check the permissions of ${file}`)))

/** The file's text, or none when it does not exist. */
export const read = (file: string): Effect.Effect<Option.Option<string>, FileError, FileSystem.FileSystem> =>
  FileSystem.FileSystem.use((fs) => fs.readFileString(file)).pipe(
    Effect.map(Option.some),
    Effect.catchIf(AtomicFile.isNotFound, () => Effect.succeedNone),
    Effect.mapError(failure(`read ${file}`))
  )

/** Replaces `file` atomically with a 0600 file (../AtomicFile.ts). */
export const writeAtomic = (
  file: string,
  content: string
): Effect.Effect<void, FileError, FileSystem.FileSystem> =>
  AtomicFile.write(file, content, { mode: 0o600 }).pipe(
    Effect.asVoid,
    Effect.mapError(failure(`write ${file}`))
  )

/** Removes temp files of `file` left by dead writers (call under the store lock). */
export const removeStrayTempFiles = (
  file: string,
  nowMillis: number,
  maxAgeMillis: number
): Effect.Effect<void, FileError, FileSystem.FileSystem> =>
  AtomicFile.removeStrayTempFiles(file, nowMillis, maxAgeMillis).pipe(
    Effect.mapError(failure(`clean up temp files next to ${file}`))
  )

/**
 * Renames `file` to `<file>.corrupt-<timestamp>` (a numbered suffix if that
 * exists) and returns the new path. Only called while holding the store lock.
 */
export const moveAside = (
  file: string,
  nowMillis: number
): Effect.Effect<string, FileError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const stamp = new Date(nowMillis).toISOString().replace(/:/g, "-")
    for (let n = 0; ; n++) {
      const target = `${file}.corrupt-${stamp}${n === 0 ? "" : `-${n}`}`
      if (yield* fs.exists(target)) continue
      yield* fs.rename(file, target)
      return target
    }
  }).pipe(Effect.mapError(failure(`move the corrupt ${file} aside`)))
