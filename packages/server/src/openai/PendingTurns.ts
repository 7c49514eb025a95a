/**
 * The turns whose MCP calls the gateway ran (docs/gateway.md#mixed-turns).
 * When one model turn calls both MCP tools and the client's own, the gateway
 * runs the MCP calls and gives the client only its own calls; the whole turn
 * (the assistant message with every call, and the MCP results) waits here,
 * under each of its call ids, until the conversation comes back with the
 * client's results. Turns of MCP calls only are kept too: a Responses client
 * may send `mcp_call` items back without their output. Bounded in count and
 * age: a client that never comes back costs nothing for long.
 */
import { Context, type Duration, Effect, Layer, Option } from "effect"
import type { JsonObject } from "./ChatFormat.ts"
import * as MemoryStore from "./MemoryStore.ts"

export interface PendingTurn {
  /** The assistant message with all of the turn's calls. */
  readonly assistant: JsonObject
  /** One `tool` message per MCP call, in call order. */
  readonly results: ReadonlyArray<JsonObject>
}

export interface PendingTurnsShape {
  readonly save: (callIds: ReadonlyArray<string>, turn: PendingTurn) => Effect.Effect<void>
  readonly find: (callId: string) => Effect.Effect<Option.Option<PendingTurn>>
}

export interface PendingTurnsOptions {
  /** Default 1000 call ids. */
  readonly maxEntries?: number | undefined
  /** Default 30 minutes. */
  readonly timeToLive?: Duration.Input | undefined
}

export class PendingTurns extends Context.Service<PendingTurns, PendingTurnsShape>()(
  "@mcpgate/server/PendingTurns"
) {
  static readonly layerMemory = (options: PendingTurnsOptions = {}): Layer.Layer<PendingTurns> =>
    Layer.effect(
      PendingTurns,
      Effect.map(
        MemoryStore.make<PendingTurn>({
          maxEntries: options.maxEntries ?? 1000,
          timeToLive: options.timeToLive ?? "30 minutes"
        }),
        (store) =>
          PendingTurns.of({
            save: (ids, turn) => Effect.forEach(ids, (id) => store.set(id, turn), { discard: true }),
            find: store.get
          })
      )
    )

  /** Keeps nothing (a client that sends every call back itself needs no memory). */
  static readonly layerNone: Layer.Layer<PendingTurns> = Layer.succeed(PendingTurns)(
    PendingTurns.of({ save: () => Effect.void, find: () => Effect.succeed(Option.none()) })
  )
}
