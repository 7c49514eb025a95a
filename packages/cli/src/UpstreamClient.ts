/**
 * The upstream's HTTP client for `serve`: undici (bytes passed through untouched,
 * unlike fetch's decompression). Our own Agent rather than `NodeHttpClient.layerUndici`,
 * whose dynamic re-export of the CommonJS package loses its named exports in the
 * split bundle. Imported by `serve` only, so other commands start without undici.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Layer } from "effect"
import { Agent } from "undici"

export const layer = NodeHttpClient.layerUndiciNoDispatcher.pipe(
  Layer.provide(
    Layer.effect(NodeHttpClient.Dispatcher)(
      Effect.acquireRelease(
        Effect.sync(() => new Agent()),
        (agent) => Effect.promise(() => agent.destroy())
      )
    )
  )
)
