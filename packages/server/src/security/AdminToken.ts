/**
 * The admin token (docs/gateway.md#admin-token): `server.adminToken` in the
 * config, else the `MCPGATE_ADMIN_TOKEN` environment variable, else a token
 * generated on the first start (32 random bytes, base64url) and kept in
 * `<stateDirectory>/admin-token` (0600 in a 0700 directory), so later starts
 * reuse it. Only the start that generated it says so (`generated`), so that
 * `mcpgate serve` prints it once. The file is written with core's `AtomicFile`
 * on effect's `FileSystem`.
 */
import { randomBytes } from "node:crypto"
import * as NodePath from "node:path"
import * as AtomicFile from "@mcpgate/core/AtomicFile"
import type { McpgateConfig } from "@mcpgate/core/Config"
import type { Env } from "@mcpgate/core/ConfigFile"
import { stateDirectory as defaultStateDirectory } from "@mcpgate/core/Paths"
import { Effect, FileSystem, Redacted, Schema } from "effect"
import type { PlatformError } from "effect/PlatformError"

/** The file name of the generated token inside the state directory. */
export const fileName = "admin-token"

/** Where the token came from; `generated` is a file written by this start. */
export type AdminTokenSource = "config" | "env" | "file" | "generated"

export interface AdminToken {
  readonly value: Redacted.Redacted<string>
  readonly source: AdminTokenSource
  /** True only on the start that created the file: the one time the token is printed. */
  readonly generated: boolean
  /** The token file, for `file` and `generated`. */
  readonly path?: string
}

/** The token file cannot be read or written (the message names the file and the fix, never the token). */
export class AdminTokenError extends Schema.TaggedError<AdminTokenError>()("AdminTokenError", {
  path: Schema.String,
  message: Schema.String
}) {}

export interface ResolveOptions {
  readonly config: McpgateConfig
  /** Defaults to `process.env`. */
  readonly env?: Env | undefined
  /** Defaults to `stateDirectory(env)` (`$MCPGATE_HOME` in tests). */
  readonly stateDirectory?: string | undefined
}

const posix = process.platform !== "win32"

const nonEmpty = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === "" ? undefined : trimmed
}

/** 32 bytes from the operating system's CSPRNG, base64url (43 characters). */
export const generate = (): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.sync(() => Redacted.make(randomBytes(32).toString("base64url")))

const failure = (path: string, what: string) => (error: PlatformError) =>
  new AdminTokenError({
    path,
    message: `cannot ${what} ${path}: ${AtomicFile.describeError(error)}; fix its permissions, or set MCPGATE_ADMIN_TOKEN or "server.adminToken"`
  })

/** The stored token, tightened to 0600 when copies or old tools widened it (it opens the admin API). */
const readTokenFile = (fs: FileSystem.FileSystem, file: string) =>
  Effect.gen(function* () {
    const info = yield* fs.stat(file)
    if (posix && (info.mode & 0o777) !== 0o600) yield* fs.chmod(file, 0o600)
    return nonEmpty(yield* fs.readFileString(file))
  }).pipe(
    Effect.catchIf(AtomicFile.isNotFound, () => Effect.succeed(undefined)),
    Effect.mapError(failure(file, "read the admin token file"))
  )

/** The state directory, 0700 whatever the umask or an earlier tool made it. */
const ensureDirectory = (fs: FileSystem.FileSystem, directory: string) =>
  Effect.gen(function* () {
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 })
    if (posix && ((yield* fs.stat(directory)).mode & 0o777) !== 0o700) yield* fs.chmod(directory, 0o700)
  })

/**
 * Creates the file only if it does not exist (another start may race this one)
 * and returns the token that won; an empty file left by a crash is replaced.
 */
const createTokenFile = (fs: FileSystem.FileSystem, directory: string, file: string) =>
  Effect.gen(function* () {
    yield* ensureDirectory(fs, directory)
    const token = yield* generate()
    const text = `${Redacted.value(token)}\n`
    if (yield* AtomicFile.write(file, text, { createOnly: true })) return { token, created: true }
    const existing = nonEmpty(yield* fs.readFileString(file))
    if (existing !== undefined) return { token: Redacted.make(existing), created: false }
    yield* AtomicFile.write(file, text)
    return { token, created: true }
  }).pipe(
    Effect.provideService(FileSystem.FileSystem, fs),
    Effect.mapError(failure(file, "write the admin token file"))
  )

/** The admin token for this start (see the module comment for the order). */
export const resolve = Effect.fn("AdminToken.resolve")(function* (options: ResolveOptions) {
  const configured = options.config.server.adminToken
  const fromConfig = configured === undefined ? undefined : nonEmpty(Redacted.value(configured))
  if (fromConfig !== undefined) {
    return { value: Redacted.make(fromConfig), source: "config", generated: false } satisfies AdminToken
  }
  const env = options.env ?? (yield* Effect.sync((): Env => ({ ...process.env })))
  const fromEnv = nonEmpty(env.MCPGATE_ADMIN_TOKEN)
  if (fromEnv !== undefined) {
    return { value: Redacted.make(fromEnv), source: "env", generated: false } satisfies AdminToken
  }
  const fs = yield* FileSystem.FileSystem
  const directory = options.stateDirectory ?? defaultStateDirectory(env)
  const path = NodePath.join(directory, fileName)
  const stored = yield* readTokenFile(fs, path)
  if (stored !== undefined) {
    return { value: Redacted.make(stored), source: "file", generated: false, path } satisfies AdminToken
  }
  const written = yield* createTokenFile(fs, directory, path)
  return {
    value: written.token,
    source: written.created ? "generated" : "file",
    generated: written.created,
    path
  } satisfies AdminToken
})
