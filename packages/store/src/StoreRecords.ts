/**
 * Short-lived records found again by id (docs/store.md#schema): pending web
 * logins now, further kinds later. Each is sealed (it holds a PKCE verifier or
 * another secret) and bound to its kind and id; `take` reads and removes it in
 * one statement, so two replicas can never both redeem one.
 */

import * as PgClientModule from "@effect/sql-pg/PgClient"
import * as Encryption from "@mcpgate/core/Encryption"
import { Effect, Option } from "effect"
import { observed } from "./internal/StoreSpan.ts"
import * as StoreDatabase from "./StoreDatabase.ts"
import { fromSqlError, StoreError } from "./StoreError.ts"

/** A document store for one kind of record. */
export interface Records {
  /** Keeps `document` under `id` until `expiresAt` (epoch ms); replaces one with the same id. */
  readonly put: (id: string, document: string, expiresAt: number) => Effect.Effect<void, StoreError>
  /** Removes and returns the document of `id`; none when it is unknown or expired. */
  readonly take: (id: string) => Effect.Effect<Option.Option<string>, StoreError>
  /** The document of `id`, left in place; none when it is unknown or expired. */
  readonly get: (id: string) => Effect.Effect<Option.Option<string>, StoreError>
  /** Forgets `id` (nothing when it is unknown). */
  readonly remove: (id: string) => Effect.Effect<void, StoreError>
  /** Moves the expiry of a live record of `id` to `expiresAt`; false when there is none. */
  readonly refresh: (id: string, expiresAt: number) => Effect.Effect<boolean, StoreError>
}

const associatedData = (kind: string, id: string) => `mcpgate:record:${kind}:${id}`

/** The records of `kind` over the store's database. */
export const make = (kind: string, keyring: Encryption.Keyring) =>
  Effect.gen(function* () {
    const sql = yield* PgClientModule.PgClient
    const database = StoreDatabase.databaseOf(sql)
    const failure = (what: string) => fromSqlError(database, what)
    const openLive = (row: { readonly sealed: string; readonly live: boolean } | undefined, id: string) =>
      row === undefined || row.live !== true
        ? Effect.succeedNone
        : Encryption.open(keyring, row.sealed, associatedData(kind, id)).pipe(
            Effect.map(Option.some),
            Effect.mapError(
              (error) =>
                new StoreError({ reason: "encryption", message: `a ${kind} record: ${error.message}` })
            )
          )
    return {
      put: (id, document, expiresAt) =>
        Effect.gen(function* () {
          const sealed = Encryption.seal(keyring, document, associatedData(kind, id))
          // Expired records go as new ones arrive, so the table stays small without a sweeper.
          yield* sql`DELETE FROM mcpgate_records WHERE kind = ${kind} AND expires_at < now()`
          yield* sql`
            INSERT INTO mcpgate_records (kind, id, sealed, key_id, expires_at)
            VALUES (${kind}, ${id}, ${sealed}, ${keyring.current.id}, to_timestamp(${expiresAt / 1000}))
            ON CONFLICT (kind, id) DO UPDATE SET
              sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id, expires_at = EXCLUDED.expires_at`
        }).pipe(Effect.mapError(failure(`saving a ${kind} record`)), observed("records.put")),
      take: (id) =>
        sql<{ readonly sealed: string; readonly live: boolean }>`
          DELETE FROM mcpgate_records WHERE kind = ${kind} AND id = ${id}
          RETURNING sealed, expires_at > now() AS live`.pipe(
          Effect.mapError(failure(`reading a ${kind} record`)),
          Effect.flatMap((rows) => openLive(rows[0], id)),
          observed("records.take")
        ),
      get: (id) =>
        sql<{ readonly sealed: string; readonly live: boolean }>`
          SELECT sealed, expires_at > now() AS live FROM mcpgate_records WHERE kind = ${kind} AND id = ${id}`.pipe(
          Effect.mapError(failure(`reading a ${kind} record`)),
          Effect.flatMap((rows) => openLive(rows[0], id)),
          observed("records.get")
        ),
      remove: (id) =>
        sql`DELETE FROM mcpgate_records WHERE kind = ${kind} AND id = ${id}`.pipe(
          Effect.asVoid,
          Effect.mapError(failure(`removing a ${kind} record`)),
          observed("records.remove")
        ),
      refresh: (id, expiresAt) =>
        sql<{ readonly id: string }>`
          UPDATE mcpgate_records SET expires_at = to_timestamp(${expiresAt / 1000})
          WHERE kind = ${kind} AND id = ${id} AND expires_at > now() RETURNING id`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(failure(`refreshing a ${kind} record`)),
          observed("records.refresh")
        )
    } satisfies Records
  })
