/**
 * The events of resumable MCP streams (docs/gateway.md#resumable-streams): each
 * message the gateway sends on a streamable-HTTP event stream is appended under
 * its session and stream and gets an event id; a client that lost the stream
 * reconnects with `Last-Event-ID` and is sent what followed on that stream
 * (MCP 2025-11-25 "Transports › Resumability and Redelivery").
 *
 * The interface knows sessions, streams and opaque JSON messages only, so a
 * shared store (Postgres) can implement it for several replicas. `layerMemory`
 * keeps them in this process, bounded: the oldest events go first, and a client
 * resuming from one that is gone is told so (404) rather than sent a stream with
 * a hole in it.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"

/** One kept event: its id and the JSON-RPC message sent with it. */
export interface StoredEvent {
  readonly id: string
  readonly message: unknown
}

/** The events of a stream after a given one. */
export interface Replay {
  readonly stream: string
  readonly events: ReadonlyArray<StoredEvent>
}

export class McpEventStoreError extends Schema.TaggedError<McpEventStoreError>()("McpEventStoreError", {
  message: Schema.String
}) {}

export interface McpEventStoreShape {
  /** Keeps `message` as the next event of `stream` in `session`; returns its event id. */
  readonly append: (
    session: string,
    stream: string,
    message: unknown
  ) => Effect.Effect<string, McpEventStoreError>
  /** The stream `eventId` belongs to, while the event is kept. */
  readonly streamOf: (
    session: string,
    eventId: string
  ) => Effect.Effect<Option.Option<string>, McpEventStoreError>
  /** The events of `eventId`'s stream that came after it, in order; none when the event is no longer kept. */
  readonly after: (
    session: string,
    eventId: string
  ) => Effect.Effect<Option.Option<Replay>, McpEventStoreError>
  /** Forgets the events of a session that ended. */
  readonly forget: (session: string) => Effect.Effect<void, McpEventStoreError>
}

export interface MemoryOptions {
  /** Events kept per session at most (default 1000); the oldest go first. */
  readonly maxEventsPerSession?: number | undefined
  /** Bytes of messages (as JSON) kept over all sessions at most (default 64 MiB); the oldest go first. */
  readonly maxBytes?: number | undefined
}

interface Entry {
  readonly seq: number
  readonly stream: string
  readonly message: unknown
  readonly bytes: number
}

/** Events in memory; see `MemoryOptions` for the bounds. */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<McpEventStoreShape> =>
  Effect.sync(() => {
    const maxPerSession = Math.max(1, options.maxEventsPerSession ?? 1000)
    const maxBytes = Math.max(1, options.maxBytes ?? 64 * 1024 * 1024)
    // Each session's events in append order; sessions in the order of their last append.
    const sessions = new Map<string, Array<Entry>>()
    let bytes = 0
    let seq = 0

    const dropOldest = (session: string, entries: Array<Entry>) => {
      const dropped = entries.shift()
      if (dropped !== undefined) bytes -= dropped.bytes
      if (entries.length === 0) sessions.delete(session)
    }
    const find = (session: string, eventId: string) => {
      const entries = sessions.get(session) ?? []
      const index = entries.findIndex((entry) => String(entry.seq) === eventId)
      return { entries, index }
    }

    return McpEventStore.of({
      append: (session, stream, message) =>
        Effect.sync(() => {
          seq += 1
          const entry: Entry = { seq, stream, message, bytes: JSON.stringify(message)?.length ?? 0 }
          const entries = sessions.get(session) ?? []
          sessions.delete(session)
          sessions.set(session, entries)
          entries.push(entry)
          bytes += entry.bytes
          if (entries.length > maxPerSession) dropOldest(session, entries)
          // Over the byte budget: the least recently active sessions lose their oldest events first.
          while (bytes > maxBytes && sessions.size > 0) {
            const [oldest, list] = sessions.entries().next().value ?? ["", []]
            if (oldest === session && list.length === 1) break
            dropOldest(oldest, list)
          }
          return String(seq)
        }),
      streamOf: (session, eventId) =>
        Effect.sync(() => {
          const { entries, index } = find(session, eventId)
          return index === -1 ? Option.none() : Option.fromUndefinedOr(entries[index]?.stream)
        }),
      after: (session, eventId) =>
        Effect.sync(() => {
          const { entries, index } = find(session, eventId)
          const stream = entries[index]?.stream
          if (stream === undefined) return Option.none()
          const events = entries
            .slice(index + 1)
            .filter((entry) => entry.stream === stream)
            .map((entry) => ({ id: String(entry.seq), message: entry.message }))
          return Option.some({ stream, events })
        }),
      forget: (session) =>
        Effect.sync(() => {
          for (const entry of sessions.get(session) ?? []) bytes -= entry.bytes
          sessions.delete(session)
        })
    })
  })

export class McpEventStore extends Context.Service<McpEventStore, McpEventStoreShape>()(
  "@mcpgate/core/McpEventStore"
) {
  /** Events kept in this process (see `MemoryOptions`). */
  static readonly layerMemory = (options?: MemoryOptions): Layer.Layer<McpEventStore> =>
    Layer.effect(McpEventStore, makeMemory(options))
}
