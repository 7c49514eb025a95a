/**
 * The config editor (docs/http-api.md#config-editor): `GET config` answers the
 * file's text as on disk (its `${env:…}` references, never their values);
 * `PUT config` validates a new text, checks it against the security rules and
 * `server.configEditor`, writes it atomically with a backup and applies it;
 * `POST reload` reads the file again and applies it.
 */
import { createHash } from "node:crypto"
import { isNotFound } from "@mcpgate/core/AtomicFile"
import { changedPaths } from "@mcpgate/core/AuditLog"
import type { McpgateConfig } from "@mcpgate/core/Config"
import { toFileShape } from "@mcpgate/core/ConfigFile"
import { Effect, Option, Predicate, Ref, Schema } from "effect"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import { type AppliedAnswer, type ConfigAnswer, PutConfigRequest } from "../api/AdminSchemas.ts"
import * as ConfigEditorMode from "../security/ConfigEditorMode.ts"
import type { AdminContextShape } from "./AdminContext.ts"
import { RequestBody } from "./AdminMiddleware.ts"
import { configRejected, fromConfigError } from "./AdminResponses.ts"
import * as ConfigVersions from "./ConfigVersions.ts"

const decodeText = Schema.decodeUnknownEffect(Schema.Struct({ text: PutConfigRequest.fields.text }))
const decodeBaseHash = Schema.decodeUnknownEffect(
  Schema.Struct({ baseHash: PutConfigRequest.fields.baseHash })
)

/** The body as `PUT config` needs it, else 400 `invalid_body` saying which field is wrong. */
const putRequest = Effect.gen(function* () {
  const body = yield* RequestBody
  const { text } = yield* decodeText(body).pipe(
    Effect.mapError(() =>
      AdminErrors.invalidBody.make('expected a JSON object {"text": "<the config file>"}')
    )
  )
  const { baseHash } = yield* decodeBaseHash(body).pipe(
    Effect.mapError(() =>
      AdminErrors.invalidBody.make('"baseHash" must be the "hash" that GET config returned')
    )
  )
  return baseHash === undefined ? { text } : { text, baseHash }
})

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex")

/**
 * What needs a restart to change: the listener, the admin token, the upstream, the
 * builtins, the loop budget. Compared in the file's form, where secrets are text
 * (a `Redacted` would print the same whatever it holds).
 */
const restartSettings = (config: McpgateConfig) => {
  const { server, builtins, maxToolCalls } = toFileShape(config)
  const { apiKeys: _live, ...restartOnly } = Predicate.isObject(server) ? server : {}
  return JSON.stringify([restartOnly, builtins, maxToolCalls])
}

// As on disk: a byte order mark is kept (TextDecoder would drop it by default).
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true })

/** The shared store cannot be reached: 503, nothing was changed. */
const storeUnavailable = (error: { readonly message: string }) =>
  AdminErrors.storeUnavailable.make(error.message)

/**
 * The config's text: with a shared store its newest stored version
 * (docs/store.md#config), else (or before any save) the file's; none when
 * there is neither.
 */
const readConfigText = (ctx: AdminContextShape) =>
  ctx.versions === undefined
    ? readFileText(ctx)
    : ctx.versions.latest.pipe(
        Effect.mapError(storeUnavailable),
        Effect.flatMap((latest) =>
          Option.isSome(latest) ? Effect.succeed(Option.some(latest.value.text)) : readFileText(ctx)
        )
      )

/** The file's text, or none when it does not exist. */
const readFileText = (ctx: AdminContextShape) =>
  ctx.fs.readFile(ctx.configFile.path).pipe(
    Effect.map((bytes) => Option.some(utf8.decode(bytes))),
    Effect.catchIf(isNotFound, () => Effect.succeed(Option.none<string>())),
    Effect.mapError(() =>
      AdminErrors.configUnreadable.make(`cannot read the config file ${ctx.configFile.path}`)
    )
  )

/** The config in the file now (what its owner wrote), else the one running. */
const fileConfig = (ctx: AdminContextShape) =>
  Effect.gen(function* () {
    const text = yield* readConfigText(ctx).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    const parsed = Option.isSome(text)
      ? yield* Effect.option(ctx.configFile.parse(text.value))
      : Option.none()
    return Option.isSome(parsed) ? parsed.value : yield* Ref.get(ctx.applied)
  })

const editorRefused = (refusal: ConfigEditorMode.EditorRefusal) =>
  (refusal.code === "config_read_only" ? AdminErrors.configReadOnly : AdminErrors.configCommandsLocked).make(
    refusal.message
  )

/** `server.configEditor` (security/ConfigEditorMode.ts): 403 for what the mode does not allow. */
const editorCheck = (ctx: AdminContextShape, current: McpgateConfig, next: McpgateConfig) => {
  const refusal = ConfigEditorMode.check(ctx.security.configEditor, current, next)
  return refusal === undefined ? Effect.void : Effect.fail(editorRefused(refusal))
}

const securityCheck = (ctx: AdminContextShape, config: McpgateConfig) =>
  ctx.security
    .check(config)
    .pipe(
      Effect.mapError((error) =>
        configRejected(error.message, [{ path: error.path, message: error.message }])
      )
    )

/**
 * Applied to the manager and the API keys; `restartRequired` when a setting only a
 * restart applies changed. `audited`: recorded as a config change (a version another
 * replica saved was recorded there).
 */
const applyConfig = (ctx: AdminContextShape, config: McpgateConfig, audited = true) =>
  Effect.gen(function* () {
    const previous = yield* Ref.get(ctx.applied)
    yield* ctx.manager.reload(config)
    // Checked before saving; a failure here would only mean the keys stay as they were.
    yield* ctx.security.apply(config).pipe(Effect.ignore)
    yield* Ref.set(ctx.applied, config)
    // Which paths changed, never their values (docs/store.md#audit-log).
    if (audited) {
      yield* ctx.audit({
        kind: "config-change",
        actor: "admin",
        paths: changedPaths(toFileShape(previous), toFileShape(config))
      })
    }
    return { restartRequired: restartSettings(previous) !== restartSettings(config) }
  })

/** `GET config` → `{path, editor, exists, text, hash}`. */
export const getConfig = (ctx: AdminContextShape) =>
  Effect.map(readConfigText(ctx), (text): ConfigAnswer => {
    const content = Option.getOrElse(text, () => "")
    return {
      path: ctx.configFile.path,
      editor: ctx.security.configEditor,
      exists: Option.isSome(text),
      text: content,
      hash: sha256(content)
    }
  })

/** `PUT config` `{text, baseHash?}` → `{ok, path, restartRequired}`. */
export const putConfig = (ctx: AdminContextShape) =>
  Effect.gen(function* () {
    const body = yield* putRequest
    if (ctx.security.configEditor === "read-only") return yield* editorRefused(ConfigEditorMode.readOnly)
    return yield* Effect.gen(function* () {
      const config = yield* ctx.configFile.parse(body.text).pipe(Effect.mapError(fromConfigError))
      yield* securityCheck(ctx, config)
      yield* editorCheck(ctx, yield* fileConfig(ctx), config)
      if (body.baseHash !== undefined) {
        const current = Option.getOrElse(yield* readConfigText(ctx), () => "")
        if (sha256(current) !== body.baseHash) {
          return yield* AdminErrors.configChanged.make(
            "the config file changed on disk since it was loaded; reload it and apply the edit again"
          )
        }
      }
      // With a shared store the new version goes there first: unreachable, nothing changes (503).
      if (ctx.versions !== undefined) {
        const paths = changedPaths(toFileShape(yield* Ref.get(ctx.applied)), toFileShape(config))
        const version = yield* ctx.versions
          .save(body.text, "admin", paths)
          .pipe(Effect.mapError(storeUnavailable))
        yield* Ref.set(ctx.appliedVersion, version)
      }
      const saved = yield* ctx.configFile.saveText(body.text).pipe(
        Effect.catchTags({
          ConfigError: (error) => Effect.fail(fromConfigError(error)),
          ConfigWriteError: (error) => Effect.fail(AdminErrors.configWriteFailed.make(error.message))
        })
      )
      const { restartRequired } = yield* applyConfig(ctx, saved.config)
      return { ok: true, path: saved.path, restartRequired } satisfies AppliedAnswer
    }).pipe(ctx.configLock.withPermits(1))
  })

/** `POST reload` → `{ok, path, restartRequired}`. */
export const reload = (ctx: AdminContextShape) =>
  Effect.gen(function* () {
    const loaded = yield* ctx.configFile.reload.pipe(Effect.mapError(fromConfigError))
    yield* securityCheck(ctx, loaded.config)
    const { restartRequired } = yield* applyConfig(ctx, loaded.config)
    return { ok: true, path: loaded.path, restartRequired } satisfies AppliedAnswer
  }).pipe(ctx.configLock.withPermits(1))

/**
 * With a shared store: applies each version another replica saved, the way
 * `PUT config` applies its own (parsed, checked against the security rules,
 * reloaded), one save or apply at a time (docs/store.md#config).
 */
export const followStoredConfig = (ctx: AdminContextShape) =>
  ctx.versions === undefined
    ? Effect.void
    : ConfigVersions.follow(
        ctx.versions,
        ctx.appliedVersion,
        (text) =>
          Effect.gen(function* () {
            const config = yield* ctx.configFile.parse(text)
            yield* ctx.security.check(config)
            yield* applyConfig(ctx, config, false)
            return config
          }),
        ctx.configLock.withPermits(1)
      )

/** `GET config/history` → `{versions}`, newest first; empty without a shared store. */
export const history = (ctx: AdminContextShape) =>
  ctx.versions === undefined
    ? Effect.succeed({ versions: [] })
    : ctx.versions.history(100).pipe(
        Effect.map((versions) => ({ versions })),
        Effect.mapError(storeUnavailable)
      )
