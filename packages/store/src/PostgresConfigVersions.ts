/**
 * The config saved through the admin API, in the shared store
 * (docs/store.md#config): every save a new version in
 * `mcpgate_config_versions` with who saved it and which paths changed. The
 * text is the file's own (its `${env:…}` references unresolved), sealed whole
 * with AES-256-GCM since it may hold literal secrets. A trigger announces each
 * version on the `mcpgate_config` channel, so every replica applies it.
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import * as Encryption from "@mcpgate/core/Encryption"
import { Effect, Option, Queue, Schedule, Schema, Stream } from "effect"
import { observed } from "./internal/StoreSpan.ts"
import * as Migrations from "./Migrations.ts"
import * as StoreDatabase from "./StoreDatabase.ts"
import { fromSqlError, StoreError } from "./StoreError.ts"

export interface StoredConfig {
  readonly version: number
  /** The config file's text as saved. */
  readonly text: string
}

export interface ConfigVersion {
  readonly version: number
  readonly actor: string
  /** Dotted config paths that changed (never values). */
  readonly paths: ReadonlyArray<string>
  /** Epoch ms. */
  readonly at: number
}

const associatedData = (version: number) => `mcpgate:config:${version}`
const Paths = Schema.Array(Schema.String)
const decodePaths = Schema.decodeUnknownOption(Paths)

/** The versions over the store's database. */
export const make = (keyring: Encryption.Keyring) =>
  Effect.gen(function* () {
    const sql = yield* PgClientModule.PgClient
    const database = StoreDatabase.databaseOf(sql)
    const failure = (what: string) => fromSqlError(database, what)
    const open = (row: { readonly version: string | number; readonly sealed: string }) =>
      Encryption.open(keyring, row.sealed, associatedData(Number(row.version))).pipe(
        Effect.map((text): StoredConfig => ({ version: Number(row.version), text })),
        Effect.mapError(
          (error) => new StoreError({ reason: "encryption", message: `a stored config: ${error.message}` })
        )
      )
    return {
      /** Keeps `text` as the newest version; its number. */
      save: (text: string, actor: string, paths: ReadonlyArray<string>) =>
        sql
          .withTransaction(
            Effect.gen(function* () {
              // The version is taken first: the text is sealed bound to it.
              const [row] = yield* sql<{ readonly version: string | number }>`
                SELECT nextval(pg_get_serial_sequence('mcpgate_config_versions', 'version')) AS version`
              const version = Number(row?.version)
              const sealed = Encryption.seal(keyring, text, associatedData(version))
              yield* sql`
                INSERT INTO mcpgate_config_versions (version, sealed, key_id, actor, paths)
                VALUES (${version}, ${sealed}, ${keyring.current.id}, ${actor}, ${JSON.stringify(paths)}::jsonb)`
              return version
            })
          )
          .pipe(Effect.mapError(failure("saving the config")), observed("config.save")),
      /** The newest version, if any was saved. */
      latest: sql<{ readonly version: string | number; readonly sealed: string }>`
        SELECT version, sealed FROM mcpgate_config_versions ORDER BY version DESC LIMIT 1`.pipe(
        Effect.mapError(failure("reading the stored config")),
        Effect.flatMap((rows) =>
          rows[0] === undefined ? Effect.succeedNone : Effect.map(open(rows[0]), Option.some)
        ),
        observed("config.latest")
      ),
      /** Versions newest first (never their text). */
      history: (limit: number) =>
        sql<{
          readonly version: string | number
          readonly actor: string
          readonly paths: unknown
          readonly at_ms: string | number
        }>`
          SELECT version, actor, paths, (extract(epoch FROM created_at) * 1000)::bigint AS at_ms
          FROM mcpgate_config_versions ORDER BY version DESC LIMIT ${limit}`.pipe(
          Effect.mapError(failure("reading the config history")),
          Effect.map((rows) =>
            rows.map(
              (row): ConfigVersion => ({
                version: Number(row.version),
                actor: row.actor,
                paths: Option.getOrElse(decodePaths(row.paths), () => []),
                at: Number(row.at_ms)
              })
            )
          ),
          observed("config.history")
        ),
      /**
       * A tick for each new version, and one each time listening (re)starts, since
       * a version saved while the connection was down sent its notice to no one.
       */
      changes: Stream.callback<void>((queue) =>
        Effect.scoped(
          Effect.gen(function* () {
            const notices = yield* sql.listen(Migrations.configChannel)
            yield* Queue.offer(queue, undefined)
            while (true) {
              yield* Queue.take(notices)
              yield* Queue.offer(queue, undefined)
            }
          })
        ).pipe(Effect.retry(Schedule.spaced("500 millis")), Effect.orDie)
      )
    }
  })

export type ConfigVersions = Effect.Success<ReturnType<typeof make>>

/**
 * Re-seals every version not under the current key (`mcpgate store
 * rotate-key`), one row per transaction; how many it re-sealed.
 */
export const rotateKey = (keyring: Encryption.Keyring) =>
  Effect.gen(function* () {
    const sql = yield* PgClientModule.PgClient
    const failure = fromSqlError(StoreDatabase.databaseOf(sql), "re-encrypting the stored config")
    const stale = yield* sql<{ readonly version: string | number }>`
      SELECT version FROM mcpgate_config_versions WHERE key_id <> ${keyring.current.id}`.pipe(
      Effect.mapError(failure)
    )
    let resealed = 0
    for (const { version } of stale) {
      const number = Number(version)
      const done = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const [row] = yield* sql<{ readonly sealed: string; readonly key_id: string }>`
            SELECT sealed, key_id FROM mcpgate_config_versions WHERE version = ${number} FOR UPDATE`
            if (row === undefined || row.key_id === keyring.current.id) return false
            const text = yield* Encryption.open(keyring, row.sealed, associatedData(number)).pipe(
              Effect.mapError(
                (error) =>
                  new StoreError({
                    reason: "encryption",
                    message: `config version ${number}: ${error.message}`
                  })
              )
            )
            const sealed = Encryption.seal(keyring, text, associatedData(number))
            yield* sql`
            UPDATE mcpgate_config_versions SET sealed = ${sealed}, key_id = ${keyring.current.id}
            WHERE version = ${number}`
            return true
          })
        )
        .pipe(Effect.catchTag("SqlError", (error) => Effect.fail(failure(error))))
      if (done) resealed += 1
    }
    return resealed
  })
