/**
 * The events of resumable `/mcp` streams in the store (docs/store.md#mcp-sessions),
 * so that a client whose stream broke resumes it with `Last-Event-ID` on any
 * replica (MCP 2025-11-25 "Transports › Resumability and Redelivery"). Event ids
 * are the rows' sequence numbers; messages are sealed (they can hold tool results).
 *
 * A failed write is logged and the message still goes to the client: only its
 * resumption is lost (a resume from it is refused), never the answer itself.
 * Events go with their session, and at the latest `maxAgeMs` after they were
 * written (swept as new ones arrive, at most once a minute).
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import * as Encryption from "@mcpgate/core/Encryption"
import { McpEventStoreError, type McpEventStoreShape } from "@mcpgate/core/McpEventStore"
import { Clock, Effect, Option } from "effect"

export interface Options {
  /** How long events are kept at most (default 1 hour). */
  readonly maxAgeMs?: number | undefined
}

const associatedData = (session: string) => `mcpgate:mcp-event:${session}`

/** Event ids are decimal sequence numbers; anything else names no event. */
const sequenceOf = (eventId: string): string | undefined => (/^\d{1,18}$/.test(eventId) ? eventId : undefined)

/** An id no event has: what a message whose write failed is sent with. */
const unkeptEventId = "0"

export const make = (keyring: Encryption.Keyring, options: Options = {}) =>
  Effect.gen(function* () {
    const sql = yield* PgClientModule.PgClient
    const maxAgeSeconds = Math.max(1, Math.round((options.maxAgeMs ?? 3_600_000) / 1000))
    let sweptAt = 0
    const failed = (what: string) => (error: { readonly message: string }) =>
      new McpEventStoreError({ message: `${what}: ${error.message}` })
    const sweep = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (now - sweptAt < 60_000) return
      sweptAt = now
      yield* sql`DELETE FROM mcpgate_mcp_events WHERE created_at < now() - make_interval(secs => ${maxAgeSeconds})`
    })
    const streamOf = (session: string, eventId: string) => {
      const sequence = sequenceOf(eventId)
      if (sequence === undefined) return Effect.succeed(Option.none<string>())
      return sql<{ readonly stream: string }>`
        SELECT stream FROM mcpgate_mcp_events WHERE session = ${session} AND id = ${sequence}`.pipe(
        Effect.map((rows) => Option.fromUndefinedOr(rows[0]?.stream)),
        Effect.mapError(failed("reading an event"))
      )
    }
    const openMessage = (session: string, sealed: string) =>
      Encryption.open(keyring, sealed, associatedData(session)).pipe(
        Effect.flatMap((text) => Effect.try({ try: () => JSON.parse(text) as unknown, catch: String })),
        Effect.mapError(
          (error) => new McpEventStoreError({ message: `an event does not read: ${String(error)}` })
        )
      )
    return {
      append: (session, stream, message) =>
        Effect.gen(function* () {
          yield* sweep
          const sealed = Encryption.seal(keyring, JSON.stringify(message), associatedData(session))
          const rows = yield* sql<{ readonly id: string }>`
            INSERT INTO mcpgate_mcp_events (session, stream, sealed, key_id)
            VALUES (${session}, ${stream}, ${sealed}, ${keyring.current.id}) RETURNING id`
          return String(rows[0]?.id ?? unkeptEventId)
        }).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning(`keeping an /mcp stream event failed: ${error.message}`),
              unkeptEventId
            )
          )
        ),
      streamOf,
      after: (session, eventId) =>
        Effect.gen(function* () {
          const stream = yield* streamOf(session, eventId)
          if (Option.isNone(stream)) return Option.none()
          const rows = yield* sql<{ readonly id: string; readonly sealed: string }>`
            SELECT id, sealed FROM mcpgate_mcp_events
            WHERE session = ${session} AND stream = ${stream.value} AND id > ${eventId}
            ORDER BY id`.pipe(Effect.mapError(failed("reading events")))
          const events = yield* Effect.forEach(rows, (row) =>
            Effect.map(openMessage(session, row.sealed), (message) => ({ id: String(row.id), message }))
          )
          return Option.some({ stream: stream.value, events })
        }),
      forget: (session) =>
        sql`DELETE FROM mcpgate_mcp_events WHERE session = ${session}`.pipe(
          Effect.asVoid,
          Effect.mapError(failed("forgetting events"))
        )
    } satisfies McpEventStoreShape
  })
