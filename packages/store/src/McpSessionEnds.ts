/**
 * Tells every replica that a `/mcp` session ended (docs/store.md#mcp-sessions):
 * a replica still holding a copy of it closes that copy at once, so a session
 * ended on one replica (DELETE) answers 404 on all of them. LISTEN/NOTIFY, as
 * for credential changes; a notice missed while the listening connection is down
 * is caught up later, when the copy next moves its record's expiry on.
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import { Effect, Queue, Schedule } from "effect"
import * as StoreDatabase from "./StoreDatabase.ts"
import { fromSqlError } from "./StoreError.ts"

/** The LISTEN/NOTIFY channel of ended sessions; the payload is the session id. */
export const channel = "mcpgate_mcp_session_ended"

export const make = Effect.gen(function* () {
  const sql = yield* PgClientModule.PgClient
  const failure = fromSqlError(StoreDatabase.databaseOf(sql), "announcing an ended /mcp session")
  return {
    announce: (id: string) =>
      sql`SELECT pg_notify(${channel}, ${id})`.pipe(Effect.asVoid, Effect.mapError(failure)),
    /** Runs `onEnded` for each session ended anywhere, until interrupted; listens again after a lost connection. */
    watch: (onEnded: (id: string) => Effect.Effect<void>): Effect.Effect<never> =>
      Effect.scoped(
        Effect.gen(function* () {
          const notices = yield* sql.listen(channel)
          while (true) yield* onEnded((yield* Queue.take(notices)).payload)
        })
      ).pipe(Effect.retry(Schedule.spaced("500 millis")), Effect.orDie, Effect.andThen(Effect.never))
  }
})
