/**
 * The upstream's HTTP client for `serve`: undici (bytes passed through untouched,
 * unlike fetch's decompression). Our own Agent rather than `NodeHttpClient.layerUndici`,
 * whose dynamic re-export of the CommonJS package loses its named exports in the
 * split bundle (test/ServeUpstream.test.ts runs the bundle). undici (1.4 MB of code) is loaded by the first request, not while
 * the gateway starts (bench/RESULTS.md, issue 18); other commands never load it.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Layer, Scope } from "effect"
import { HttpClient, type HttpClientError } from "effect/http"

/** An undici client on its own Agent, destroyed when `scope` closes. */
const undiciClient = (scope: Scope.Scope) =>
  Effect.gen(function* () {
    // `default` (the CommonJS exports): the split bundle's dynamic import keeps no named exports.
    const { default: undici } = yield* Effect.promise(() => import("undici"))
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new undici.Agent()),
      (agent) => Effect.promise(() => agent.destroy())
    ).pipe(Scope.provide(scope))
    return yield* Effect.provideService(NodeHttpClient.makeUndici, NodeHttpClient.Dispatcher, agent)
  })

/** Builds the undici client on its first request; the Agent closes with the layer. */
const lazyClient = (scope: Scope.Scope) =>
  Effect.map(Effect.cached(undiciClient(scope)), (client) =>
    // A plain relay: the undici client adds the spans and trace headers itself.
    HttpClient.makeWith<HttpClientError.HttpClientError, never, HttpClientError.HttpClientError, never>(
      (request) =>
        Effect.flatMap(Effect.zip(request, client), ([request, client]) => client.execute(request)),
      Effect.succeed
    )
  )

export const layer = Layer.unwrap(
  Effect.map(Effect.scope, (scope) => HttpClient.layerMergedContext(lazyClient(scope)))
)
