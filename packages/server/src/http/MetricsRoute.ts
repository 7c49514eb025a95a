/**
 * `GET /metrics` (docs/observability.md#metrics): every Effect metric of the
 * process in the Prometheus text format, for the admin token or
 * `server.metricsToken`. Connection states are read when scraped, so the gauge
 * never lags behind a change.
 */
import * as Metrics from "@mcpgate/core/Metrics"
import { serverStates } from "@mcpgate/transport/ConnectionState"
import { McpClientManager } from "@mcpgate/transport/McpClientManager"
import { Effect, Metric } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { Security } from "../security/Security.ts"
import { toResponse } from "./ErrorBody.ts"

export const route = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const security = yield* Security
    const manager = yield* McpClientManager
    const scrape = Effect.gen(function* () {
      for (const server of yield* manager.status) {
        for (const state of serverStates) {
          yield* Metric.update(
            Metric.withAttributes(Metrics.mcpServerState, { server: server.name, state }),
            server.state === state ? 1 : 0
          )
        }
      }
      return HttpServerResponse.text(yield* PrometheusMetrics.format(), {
        contentType: "text/plain; version=0.0.4; charset=utf-8"
      })
    })
    yield* router.add("GET", "/metrics", (request) =>
      security.authorizeMetrics(request).pipe(
        Effect.matchEffect({
          onFailure: (refused) => Effect.succeed(toResponse(refused)),
          onSuccess: () => scrape
        })
      )
    )
  })
)
