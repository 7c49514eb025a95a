/**
 * What a `/mcp` session is without its live objects (docs/store.md#mcp-sessions):
 * its id, the caller it belongs to, the server of `/mcp/<server>`, and the
 * client's `initialize` parameters, enough to build it again by replaying that
 * `initialize`. A replica that does not hold a session finds its record here and
 * continues it; an idle session keeps only its record.
 *
 * In memory by default; with a Postgres store, in it (cli Layers.ts), so every
 * replica sees every session. Records expire `expiresAt` after their last
 * activity (the idle timeout); a record is plain data and the store seals it.
 */
import type { RecordStorage } from "@mcpgate/core/RecordStorage"
import { Clock, Context, Effect, Layer, Option, Ref, Schema } from "effect"

/** The client's `initialize` params, as replayed to rebuild its session. */
export const InitializeParams = Schema.Struct({
  protocolVersion: Schema.String,
  capabilities: Schema.Record(Schema.String, Schema.Unknown),
  clientInfo: Schema.Record(Schema.String, Schema.Unknown)
})
export type InitializeParams = typeof InitializeParams.Type

export const McpSessionRecord = Schema.Struct({
  id: Schema.String,
  /** The `ApiCaller` that opened it; only that caller may use it. */
  caller: Schema.optional(Schema.String),
  /** The server of `/mcp/<server>`; none for the aggregated `/mcp`. */
  target: Schema.optional(Schema.String),
  initialize: InitializeParams,
  /** Epoch ms. */
  createdAt: Schema.Finite
})
export type McpSessionRecord = typeof McpSessionRecord.Type

export interface McpSessionRecordsShape {
  /** Keeps `record` until `expiresAt` (epoch ms); false when it could not be kept. */
  readonly put: (record: McpSessionRecord, expiresAt: number) => Effect.Effect<boolean>
  /** The record of `id`; none when it is unknown, expired or ended. */
  readonly get: (id: string) => Effect.Effect<Option.Option<McpSessionRecord>>
  /** Moves the expiry of a live record on; false when there is none any more (it ended elsewhere). */
  readonly refresh: (id: string, expiresAt: number) => Effect.Effect<boolean>
  /** Forgets `id` (the session ended). */
  readonly remove: (id: string) => Effect.Effect<void>
  /** How often activity need be written: 0 in memory; less often for a shared store. */
  readonly refreshEveryMs: number
  /** Runs `onEnded` for each session another replica ends, until interrupted (nothing in memory). */
  readonly watchEnded: (onEnded: (id: string) => Effect.Effect<void>) => Effect.Effect<void>
}

/** Records kept in memory at most; beyond, the oldest go (an idle session is one record). */
export const defaultMaxMemoryRecords = 100_000

/** Records in this process; expired ones go as new ones arrive, at most once a second. */
export const makeMemory: Effect.Effect<McpSessionRecordsShape> = Effect.gen(function* () {
  const records = yield* Ref.make(new Map<string, { record: McpSessionRecord; expiresAt: number }>())
  let prunedAt = 0
  const live = (id: string, now: number) =>
    Effect.map(Ref.get(records), (map) => {
      const entry = map.get(id)
      return entry !== undefined && entry.expiresAt > now ? entry : undefined
    })
  return {
    refreshEveryMs: 0,
    watchEnded: () => Effect.void,
    put: (record, expiresAt) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(records, (map) => {
          if (now - prunedAt >= 1000) {
            prunedAt = now
            for (const [id, entry] of map) if (entry.expiresAt <= now) map.delete(id)
          }
          if (map.size >= defaultMaxMemoryRecords) map.delete(map.keys().next().value ?? "")
          return map.set(record.id, { record, expiresAt })
        }).pipe(Effect.as(true))
      ),
    get: (id) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(live(id, now), (entry) => Option.fromUndefinedOr(entry?.record))
      ),
    refresh: (id, expiresAt) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.map(live(id, now), (entry) => {
          if (entry === undefined) return false
          entry.expiresAt = expiresAt
          return true
        })
      ),
    remove: (id) =>
      Ref.update(records, (map) => {
        map.delete(id)
        return map
      })
  }
})

/**
 * Where a shared store keeps records as text (the store package's `StoreRecords`
 * of kind "mcp-session": sealed, one row per session).
 */
export interface McpSessionStorage extends Pick<RecordStorage, "put" | "get" | "refresh" | "remove"> {
  /** Tells every replica that the session `id` ended. */
  readonly announce: (id: string) => Effect.Effect<void, { readonly message: string }>
  /** Runs `onEnded` for each session ended anywhere, until interrupted. */
  readonly watch: (onEnded: (id: string) => Effect.Effect<void>) => Effect.Effect<void>
}

const RecordJson = Schema.fromJsonString(McpSessionRecord)
const encodeRecord = Schema.encodeSync(RecordJson)
const decodeRecord = Schema.decodeUnknownOption(RecordJson)

/**
 * Records in a shared store. A store failure is logged and read as "no record":
 * the session then works only on the replica that holds it, and elsewhere the
 * client is told 404 and initializes again, as after any lost session.
 */
export const makeShared = (storage: McpSessionStorage, refreshEveryMs = 30_000): McpSessionRecordsShape => {
  const logged = <A>(what: string, fallback: A) =>
    Effect.catch((error: { readonly message: string }) =>
      Effect.as(Effect.logWarning(`mcp session record: ${what} failed: ${error.message}`), fallback)
    )
  return {
    refreshEveryMs,
    put: (record, expiresAt) =>
      storage.put(record.id, encodeRecord(record), expiresAt).pipe(Effect.as(true), logged("saving", false)),
    get: (id) =>
      storage.get(id).pipe(
        Effect.map((document) => Option.flatMap(document, decodeRecord)),
        logged("reading", Option.none<McpSessionRecord>())
      ),
    // A failed refresh keeps the session: only a record known to be gone ends it.
    refresh: (id, expiresAt) => storage.refresh(id, expiresAt).pipe(logged("refreshing", true)),
    remove: (id) =>
      Effect.andThen(storage.remove(id), storage.announce(id)).pipe(logged("removing", undefined)),
    watchEnded: storage.watch
  }
}

export class McpSessionRecords extends Context.Service<McpSessionRecords, McpSessionRecordsShape>()(
  "@mcpgate/server/McpSessionRecords"
) {
  /** In this process only: a session continues only on the replica that opened it. */
  static readonly layerMemory: Layer.Layer<McpSessionRecords> = Layer.effect(McpSessionRecords, makeMemory)

  /** In a shared store: any replica continues any session. */
  static readonly layerShared = (storage: McpSessionStorage): Layer.Layer<McpSessionRecords> =>
    Layer.succeed(McpSessionRecords, makeShared(storage))
}
