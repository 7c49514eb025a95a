/**
 * The connection to the store's database and its schema (docs/store.md):
 * a pooled `PgClient`, migrations run under a lock so concurrent starts are
 * safe, and a database migrated by a newer mcpgate is refused untouched.
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as AdvisoryLock from "./internal/AdvisoryLock.ts"
import * as Migrations from "./Migrations.ts"
import { describeDatabase, fromSqlError, StoreError } from "./StoreError.ts"

/** The client as the store uses it (both its Postgres and its generic SQL face). */
export type Sql = PgClientModule.PgClient & SqlClient

/** A pooled client; a database that cannot be reached fails with reason "unavailable". */
export const layer = (url: Redacted.Redacted<string>) =>
  PgClientModule.layerFrom(
    PgClientModule.make({
      url,
      applicationName: "mcpgate",
      maxConnections: 10,
      connectTimeout: "5 seconds",
      // A request waits at most this long for a connection; with the database gone it then answers 503.
      acquireTimeout: "5 seconds",
      idleTimeout: "60 seconds"
    }).pipe(Effect.mapError(fromSqlError(describeDatabase(Redacted.value(url)), "connecting to the store")))
  )

export const databaseOf = (sql: Sql) =>
  sql.config.url === undefined ? "the database" : describeDatabase(Redacted.value(sql.config.url))

export interface SchemaStatus {
  /** The newest migration applied (0: none). */
  readonly current: number
  /** The newest this build knows. */
  readonly latest: number
}

/** Which schema the database has (0 when it was never migrated). */
export const status: Effect.Effect<SchemaStatus, StoreError, PgClientModule.PgClient> = Effect.gen(
  function* () {
    const sql = yield* PgClientModule.PgClient
    const what = fromSqlError(databaseOf(sql), "reading the schema version")
    const found = yield* sql<{ readonly found: boolean }>`
    SELECT to_regclass(${Migrations.migrationsTable}) IS NOT NULL AS found`.pipe(Effect.mapError(what))
    if (found[0]?.found !== true) return { current: 0, latest: Migrations.latestKnown }
    const rows = yield* sql<{ readonly current: number | null }>`
    SELECT max(migration_id) AS current FROM ${sql(Migrations.migrationsTable)}`.pipe(Effect.mapError(what))
    return { current: Number(rows[0]?.current ?? 0), latest: Migrations.latestKnown }
  }
)

const newer = (database: string, current: number) =>
  new StoreError({
    reason: "schema-newer",
    message: `the database ${database} has schema ${current}, newer than this mcpgate knows (${Migrations.latestKnown}); upgrade mcpgate (the database is left untouched)`
  })

/**
 * Brings the schema up to date; the ids of the migrations it ran (none when
 * another replica did it first). Holds a transaction-level advisory lock, so
 * replicas starting together run the migrations once.
 */
export const migrate: Effect.Effect<ReadonlyArray<number>, StoreError, PgClientModule.PgClient> = Effect.gen(
  function* () {
    const sql = yield* PgClientModule.PgClient
    const database = databaseOf(sql)
    const run = Effect.gen(function* () {
      yield* sql`SELECT pg_advisory_xact_lock(${AdvisoryLock.lockKey("migrations")}::bigint)`
      const before = yield* status
      if (before.current > Migrations.latestKnown) return yield* newer(database, before.current)
      const ran = yield* Migrations.run.pipe(
        Effect.provideService(SqlClient, sql),
        Effect.mapError(
          (error) =>
            new StoreError({
              reason: "database",
              message: `migrating ${database} failed: ${error.message}`
            })
        )
      )
      return ran.map(([id]) => id)
    })
    return yield* sql
      .withTransaction(run)
      .pipe(
        Effect.catchTag("SqlError", (error) =>
          Effect.fail(fromSqlError(database, "migrating the store")(error))
        )
      )
  }
)
