/**
 * The admin token (SPEC §5): `server.adminToken` in the config, else the
 * `MCPGATE_ADMIN_TOKEN` environment variable, else a token generated on the
 * first start (32 random bytes, base64url) and kept in
 * `<stateDirectory>/admin-token` (0600 in a 0700 directory), so later starts
 * reuse it. Only the start that generated it says so (`generated`), so that
 * `mcpgate serve` prints it once.
 */
import { randomBytes } from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import type { McpgateConfig } from "@mcpgate/core/Config"
import type { Env } from "@mcpgate/core/ConfigFile"
import { stateDirectory as defaultStateDirectory } from "@mcpgate/core/Paths"
import { Effect, Predicate, Redacted, Schema } from "effect"

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

const errorCode = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "code") && Predicate.isString(error.code) ? error.code : undefined

const describe = (error: unknown): string => {
  switch (errorCode(error)) {
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "EISDIR":
      return "it is a directory"
    default:
      return error instanceof Error ? error.message : String(error)
  }
}

const nonEmpty = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === "" ? undefined : trimmed
}

/** 32 bytes from the operating system's CSPRNG, base64url (43 characters). */
export const generate = (): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.sync(() => Redacted.make(randomBytes(32).toString("base64url")))

const io = <A>(path: string, what: string, run: () => Promise<A>): Effect.Effect<A, AdminTokenError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new AdminTokenError({
        path,
        message: `cannot ${what} ${path}: ${describe(error)}; fix its permissions, or set MCPGATE_ADMIN_TOKEN or "server.adminToken"`
      })
  })

const readTokenFile = (file: string) =>
  io(file, "read the admin token file", async () => {
    try {
      const stat = await NodeFs.stat(file)
      // Copies and old tools may have widened it; the token opens the admin API.
      if (posix && (stat.mode & 0o777) !== 0o600) await NodeFs.chmod(file, 0o600)
      return nonEmpty(await NodeFs.readFile(file, "utf8"))
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined
      throw error
    }
  })

/**
 * Creates the file only if it does not exist, atomically: the token is written
 * to a temp file (0600, fsynced) that is then hard-linked to the final name,
 * which fails when another process got there first. Returns the token that won.
 */
const createTokenFile = (directory: string, file: string, token: Redacted.Redacted<string>) =>
  io(file, "write the admin token file", async () => {
    await NodeFs.mkdir(directory, { recursive: true, mode: 0o700 })
    if (posix) {
      const stat = await NodeFs.stat(directory)
      if ((stat.mode & 0o777) !== 0o700) await NodeFs.chmod(directory, 0o700)
    }
    const temp = NodePath.join(directory, `.${fileName}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`)
    const handle = await NodeFs.open(temp, "wx", 0o600)
    try {
      // The umask can only remove bits; chmod makes 0600 exact.
      if (posix) await handle.chmod(0o600)
      await handle.writeFile(`${Redacted.value(token)}\n`, "utf8")
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await NodeFs.link(temp, file)
      return { token, created: true }
    } catch (error) {
      if (errorCode(error) !== "EEXIST") throw error
      const existing = nonEmpty(await NodeFs.readFile(file, "utf8"))
      if (existing !== undefined) return { token: Redacted.make(existing), created: false }
      // An empty file left by a crash: replace it.
      await NodeFs.rename(temp, file)
      return { token, created: true }
    } finally {
      await NodeFs.rm(temp, { force: true })
      const handle = await NodeFs.open(directory, "r").catch(() => undefined)
      await handle?.sync().catch(() => undefined)
      await handle?.close().catch(() => undefined)
    }
  })

/** The admin token for this start (see the module comment for the order). */
export const resolve = Effect.fn("AdminToken.resolve")(function* (options: ResolveOptions) {
  const fromConfig = nonEmpty(options.config.server.adminToken)
  if (fromConfig !== undefined) {
    return { value: Redacted.make(fromConfig), source: "config", generated: false } satisfies AdminToken
  }
  const env = options.env ?? (yield* Effect.sync((): Env => ({ ...process.env })))
  const fromEnv = nonEmpty(env.MCPGATE_ADMIN_TOKEN)
  if (fromEnv !== undefined) {
    return { value: Redacted.make(fromEnv), source: "env", generated: false } satisfies AdminToken
  }
  const directory = options.stateDirectory ?? defaultStateDirectory(env)
  const path = NodePath.join(directory, fileName)
  const stored = yield* readTokenFile(path)
  if (stored !== undefined) {
    return { value: Redacted.make(stored), source: "file", generated: false, path } satisfies AdminToken
  }
  const written = yield* createTokenFile(directory, path, yield* generate())
  return {
    value: written.token,
    source: written.created ? "generated" : "file",
    generated: written.created,
    path
  } satisfies AdminToken
})
