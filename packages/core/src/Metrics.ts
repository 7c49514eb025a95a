/**
 * The gateway's metrics (docs/observability.md#metrics), declared once here so
 * every package records into the same series and the docs list them from one
 * place. Effect metrics: `GET /metrics` formats them as Prometheus text and the
 * OTLP exporter sends the same ones. Labels carry names (server, tool, route,
 * model, outcome), never a token, a key or a URL with a query.
 */
import { Clock, Effect, Exit, Metric } from "effect"

/** Seconds: 5 ms to 2 min, enough for a tool call or a model turn. */
const secondsBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

export const httpRequests = Metric.counter("mcpgate_http_requests_total", {
  description: "HTTP requests answered, by route, method and status",
  incremental: true
})

export const httpRequestDuration = Metric.histogram("mcpgate_http_request_duration_seconds", {
  description: "Time to the response head, by route, method and status",
  boundaries: secondsBoundaries
})

export const toolCalls = Metric.counter("mcpgate_tool_calls_total", {
  description:
    "Tool calls, by server, tool and outcome (ok, tool_error: the tool said isError, or why the call failed)",
  incremental: true
})

export const toolCallDuration = Metric.histogram("mcpgate_tool_call_duration_seconds", {
  description: "Tool call latency, by server, tool and outcome",
  boundaries: secondsBoundaries
})

export const oauthRefreshes = Metric.counter("mcpgate_oauth_refreshes_total", {
  description: "Access-token refreshes, by server and outcome",
  incremental: true
})

export const oauthLogins = Metric.counter("mcpgate_oauth_logins_total", {
  description: "Logins (every flow), by server and outcome",
  incremental: true
})

export const mcpServerState = Metric.gauge("mcpgate_mcp_server_state", {
  description: "1 for the state each MCP server is in, 0 for the others"
})

export const upstreamRequests = Metric.counter("mcpgate_upstream_requests_total", {
  description: "Requests to the model upstream, by model and outcome",
  incremental: true
})

export const upstreamDuration = Metric.histogram("mcpgate_upstream_request_duration_seconds", {
  description: "Model upstream latency to the response head, by model and outcome",
  boundaries: secondsBoundaries
})

export const upstreamTokens = Metric.counter("mcpgate_upstream_tokens_total", {
  description: "Tokens the upstream reported in `usage`, by model and type (input, output)",
  incremental: true
})

const seriesByMetric = new WeakMap<
  Metric.Metric<number, unknown>,
  Map<string, Metric.Metric<number, unknown>>
>()

/**
 * The series of `metric` under `labels`, made once per label set. A new
 * `Metric.withAttributes` on every update makes effect compute the series key
 * again (sorting and serialising the attributes) on the hot path of every
 * request; label values are bounded (see the module header), so is this cache.
 */
export const series = (
  metric: Metric.Metric<number, unknown>,
  labels: Record<string, string>
): Metric.Metric<number, unknown> => {
  let byLabels = seriesByMetric.get(metric)
  if (byLabels === undefined) {
    byLabels = new Map()
    seriesByMetric.set(metric, byLabels)
  }
  // Same call site, same key order: one entry per label set (another order only adds an entry).
  const key = JSON.stringify(labels)
  let found = byLabels.get(key)
  if (found === undefined) {
    found = Metric.withAttributes(metric, labels)
    byLabels.set(key, found)
  }
  return found
}

/** Adds one to a counter's series. */
export const increment = (counter: Metric.Metric<number, unknown>, labels: Record<string, string>) =>
  Metric.update(series(counter, labels), 1)

/** Records seconds into a histogram's series. */
export const observe = (
  histogram: Metric.Metric<number, unknown>,
  labels: Record<string, string>,
  seconds: number
) => Metric.update(series(histogram, labels), seconds)

/**
 * Runs `self` and, however it ends, counts it and records its duration under
 * the labels `labels` derives from the exit.
 */
export const measured = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  counter: Metric.Metric<number, unknown>,
  histogram: Metric.Metric<number, unknown>,
  labels: (exit: Exit.Exit<A, E>) => Record<string, string>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Clock.currentTimeNanos, (start) =>
    Effect.onExit(self, (exit) =>
      Effect.flatMap(Clock.currentTimeNanos, (end) => {
        const series = labels(exit)
        return Effect.andThen(
          increment(counter, series),
          observe(histogram, series, Number(end - start) / 1e9)
        )
      })
    )
  )

/** `ok`, or the failure's reason/tag: a small, fixed set of label values. */
export const outcomeOf = <A, E>(exit: Exit.Exit<A, E>, reason: (error: E) => string): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Exit.findErrorOption(exit)
  if (error._tag === "Some") return reason(error.value)
  return Exit.hasInterrupts(exit) ? "interrupted" : "defect"
}

/** Seconds: 1 ms to 30 s, for a statement on the shared store (a lock may wait long). */
export const storeOperationDuration = Metric.histogram("mcpgate_store_operation_duration_seconds", {
  description: "Operations on the shared store (docs/store.md), by op and outcome",
  boundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
})
