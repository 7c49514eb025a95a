/**
 * Every store operation observed (docs/observability.md): a client span
 * `store.<op>` with `db.system: postgresql` and the op name (never a key's
 * value, a URL or a secret), and its time in
 * `mcpgate_store_operation_duration_seconds` by op and outcome.
 */
import * as Metrics from "@mcpgate/core/Metrics"
import { Clock, Effect } from "effect"

const outcomeOf = (error: unknown) =>
  typeof error === "object" && error !== null && "reason" in error && typeof error.reason === "string"
    ? error.reason
    : "error"

/** Runs `self` as the store operation `op` (e.g. `credential.get`, `lock`, `records.put`). */
export const observed =
  (op: string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Clock.currentTimeNanos, (start) =>
      Effect.onExit(self, (exit) =>
        Effect.flatMap(Clock.currentTimeNanos, (end) =>
          Metrics.observe(
            Metrics.storeOperationDuration,
            { op, outcome: Metrics.outcomeOf(exit, outcomeOf) },
            Number(end - start) / 1e9
          )
        )
      )
    ).pipe(
      Effect.withSpan(`store.${op}`, {
        kind: "client",
        attributes: { "db.system": "postgresql", "db.system.name": "postgresql", "db.operation.name": op }
      })
    )
