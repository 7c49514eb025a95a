/**
 * Keeping an open connection current: its tool list follows
 * `notifications/tools/list_changed`, and an HTTP server is pinged now and then
 * (and whenever a request failed in a way that may mean it is gone) so one that
 * went away silently is noticed without waiting for a call.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { Effect, Queue, type Scope } from "effect"
import type { ToolCallError } from "../Errors.ts"
import type { ConnectionLost } from "../McpConnection.ts"
import { errorText, serverAnswered } from "./ConnectionFailures.ts"

/** Lists the tools again on each notification; a burst of notifications makes one listing. */
export const followListChanged = (
  notifications: Queue.Dequeue<void>,
  refreshTools: Effect.Effect<unknown, ToolCallError>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(
    Effect.forkScoped(
      Effect.forever(
        Queue.take(notifications).pipe(
          Effect.andThen(refreshTools),
          Effect.catch((error) => Effect.logWarning(`list_changed: ${error.message}`))
        )
      )
    )
  )

export interface HealthCheckOptions {
  /** Ping this often (0: only when asked through `requests`). */
  readonly intervalMs: number
  readonly pingTimeoutMs: number
}

/**
 * Pings every `intervalMs` and on each request; a ping that no server answers
 * (timeout, closed connection, network error) marks the connection lost. Any answer,
 * an error included, means the server is there.
 */
export const watchHealth = (
  client: Client,
  options: HealthCheckOptions,
  requests: Queue.Dequeue<void>,
  markLost: (lost: ConnectionLost) => void
): Effect.Effect<void, never, Scope.Scope> => {
  const ping = Effect.tryPromise({
    try: (signal) => client.ping({ signal, timeout: options.pingTimeoutMs }),
    catch: (error) => error
  }).pipe(
    Effect.catch((error) =>
      serverAnswered(error)
        ? Effect.void
        : Effect.sync(() => markLost({ message: `the server stopped answering: ${errorText(error)}` }))
    )
  )
  const trigger =
    options.intervalMs > 0
      ? Effect.raceFirst(Queue.take(requests), Effect.sleep(options.intervalMs))
      : Queue.take(requests)
  return Effect.asVoid(Effect.forkScoped(Effect.forever(trigger.pipe(Effect.andThen(ping)))))
}
