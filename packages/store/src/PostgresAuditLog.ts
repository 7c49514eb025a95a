/**
 * The audit log in the shared store (docs/store.md#audit-log): one row per
 * event in `mcpgate_audit`, so every replica writes to one log and an admin
 * sees all of them on any replica. Events hold no secret, so rows are clear.
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import {
  AuditEntry,
  AuditEvent,
  AuditLog,
  AuditLogError,
  type AuditLogShape,
  defaultLimit,
  pageOf
} from "@mcpgate/core/AuditLog"
import { Effect, Layer, Option, Predicate, Schema } from "effect"
import { observed } from "./internal/StoreSpan.ts"
import * as StoreDatabase from "./StoreDatabase.ts"
import { fromSqlError } from "./StoreError.ts"

const encodeEvent = Schema.encodeSync(AuditEvent)
const decodeEntry = Schema.decodeUnknownOption(AuditEntry)

interface Row {
  readonly id: string | number
  readonly at_ms: string | number
  readonly entry: unknown
}

/** A row as an entry; one that does not read (a newer mcpgate's kind) is left out. */
const toEntry = (row: Row): Option.Option<AuditEntry> =>
  Predicate.isObject(row.entry)
    ? decodeEntry({ ...row.entry, id: Number(row.id), at: Number(row.at_ms) })
    : Option.none()

/** The audit log over the store's database. */
export const make = Effect.gen(function* () {
  const sql = yield* PgClientModule.PgClient
  const database = StoreDatabase.databaseOf(sql)
  return {
    record: (event) =>
      sql`INSERT INTO mcpgate_audit (kind, entry) VALUES (${event.kind}, ${JSON.stringify(encodeEvent(event))}::jsonb)`.pipe(
        Effect.asVoid,
        Effect.mapError(fromSqlError(database, "recording an audit event")),
        observed("audit.record"),
        Effect.catch((error) => Effect.logWarning(`the audit log could not be written: ${error.message}`))
      ),
    list: (query) => {
      const limit = query.limit ?? defaultLimit
      // One more than asked: whether there is a next page.
      const rows =
        query.before === undefined
          ? sql<Row>`
              SELECT id, (extract(epoch FROM at) * 1000)::bigint AS at_ms, entry
              FROM mcpgate_audit ORDER BY id DESC LIMIT ${limit + 1}`
          : sql<Row>`
              SELECT id, (extract(epoch FROM at) * 1000)::bigint AS at_ms, entry
              FROM mcpgate_audit WHERE id < ${query.before} ORDER BY id DESC LIMIT ${limit + 1}`
      return rows.pipe(
        Effect.map((found) =>
          pageOf(
            found.flatMap((row) => Option.toArray(toEntry(row))),
            limit
          )
        ),
        Effect.mapError((error) => {
          const failure = fromSqlError(database, "reading the audit log")(error)
          return new AuditLogError({
            reason: failure.reason === "unavailable" ? "unavailable" : "failed",
            message: failure.message
          })
        }),
        observed("audit.list")
      )
    }
  } satisfies AuditLogShape
})

/** `AuditLog` over a pooled client of the store. */
export const layer = Layer.effect(AuditLog, make)
