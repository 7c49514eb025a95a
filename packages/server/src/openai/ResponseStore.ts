/**
 * The responses the gateway produced (docs/gateway.md#stored-responses), kept
 * so that `previous_response_id` can continue them and `GET
 * /v1/responses/{id}` can show them. In memory for now, bounded in count and
 * age; a shared store for replicas will implement the same contract.
 */
import { Context, type Duration, Effect, Layer, type Option } from "effect"
import type { JsonObject } from "./ChatFormat.ts"
import * as MemoryStore from "./MemoryStore.ts"

export interface StoredResponse {
  /** The `response` object as the client received it. */
  readonly response: JsonObject
  /** The conversation it ends, as chat messages (instructions excluded: they do not carry over). */
  readonly messages: ReadonlyArray<unknown>
}

export interface ResponseStoreShape {
  readonly save: (id: string, stored: StoredResponse) => Effect.Effect<void>
  readonly get: (id: string) => Effect.Effect<Option.Option<StoredResponse>>
  /** True when there was one to delete. */
  readonly remove: (id: string) => Effect.Effect<boolean>
}

export interface ResponseStoreOptions {
  /** Default 1000. */
  readonly maxEntries?: number | undefined
  /** Default 1 hour. */
  readonly timeToLive?: Duration.Input | undefined
}

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
}
