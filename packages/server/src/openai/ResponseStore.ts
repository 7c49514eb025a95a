/**
 * The responses the gateway produced (docs/gateway.md#stored-responses), kept
 * so that `previous_response_id` can continue them and `GET
 * /v1/responses/{id}` can show them: in memory (bounded in count and age), or
 * in the shared store of several replicas (docs/store.md#replicas), where any
 * replica finds what another kept.
 */
import type { RecordStorage } from "@mcpgate/core/RecordStorage"
import { Clock, Context, Duration, Effect, Layer, Option, Schema } from "effect"
import type { JsonObject } from "./ChatFormat.ts"
import * as MemoryStore from "./MemoryStore.ts"

export interface StoredResponse {
  /** The `response` object as the client received it. */
  readonly response: JsonObject
  /** The conversation it ends, as chat messages (instructions excluded: they do not carry over). */
  readonly messages: ReadonlyArray<unknown>
}

/** The shared store cannot be reached now; the request is answered 503 and may be retried. */
export class StoredResponsesUnavailable extends Schema.TaggedError<StoredResponsesUnavailable>()(
  "StoredResponsesUnavailable",
  { message: Schema.String }
) {}

export interface ResponseStoreShape {
  readonly save: (id: string, stored: StoredResponse) => Effect.Effect<void, StoredResponsesUnavailable>
  readonly get: (id: string) => Effect.Effect<Option.Option<StoredResponse>, StoredResponsesUnavailable>
  /** True when there was one to delete. */
  readonly remove: (id: string) => Effect.Effect<boolean, StoredResponsesUnavailable>
}

export interface ResponseStoreOptions {
  /** Default 1000. */
  readonly maxEntries?: number | undefined
  /** Default 1 hour. */
  readonly timeToLive?: Duration.Input | undefined
}

/**
 * Where a shared store keeps responses as text: a document under an id until
 * an expiry. The store encrypts the documents (they hold conversations).
 */
export type ResponseStorage = Pick<RecordStorage, "put" | "get" | "take">

const StoredDocument = Schema.fromJsonString(
  Schema.Struct({
    response: Schema.Record(Schema.String, Schema.Unknown),
    messages: Schema.Array(Schema.Unknown)
  })
)
const encodeDocument = Schema.encodeSync(StoredDocument)
const decodeDocument = Schema.decodeUnknownOption(StoredDocument)

const unavailable = (error: { readonly message: string }) =>
  new StoredResponsesUnavailable({ message: `stored responses: ${error.message}` })

/** Responses in a shared store; a document that does not read counts as gone. */
export const makeShared = (
  storage: ResponseStorage,
  timeToLive: Duration.Input = "1 hour"
): ResponseStoreShape => ({
  save: (id, stored) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      storage.put(id, encodeDocument(stored), now + Duration.toMillis(timeToLive))
    ).pipe(Effect.mapError(unavailable)),
  get: (id) =>
    storage.get(id).pipe(
      Effect.map((document) => Option.flatMap(document, decodeDocument)),
      Effect.mapError(unavailable)
    ),
  remove: (id) => storage.take(id).pipe(Effect.map(Option.isSome), Effect.mapError(unavailable))
})

export class ResponseStore extends Context.Service<ResponseStore, ResponseStoreShape>()(
  "@mcpgate/server/ResponseStore"
) {
  static readonly layerMemory = (options: ResponseStoreOptions = {}): Layer.Layer<ResponseStore> =>
    Layer.effect(
      ResponseStore,
      Effect.map(
        MemoryStore.make<StoredResponse>({
          maxEntries: options.maxEntries ?? 1000,
          timeToLive: options.timeToLive ?? "1 hour"
        }),
        (store) => ResponseStore.of({ save: store.set, get: store.get, remove: store.remove })
      )
    )

  /** In a shared store: a response kept by one replica continues on any other. */
  static readonly layerShared = (storage: ResponseStorage): Layer.Layer<ResponseStore> =>
    Layer.succeed(ResponseStore, makeShared(storage))
}
