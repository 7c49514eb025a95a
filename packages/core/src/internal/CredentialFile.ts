/**
 * The file behind `CredentialStore.layerFile`: permissions, atomic replacement
 * and moving a corrupt file aside. Locking is the caller's job.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Context, Data, Effect, Option } from "effect"
import { errorCode, pidAlive } from "./FileLock.ts"

export class FileError extends Data.TaggedError("FileError")<{ readonly message: string }> {}

/**
 * Test hook: runs after the temp file is written and fsynced, before it is
 * renamed over the credentials file. Tests use it to kill a writer at exactly
 * that point.
 */
export const BeforeRename = Context.Reference<(tempFile: string) => Effect.Effect<void>>(
  "@mcpgate/core/internal/CredentialFile/BeforeRename",
  { defaultValue: () => () => Effect.void }
)

const posix = process.platform !== "win32"

/** Creates the directory 0700, or tightens an existing one to 0700. */
export const ensureDirectory = (directory: string): Effect.Effect<void, FileError> =>
  io(`prepare the directory ${directory}`, async () => {
    await fs.mkdir(directory, { recursive: true, mode: 0o700 })
    if (!posix) return
    const stat = await fs.stat(directory)
    if ((stat.mode & 0o777) !== 0o700) await fs.chmod(directory, 0o700)
  })

/** Tightens an existing credentials file to 0600 (an older tool or a copy may have widened it). */
export const tightenFile = (file: string): Effect.Effect<void, FileError> =>
  io(`check the permissions of ${file}`, async () => {
    if (!posix) return
    const stat = await fs.stat(file).catch((error: unknown) => {
      if (errorCode(error) === "ENOENT") return undefined
      throw error
    })
    if (stat !== undefined && (stat.mode & 0o777) !== 0o600) await fs.chmod(file, 0o600)
  })

/** The file's bytes, or none when it does not exist. */
export const read = (file: string): Effect.Effect<Option.Option<Buffer>, FileError> =>
  io(`read ${file}`, async () => {
    try {
      return Option.some(await fs.readFile(file))
    } catch (error) {
      if (errorCode(error) === "ENOENT") return Option.none()
      throw error
    }
  })

/**
 * Replaces `file` atomically: write `<file>.<pid>.<random>.tmp` (0600), fsync,
 * rename over `file`, fsync the directory. A crash at any point leaves either
 * the old or the new file, never a mix; a leftover temp file is removed later
 * by `removeStrayTempFiles`.
 */
export const writeAtomic = (file: string, content: string): Effect.Effect<void, FileError> =>
  Effect.gen(function* () {
    const temp = `${file}.${process.pid}.${randomUUID()}.tmp`
    yield* Effect.gen(function* () {
      yield* io(`write ${temp}`, async () => {
        const handle = await fs.open(temp, "wx", 0o600)
        try {
          // The umask can only remove bits; chmod makes 0600 exact.
          if (posix) await handle.chmod(0o600)
          await handle.writeFile(content, "utf8")
          await handle.sync()
        } finally {
          await handle.close()
        }
      })
      const hook = yield* BeforeRename
      yield* hook(temp)
      yield* io(`replace ${file}`, () => fs.rename(temp, file))
    }).pipe(Effect.onError(() => Effect.promise(() => fs.unlink(temp).catch(() => undefined))))
    yield* syncDirectory(path.dirname(file))
  })

/** fsync of the directory makes the rename itself durable (POSIX; not possible on Windows). */
const syncDirectory = (directory: string): Effect.Effect<void, FileError> =>
  posix
    ? io(`sync the directory ${directory}`, async () => {
        const handle = await fs.open(directory, "r")
        try {
          await handle.sync()
        } finally {
          await handle.close()
        }
      })
    : Effect.void

/**
 * Renames `file` to `<file>.corrupt-<timestamp>` (a numbered suffix if that
 * exists) and returns the new path. Only called while holding the store lock.
 */
export const moveAside = (file: string, nowMillis: number): Effect.Effect<string, FileError> =>
  io(`move the corrupt ${file} aside`, async () => {
    const stamp = new Date(nowMillis).toISOString().replace(/:/g, "-")
    for (let n = 0; ; n++) {
      const target = `${file}.corrupt-${stamp}${n === 0 ? "" : `-${n}`}`
      const taken = await fs.access(target).then(
        () => true,
        () => false
      )
      if (taken) continue
      await fs.rename(file, target)
      return target
    }
  })

/**
 * Removes `<file>.<pid>.<random>.tmp` left by a writer that died before its
 * rename: the pid is gone, or the file is older than `maxAgeMillis`. Called
 * while holding the store lock, so no live writer of this store is mid-write.
 */
export const removeStrayTempFiles = (
  file: string,
  nowMillis: number,
  maxAgeMillis: number
): Effect.Effect<void, FileError> =>
  io(`clean up temp files next to ${file}`, async () => {
    const directory = path.dirname(file)
    const pattern = new RegExp(`^${escapeRegExp(path.basename(file))}\\.(\\d+)\\.[0-9a-f-]+\\.tmp$`)
    for (const name of await fs.readdir(directory)) {
      const match = pattern.exec(name)
      if (match === null) continue
      const full = path.join(directory, name)
      const stat = await fs.stat(full).catch(() => undefined)
      if (stat === undefined) continue
      if (!pidAlive(Number(match[1])) || nowMillis - stat.mtimeMs > maxAgeMillis) {
        await fs.unlink(full).catch(() => undefined)
      }
    }
  })

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const io = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, FileError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new FileError({
        message: `could not ${what}: ${error instanceof Error ? error.message : String(error)}`
      })
  })
