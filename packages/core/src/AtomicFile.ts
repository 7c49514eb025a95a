/**
 * The one way mcpgate replaces a file it owns (the config, the credentials file,
 * the admin token), on effect's `FileSystem` service: write a temp file in the
 * same directory, fsync it, rename it over the target (or hard-link it, to create
 * only), fsync the directory. A crash at any moment leaves the old file or the
 * new one, never a mix; a temp file left by a dead writer is removed later by
 * `removeStrayTempFiles`.
 */
import * as NodePath from "node:path"
import { Context, Effect, FileSystem, Option, Predicate } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { pidAlive } from "./internal/FileLock.ts"
import { nodeCrypto } from "./internal/NodeCrypto.ts"

export interface WriteOptions {
  /** The mode of a new file (default 0600: configs, credentials and tokens hold secrets). Exact, whatever the umask. */
  readonly mode?: number | undefined
  /** Keep the mode of the file being replaced; only a new file gets `mode`. */
  readonly keepMode?: boolean | undefined
  /** Only create: when the target exists it is left as it is and `write` succeeds with false. */
  readonly createOnly?: boolean | undefined
}

/**
 * Test hook: runs after the temp file is written and fsynced, before it is
 * renamed (or linked) to the target. The crash tests kill a writer here.
 */
export const BeforeRename = Context.Reference<(tempFile: string) => Effect.Effect<void>>(
  "@mcpgate/core/AtomicFile/BeforeRename",
  { defaultValue: () => () => Effect.void }
)

const posix = process.platform !== "win32"

/** `.<name>.<pid>.<uuid>.tmp` beside the target: hidden, and the pid tells a dead writer's file. */
const tempFileFor = (path: string): string =>
  NodePath.join(
    NodePath.dirname(path),
    `.${NodePath.basename(path)}.${process.pid}.${nodeCrypto().randomUUID()}.tmp`
  )

// Also the `<name>.<pid>.<uuid>.tmp` an earlier mcpgate left beside the credentials file.
const tempFilePattern = (path: string): RegExp =>
  new RegExp(`^\\.?${escapeRegExp(NodePath.basename(path))}\\.(\\d+)\\.[0-9a-f-]+\\.tmp$`)

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Writes `data` to `path` atomically (see the module comment). Succeeds with
 * true, or false when `createOnly` found the file already there. On failure the
 * target is unchanged and the temp file removed.
 */
export const write = Effect.fn("AtomicFile.write")(function* (
  path: string,
  data: string | Uint8Array,
  options: WriteOptions = {}
): Effect.fn.Return<boolean, PlatformError, FileSystem.FileSystem> {
  const fs = yield* FileSystem.FileSystem
  const mode =
    options.keepMode === true ? yield* existingMode(fs, path, options.mode) : (options.mode ?? 0o600)
  const temp = tempFileFor(path)
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data
  const written = yield* Effect.gen(function* () {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const file = yield* fs.open(temp, { flag: "wx", mode })
        // The umask can only remove bits; chmod makes the mode exact.
        if (posix) yield* fs.chmod(temp, mode)
        yield* file.writeAll(bytes)
        yield* file.sync
      })
    )
    yield* (yield* BeforeRename)(temp)
    if (options.createOnly !== true) {
      yield* fs.rename(temp, path)
      return true
    }
    // link fails when the target exists, which rename would silently replace.
    const linked = yield* fs.link(temp, path).pipe(
      Effect.as(true),
      Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
    )
    yield* fs.remove(temp)
    return linked
  }).pipe(Effect.onError(() => fs.remove(temp).pipe(Effect.ignore)))
  if (written) yield* syncDirectory(fs, NodePath.dirname(path))
  return written
})

const existingMode = (fs: FileSystem.FileSystem, path: string, fallback: number | undefined) =>
  fs.stat(path).pipe(
    Effect.map((info) => info.mode & 0o777),
    Effect.catchIf(isNotFound, () => Effect.succeed(fallback ?? 0o600))
  )

/** fsync of the directory makes the rename itself durable (POSIX; Windows cannot open a directory). */
const syncDirectory = (fs: FileSystem.FileSystem, directory: string): Effect.Effect<void, PlatformError> =>
  posix
    ? Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync))
    : Effect.void

/**
 * Removes the temp files of `path` left by writers that died before their
 * rename: the pid is gone from this host, or the file is older than
 * `maxAgeMillis`. Call it where no live writer of `path` can be mid-write for
 * that long (under the writers' lock).
 */
export const removeStrayTempFiles = Effect.fn("AtomicFile.removeStrayTempFiles")(function* (
  path: string,
  nowMillis: number,
  maxAgeMillis: number
): Effect.fn.Return<void, PlatformError, FileSystem.FileSystem> {
  const fs = yield* FileSystem.FileSystem
  const directory = NodePath.dirname(path)
  const pattern = tempFilePattern(path)
  for (const name of yield* fs.readDirectory(directory)) {
    const match = pattern.exec(name)
    if (match === null) continue
    const full = NodePath.join(directory, name)
    const info = yield* Effect.option(fs.stat(full))
    if (Option.isNone(info)) continue
    const modified = Option.getOrElse(info.value.mtime, () => new Date(0)).getTime()
    if (!pidAlive(Number(match[1])) || nowMillis - modified > maxAgeMillis) {
      yield* fs.remove(full).pipe(Effect.ignore)
    }
  }
})

/** The Node error code behind a platform error (`ENOENT`, `EFBIG` …), when there is one. */
export const errorCode = (error: PlatformError): string | undefined => {
  const cause = error.reason._tag === "BadArgument" ? undefined : error.reason.cause
  return Predicate.hasProperty(cause, "code") && Predicate.isString(cause.code) ? cause.code : undefined
}

export const isNotFound = (error: PlatformError): boolean => error.reason._tag === "NotFound"

export const isAlreadyExists = (error: PlatformError): boolean => error.reason._tag === "AlreadyExists"

/** The failure in words for a message that already names the file: `permission denied`, `EFBIG: file too large, write`. */
export const describeError = (error: PlatformError): string => {
  switch (errorCode(error)) {
    case "ENOENT":
      return "file not found"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "it is a directory"
    case "ENOTDIR":
      return "a parent is not a directory"
  }
  const cause = error.reason._tag === "BadArgument" ? undefined : error.reason.cause
  // Node's own message names the code and the path, never file contents.
  return cause instanceof Error ? cause.message : error.message
}
