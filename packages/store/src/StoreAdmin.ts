/**
 * What `mcpgate store migrate | status | import | rotate-key` do
 * (docs/store.md#commands), over a `PgClient`. Reports name counts, key ids
 * and servers, never a secret.
 */

import * as PgClientModule from "@effect/sql-pg/PgClient"
import { type Credential, keyOf } from "@mcpgate/core/Credential"
import type { CredentialStoreShape } from "@mcpgate/core/CredentialStore"
import type * as Encryption from "@mcpgate/core/Encryption"
import { Effect } from "effect"
import * as ConfigVersions from "./PostgresConfigVersions.ts"
import { openCredential, sealCredential, toCredentialStoreError } from "./PostgresCredentialStore.ts"
import * as StoreDatabase from "./StoreDatabase.ts"
import { fromSqlError, StoreError } from "./StoreError.ts"

export interface StoreStatus {
  /** `host:port/database`. */
  readonly database: string
  readonly schema: StoreDatabase.SchemaStatus
  readonly credentials: number
  /** How many sealed values each key id holds (all under the current key once rotated). */
  readonly keyIds: Readonly<Record<string, number>>
}

const client = PgClientModule.PgClient

/** The schema version, how many credentials, and which keys sealed them. */
export const status = Effect.gen(function* () {
  const sql = yield* client
  const database = StoreDatabase.databaseOf(sql)
  const schema = yield* StoreDatabase.status
  if (schema.current === 0) return { database, schema, credentials: 0, keyIds: {} } satisfies StoreStatus
  const rows = yield* sql<{ readonly key_id: string; readonly count: string }>`
    SELECT key_id, count(*)::text AS count FROM mcpgate_credentials GROUP BY key_id ORDER BY key_id`.pipe(
    Effect.mapError(fromSqlError(database, "reading the store's status"))
  )
  const keyIds = Object.fromEntries(rows.map((row) => [row.key_id, Number(row.count)]))
  const credentials = rows.reduce((sum, row) => sum + Number(row.count), 0)
  return { database, schema, credentials, keyIds } satisfies StoreStatus
})

export interface ImportReport {
  readonly imported: ReadonlyArray<string>
  /** Already in the store: kept as they are (a stored credential is never overwritten by an import). */
  readonly skipped: ReadonlyArray<string>
}

/** Copies every credential of `from` (the local store) into the database, skipping those already there. */
export const importCredentials = (from: CredentialStoreShape, to: CredentialStoreShape) =>
  Effect.gen(function* () {
    const credentials: ReadonlyArray<Credential> = yield* from.list
    const imported: Array<string> = []
    const skipped: Array<string> = []
    for (const credential of credentials) {
      const outcome = yield* to.withLock(
        credential,
        Effect.gen(function* () {
          const existing = yield* to.get(credential)
          if (existing._tag === "Some") return "skipped" as const
          yield* to.set(credential)
          return "imported" as const
        })
      )
      ;(outcome === "imported" ? imported : skipped).push(keyOf(credential))
    }
    return { imported, skipped } satisfies ImportReport
  })

export interface RotateReport {
  /** The key everything is sealed with now. */
  readonly keyId: string
  readonly resealed: number
}

/**
 * Re-encrypts every sealed value not under the current key, one row at a
 * time in its own transaction (`FOR UPDATE`), so replicas keep working and a
 * rotation stopped midway is finished by running it again.
 */
export const rotateKey = (keyring: Encryption.Keyring) =>
  Effect.gen(function* () {
    const sql = yield* client
    const database = StoreDatabase.databaseOf(sql)
    const sqlFailure = fromSqlError(database, "re-encrypting the store")
    const stale = yield* sql<{ readonly principal: string; readonly key: string }>`
      SELECT principal, key FROM mcpgate_credentials WHERE key_id <> ${keyring.current.id}`.pipe(
      Effect.mapError(sqlFailure)
    )
    let resealed = 0
    for (const row of stale) {
      const done = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const current = yield* sql<{ readonly sealed: string; readonly key_id: string }>`
              SELECT sealed, key_id FROM mcpgate_credentials
              WHERE principal = ${row.principal} AND key = ${row.key} FOR UPDATE`
            const found = current[0]
            if (found === undefined || found.key_id === keyring.current.id) return false
            const credential = yield* openCredential(keyring, row.principal, row.key, found.sealed)
            const sealed = yield* sealCredential(keyring, row.principal, credential)
            yield* sql`
              UPDATE mcpgate_credentials SET sealed = ${sealed}, key_id = ${keyring.current.id}
              WHERE principal = ${row.principal} AND key = ${row.key}`
            return true
          })
        )
        .pipe(
          Effect.catchTag("SqlError", (error) => Effect.fail(toCredentialStoreError(sqlFailure(error)))),
          Effect.mapError(
            (error) =>
              new StoreError({
                reason: error.reason === "unavailable" ? "unavailable" : "encryption",
                message: `re-encrypting ${row.key}: ${error.message}`
              })
          )
        )
      if (done) resealed += 1
    }
    // The config versions live as long as the credentials (docs/store.md#config).
    resealed += yield* ConfigVersions.rotateKey(keyring)
    return { keyId: keyring.current.id, resealed } satisfies RotateReport
  })
