/**
 * `ConfigFile` (docs/configuration.md): finds the config file, loads it into the normalized
 * model of ./Config.ts, reloads it, and saves it atomically with a backup.
 *
 * Lookup order: `--config PATH`, `MCPGATE_CONFIG`, `./mcpgate.json`,
 * `$XDG_CONFIG_HOME/mcpgate/config.json` (default `~/.config/mcpgate/config.json`);
 * `MCPGATE_HOME` replaces `~/.config/mcpgate` and is also the state directory.
 * The environment and the working directory are inputs (`layerWith`), so tests
 * never touch `process.env`.
 */
import * as NodePath from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Context, DateTime, Effect, FileSystem, Layer, Option, Ref, Semaphore } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as AtomicFile from "./AtomicFile.ts"
import type { McpgateConfig } from "./Config.ts"
import { type ConfigError, ConfigWriteError, makeConfigError } from "./ConfigError.ts"
import type { Env } from "./ConfigInterpolation.ts"
import { decodeText, emptyConfig, encodeText } from "./ConfigSchema.ts"
import { configDirectory, setting, stateDirectory } from "./Paths.ts"

export * from "./ConfigError.ts"
export { type Env, escapeReferences, interpolate } from "./ConfigInterpolation.ts"
export {
  type DecodeOptions,
  decodeText,
  emptyConfig,
  encodeText,
  suggestKey,
  toFileShape
} from "./ConfigSchema.ts"

// ---------------------------------------------------------------------------
// Where things live.

/** How the config path was found. `flag` and `env` are explicit: a missing file there is an error. */
export type ConfigOrigin = "flag" | "env" | "cwd" | "user"

export interface ConfigLocation {
  readonly path: string
  readonly origin: ConfigOrigin
}

export { configDirectory, homeDirectory, stateDirectory } from "./Paths.ts"

/** `<stateDirectory>/backups`: the previous config files, `config-<timestamp>.json`. */
export const backupDirectory = (env: Env): string => NodePath.join(stateDirectory(env), "backups")

/** How many backups `save` keeps. */
export const backupsKept = 10

export interface LocateOptions {
  /** The `--config` flag. */
  readonly path?: string | undefined
  readonly env: Env
  readonly cwd: string
}

/** Every place the config may be, in lookup order (absolute paths). */
export const configCandidates = (options: LocateOptions): ReadonlyArray<ConfigLocation> => {
  const candidates: Array<ConfigLocation> = []
  const flag = setting(options.path)
  if (flag !== undefined) candidates.push({ path: NodePath.resolve(options.cwd, flag), origin: "flag" })
  const fromEnv = setting(options.env.MCPGATE_CONFIG)
  if (fromEnv !== undefined) candidates.push({ path: NodePath.resolve(options.cwd, fromEnv), origin: "env" })
  candidates.push({ path: NodePath.join(options.cwd, "mcpgate.json"), origin: "cwd" })
  candidates.push({ path: NodePath.join(configDirectory(options.env), "config.json"), origin: "user" })
  return candidates
}

// Anything but "does not exist" counts as present, so that reading it reports the real problem.
const exists = (path: string): Effect.Effect<boolean, never, FileSystem.FileSystem> =>
  FileSystem.FileSystem.use((fs) => fs.stat(path)).pipe(
    Effect.as(true),
    Effect.catch((error) =>
      Effect.succeed(!(AtomicFile.isNotFound(error) || AtomicFile.errorCode(error) === "ENOTDIR"))
    )
  )

/**
 * The config path: the first explicit one (flag, env) whether or not it exists,
 * else the first default that exists, else the user config path (where
 * `config init` and `save` will create it).
 */
export const locate = Effect.fn("ConfigFile.locate")(function* (
  options: LocateOptions
): Effect.fn.Return<ConfigLocation, never, FileSystem.FileSystem> {
  const candidates = configCandidates(options)
  for (const candidate of candidates) {
    if (candidate.origin === "flag" || candidate.origin === "env") return candidate
    if (yield* exists(candidate.path)) return candidate
  }
  return (
    candidates.at(-1) ?? { path: NodePath.join(configDirectory(options.env), "config.json"), origin: "user" }
  )
})

/** A path as shown in messages: relative when it is under the working directory. */
const displayPath = (path: string, cwd: string): string => {
  const relative = NodePath.relative(cwd, path)
  return relative !== "" && !relative.startsWith("..") && !NodePath.isAbsolute(relative) ? relative : path
}

// ---------------------------------------------------------------------------
// Pure parsing.

/** Validates a config text without touching the disk (the admin editor, tests). */
export const parse = (text: string, file: string, env: Env = {}): Effect.Effect<McpgateConfig, ConfigError> =>
  Effect.fromResult(decodeText(text, { file, env }))

/** What `config init` writes: valid as it is, with the common cases ready to uncomment. */
export const starterText = `// mcpgate configuration. Comments and trailing commas are allowed; keys starting
// with "_" are ignored; "\${env:NAME}" is replaced from the environment.
{
  "mcpServers": {
    // A local server over stdio:
    // "everything": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"] },
    // A remote server behind OAuth (then run: mcpgate login notion):
    // "notion": { "url": "https://mcp.notion.com/mcp", "auth": { "type": "oauth2" } },
  },
  "maxToolCalls": 10,
  "defaultTimeout": 30,
  "builtins": {
    "fetch": { "enabled": true, "allowPrivateNetwork": false },
    "webSearch": { "enabled": true, "provider": "duckduckgo" },
  },
  "server": {
    "host": "127.0.0.1",
    "port": 8808,
    // The OpenAI-compatible model endpoint that /v1/chat/completions forwards to:
    "upstream": { "baseUrl": "http://127.0.0.1:11434/v1" },
  },
}
`

// ---------------------------------------------------------------------------
// The service.

export interface LoadedConfig {
  /** The resolved config path. */
  readonly path: string
  readonly origin: ConfigOrigin
  /** False when no file exists at a default location: `config` is then `emptyConfig`. */
  readonly exists: boolean
  readonly config: McpgateConfig
  /** The file's text as read (comments and `${env:…}` references intact); absent when there is no file. */
  readonly text?: string
}

export interface ConfigFileShape {
  /** The resolved config path (absolute): where `load` reads and `save` writes. */
  readonly path: string
  readonly origin: ConfigOrigin
  /** Where tokens, the admin token and config backups live. */
  readonly stateDirectory: string
  /** Reads, parses and validates the file. A missing explicit file is an error; a missing default file gives `emptyConfig`. */
  readonly load: Effect.Effect<LoadedConfig, ConfigError>
  /** Reads the file again; on failure `current` keeps the last good config. */
  readonly reload: Effect.Effect<LoadedConfig, ConfigError>
  /** The last config loaded or saved successfully (loads it the first time). */
  readonly current: Effect.Effect<LoadedConfig, ConfigError>
  /** Validates a text with this file's name and environment, without touching the disk. */
  readonly parse: (text: string) => Effect.Effect<McpgateConfig, ConfigError>
  /** Writes the model in the canonical shape (atomically, previous file kept as a backup). */
  readonly save: (config: McpgateConfig) => Effect.Effect<LoadedConfig, ConfigError | ConfigWriteError>
  /** Writes a text verbatim after validating it (never writes an invalid config); keeps comments. */
  readonly saveText: (text: string) => Effect.Effect<LoadedConfig, ConfigError | ConfigWriteError>
  /**
   * Writes `starterText` at `path` (`mcpgate config init`) and returns the path. An existing
   * file is an error unless `force` is set, in which case it is replaced and kept as a backup.
   */
  readonly init: (options?: {
    readonly force?: boolean
  }) => Effect.Effect<string, ConfigError | ConfigWriteError>
}

export interface ConfigFileOptions {
  /** The `--config` flag (relative paths are resolved against `cwd`). */
  readonly path?: string | undefined
  /** Defaults to `process.env`. */
  readonly env?: Env | undefined
  /** Defaults to `process.cwd()`. */
  readonly cwd?: string | undefined
}

// `config-2026-01-02T03-04-05.678Z.json`: ISO time with ":" (refused by some file systems) as "-".
const backupName = /^config-(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d\.\d{3})Z\.json$/

const backupFileName = (millis: number): string =>
  `config-${DateTime.formatIso(DateTime.makeUnsafe(millis)).replaceAll(":", "-")}.json`

const backupTime = (name: string): Option.Option<number> => {
  const match = backupName.exec(name)
  return match === null
    ? Option.none()
    : Option.map(DateTime.make(`${match[1]}T${match[2]}:${match[3]}:${match[4]}Z`), DateTime.toEpochMillis)
}

const make = Effect.fnUntraced(function* (options: ConfigFileOptions) {
  const fs = yield* FileSystem.FileSystem
  const withFs = Effect.provideService(FileSystem.FileSystem, fs)
  const env = options.env ?? (yield* Effect.sync((): Env => ({ ...process.env })))
  const cwd = options.cwd ?? (yield* Effect.sync(() => process.cwd()))
  const location = yield* locate({ path: options.path, env, cwd })
  const file = displayPath(location.path, cwd)
  const backups = backupDirectory(env)
  const last = yield* Ref.make(Option.none<LoadedConfig>())
  const writeLock = yield* Semaphore.make(1)

  const fileError = (message: string) => makeConfigError(file, [{ path: "$", message }])

  const parseText = (text: string) => Effect.fromResult(decodeText(text, { file, env }))

  const readText = fs.readFileString(location.path).pipe(
    Effect.map(Option.some),
    Effect.catchIf(AtomicFile.isNotFound, () => Effect.succeedNone),
    Effect.mapError((error) => fileError(`cannot read the file: ${AtomicFile.describeError(error)}`))
  )

  const read = Effect.gen(function* () {
    const text = yield* readText
    if (Option.isNone(text)) {
      if (location.origin === "flag") return yield* fileError("file not found (given with --config)")
      if (location.origin === "env") return yield* fileError("file not found (set by MCPGATE_CONFIG)")
      const loaded: LoadedConfig = {
        path: location.path,
        origin: location.origin,
        exists: false,
        config: emptyConfig
      }
      yield* Ref.set(last, Option.some(loaded))
      return loaded
    }
    const config = yield* parseText(text.value)
    const loaded: LoadedConfig = {
      path: location.path,
      origin: location.origin,
      exists: true,
      config,
      text: text.value
    }
    yield* Ref.set(last, Option.some(loaded))
    return loaded
  })

  const writeError = (what: string) => (error: PlatformError) =>
    new ConfigWriteError({ file, message: `${file}: ${what}: ${AtomicFile.describeError(error)}` })

  const listBackups = fs.readDirectory(backups).pipe(
    Effect.map((names) => names.filter((name) => backupName.test(name)).sort()),
    Effect.mapError(writeError("cannot list the backups"))
  )

  /** Copies the previous file to `<state>/backups/config-<timestamp>.json` and keeps the newest ten. */
  const backup = Effect.fnUntraced(function* (bytes: Uint8Array) {
    yield* fs
      .makeDirectory(backups, { recursive: true, mode: 0o700 })
      .pipe(Effect.mapError(writeError("cannot create the backup directory")))
    const existing = yield* listBackups
    // Names must sort in save order even when the clock stands still or steps back:
    // a backup is never named before the newest one (or it would be pruned first).
    const newest = Option.flatMap(Option.fromNullishOr(existing.at(-1)), backupTime)
    const now = DateTime.toEpochMillis(yield* DateTime.now)
    let millis = Option.match(newest, { onNone: () => now, onSome: (time) => Math.max(now, time + 1) })
    // A new file, never replaced: created exclusively, the next millisecond if the name is taken.
    while (
      !(yield* fs
        .writeFile(NodePath.join(backups, backupFileName(millis)), bytes, { flag: "wx", mode: 0o600 })
        .pipe(
          Effect.as(true),
          Effect.catchIf(AtomicFile.isAlreadyExists, () => Effect.succeed(false)),
          Effect.mapError(writeError("cannot write the backup"))
        ))
    ) {
      millis += 1
    }
    const names = yield* listBackups
    for (const name of names.slice(0, Math.max(0, names.length - backupsKept))) {
      yield* fs
        .remove(NodePath.join(backups, name), { force: true })
        .pipe(Effect.mapError(writeError("cannot remove an old backup")))
    }
  })

  /** Backs up the previous file, then replaces it atomically, keeping its mode (../AtomicFile.ts). */
  const writeAtomically = Effect.fnUntraced(function* (text: string) {
    // Follow a symlinked config (dotfile managers) so that the link stays a link.
    const target = yield* fs.realPath(location.path).pipe(Effect.orElseSucceed(() => location.path))
    yield* fs
      .makeDirectory(NodePath.dirname(target), { recursive: true })
      .pipe(Effect.mapError(writeError("cannot create the directory")))
    const previous = yield* fs.readFile(target).pipe(
      Effect.map(Option.some),
      Effect.catchIf(AtomicFile.isNotFound, () => Effect.succeedNone),
      Effect.mapError(writeError("cannot read the current file"))
    )
    if (Option.isSome(previous)) yield* backup(previous.value)
    // A new config may hold secrets (client secrets, API keys): owner-only by default.
    yield* AtomicFile.write(target, text, { mode: 0o600, keepMode: true }).pipe(
      withFs,
      Effect.mapError(writeError("cannot replace the file"))
    )
  })

  const store = (text: string) =>
    Effect.gen(function* () {
      const config = yield* parseText(text)
      yield* writeAtomically(text)
      const loaded: LoadedConfig = {
        path: location.path,
        origin: location.origin,
        exists: true,
        config,
        text
      }
      yield* Ref.set(last, Option.some(loaded))
      return loaded
    }).pipe(writeLock.withPermits(1))

  return ConfigFile.of({
    path: location.path,
    origin: location.origin,
    stateDirectory: stateDirectory(env),
    load: read.pipe(Effect.withSpan("ConfigFile.load")),
    reload: read.pipe(Effect.withSpan("ConfigFile.reload")),
    current: Ref.get(last).pipe(
      Effect.flatMap(Option.match({ onNone: () => read, onSome: (loaded) => Effect.succeed(loaded) }))
    ),
    parse: parseText,
    // The canonical text is validated like any other, so save never writes what load would refuse.
    save: Effect.fn("ConfigFile.save")(function* (config: McpgateConfig) {
      return yield* store(encodeText(config))
    }),
    saveText: Effect.fn("ConfigFile.saveText")(function* (text: string) {
      return yield* store(text)
    }),
    init: Effect.fn("ConfigFile.init")(function* (initOptions?: { readonly force?: boolean }) {
      if (initOptions?.force !== true && (yield* withFs(exists(location.path)))) {
        return yield* fileError(
          "already exists (use --force to replace it; the old file is kept as a backup)"
        )
      }
      yield* store(starterText)
      return location.path
    })
  })
})

export class ConfigFile extends Context.Service<ConfigFile, ConfigFileShape>()("@mcpgate/core/ConfigFile") {
  /** With an explicit `--config` path, environment or working directory (tests pass their own). */
  static readonly layerWith = (options: ConfigFileOptions = {}): Layer.Layer<ConfigFile> =>
    Layer.effect(ConfigFile, make(options)).pipe(Layer.provide(NodeFileSystem.layer))

  /** From `process.env` and `process.cwd()`. */
  static readonly layer: Layer.Layer<ConfigFile> = ConfigFile.layerWith({})
}
