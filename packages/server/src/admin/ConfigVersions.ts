/**
 * The config in the shared store (docs/store.md#config): with a Postgres
 * store, a config saved through the admin API becomes a new stored version,
 * and every replica applies each new version as the admin API's save does.
 * Absent without a shared store: the file is the config.
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import { Context, Effect, Option, Ref, Stream } from "effect"

export interface ConfigVersion {
  readonly version: number
  /** Who saved it (`admin`). */
  readonly actor: string
  /** Dotted config paths that changed (never values). */
  readonly paths: ReadonlyArray<string>
  /** Epoch ms. */
  readonly at: number
}

type Failure = { readonly message: string }

export interface ConfigVersionsShape {
  /** Keeps the text as the newest version; its number. */
  readonly save: (text: string, actor: string, paths: ReadonlyArray<string>) => Effect.Effect<number, Failure>
  /** The newest version and its text, if any was saved. */
  readonly latest: Effect.Effect<Option.Option<{ readonly version: number; readonly text: string }>, Failure>
  /** Versions newest first, without their text. */
  readonly history: (limit: number) => Effect.Effect<ReadonlyArray<ConfigVersion>, Failure>
  /** A tick whenever a version may have been added (and when listening starts again). */
  readonly changes: Stream.Stream<void>
}

export class ConfigVersions extends Context.Service<ConfigVersions, ConfigVersionsShape>()(
  "@mcpgate/server/ConfigVersions"
) {}

/**
 * Applies each newer stored version with `apply` (the admin API's own
 * reload), one at a time; `applied` is the version running here. A version
 * that does not load or apply here is logged and the running config kept.
 */
export const follow = (
  versions: ConfigVersionsShape,
  applied: Ref.Ref<number>,
  apply: (config: string) => Effect.Effect<McpgateConfig, Failure>,
  lock: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
) =>
  Stream.runForEach(versions.changes, () =>
    lock(
      Effect.gen(function* () {
        const latest = yield* versions.latest
        if (Option.isNone(latest) || latest.value.version <= (yield* Ref.get(applied))) return
        yield* apply(latest.value.text)
        yield* Ref.set(applied, latest.value.version)
        yield* Effect.logInfo(`applied config version ${latest.value.version} from the store`)
      })
    ).pipe(
      Effect.catch((error) =>
        Effect.logWarning(`a stored config version was not applied here: ${error.message}`)
      )
    )
  )
