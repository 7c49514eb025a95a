/**
 * One server's supervisor: connect, publish, follow its tool list, and when the
 * connection is gone wait (exponential backoff with jitter) and connect again,
 * until interrupted or until the server needs authorization. `start` and `stop`
 * run it in the manager's `FiberMap` under the server's name.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import {
  Cause,
  Clock,
  Duration,
  Effect,
  Exit,
  FiberMap,
  Option,
  Schedule,
  Stream,
  SubscriptionRef
} from "effect"
import { AuthorizedFetch } from "../AuthorizedFetch.ts"
import * as McpConnection from "../McpConnection.ts"
import {
  changed,
  type Entry,
  filteredTools,
  isReserved,
  type ManagerState,
  publishStatus,
  update
} from "./ManagerState.ts"

/** Reconnect delays: `initialMs`, doubling, capped at `maxMs`, each scaled by a random 0.8–1.2 (±20%). */
export const backoffSchedule = (initialMs: number, maxMs: number) =>
  Schedule.min([
    Schedule.exponential(Duration.millis(initialMs)),
    Schedule.spaced(Duration.millis(maxMs))
  ]).pipe(Schedule.jittered)

/** What every supervisor of a manager shares. */
export interface Supervision {
  readonly state: ManagerState
  readonly authorizedFetch: AuthorizedFetch["Service"]
  readonly backoff: { readonly initialMs: number; readonly maxMs: number }
  readonly connectionOptions: (timeoutMs: number) => McpConnection.McpConnectionOptions
}

/** One connection's life: open, publish, follow its tool list, return when it is gone. */
const session = (
  supervision: Supervision,
  name: string,
  generation: number,
  server: ServerConfig,
  timeoutMs: number
) =>
  Effect.gen(function* () {
    const { state } = supervision
    const connection = yield* McpConnection.make(server, supervision.connectionOptions(timeoutMs)).pipe(
      Effect.provideService(AuthorizedFetch, supervision.authorizedFetch)
    )
    // Not generation-guarded: whoever replaced us must not route calls to a closed
    // connection. The state is left to the supervisor or to whoever stopped it.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const entry = state.entries.get(name)
        if (entry?.connection !== connection) return
        entry.connection = undefined
        state.aggregate = undefined
        state.changeCount += 1
      })
    )
    const now = yield* Clock.currentTimeMillis
    const initialTools = yield* SubscriptionRef.get(connection.tools)
    yield* update(state, name, generation, (entry) => {
      entry.connection = connection
      entry.rawTools = initialTools
      entry.state = "connected"
      entry.lastConnectedAt = now
      entry.lastError = undefined
      entry.stderr = undefined
      entry.nextRetryAt = undefined
      entry.attempts = 0
      entry.settled = true
    })
    yield* Effect.logDebug(
      `mcp server "${name}" connected (${connection.transport}, ${initialTools.length} tools)`
    )
    yield* SubscriptionRef.changes(connection.tools).pipe(
      Stream.runForEach((tools) =>
        Effect.suspend(() => {
          const entry = state.entries.get(name)
          if (entry === undefined || entry.generation !== generation || entry.rawTools === tools)
            return Effect.void
          entry.rawTools = tools
          return Effect.andThen(
            changed(state, { _tag: "ToolsChanged", server: name, toolCount: filteredTools(entry).length }),
            publishStatus(state, entry)
          )
        })
      ),
      Effect.forkScoped
    )
    return yield* connection.closed
  })

/** Connects `name` again and again until interrupted (or until it needs authorization). */
const supervise = (
  supervision: Supervision,
  name: string,
  generation: number,
  server: ServerConfig,
  timeoutMs: number
) =>
  Effect.gen(function* () {
    const { state } = supervision
    const { initialMs, maxMs } = supervision.backoff
    const backoff = backoffSchedule(initialMs, maxMs)
    let step = yield* Schedule.toStep(backoff)
    const nextDelay = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const delay = yield* step(now, undefined).pipe(
        Effect.map(([, duration]) => Duration.toMillis(duration)),
        Effect.orElseSucceed(() => maxMs)
      )
      return { delay, at: now + delay }
    })
    for (;;) {
      yield* update(state, name, generation, (entry) => {
        entry.state = "connecting"
        entry.nextRetryAt = undefined
      })
      const exit = yield* Effect.exit(
        Effect.scoped(session(supervision, name, generation, server, timeoutMs))
      )
      if (Exit.isSuccess(exit)) {
        // It was connected, then went away: retry from the first backoff step.
        step = yield* Schedule.toStep(backoff)
        const retry = yield* nextDelay
        yield* Effect.logInfo(`mcp server "${name}" disconnected: ${exit.value.message}`)
        yield* update(state, name, generation, (entry) => {
          entry.state = "disconnected"
          entry.lastError = `connection lost: ${exit.value.message}`
          entry.stderr = exit.value.stderr
          entry.nextRetryAt = retry.at
        })
        yield* Effect.sleep(Duration.millis(retry.delay))
        continue
      }
      if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
      const error = Exit.findErrorOption(exit)
      const message = Option.isSome(error) ? error.value.message : Cause.pretty(exit.cause)
      const stderr = Option.isSome(error) ? error.value.stderr : undefined
      yield* Effect.logDebug(`mcp server "${name}": ${message}`)
      if (Option.isSome(error) && error.value.reason === "needs_auth") {
        // Retrying cannot help until someone logs in; the login reconnects the server.
        return yield* update(state, name, generation, (entry) => {
          entry.state = "needs_auth"
          entry.lastError = message
          entry.stderr = stderr
          entry.attempts += 1
          entry.settled = true
        })
      }
      const retry = yield* nextDelay
      yield* update(state, name, generation, (entry) => {
        entry.state = "error"
        entry.lastError = message
        entry.stderr = stderr
        entry.attempts += 1
        entry.settled = true
        entry.nextRetryAt = retry.at
      })
      yield* Effect.sleep(Duration.millis(retry.delay))
    }
  })

/** (Re)starts the supervisor of an entry whose previous fiber, if any, is already gone. */
export const start = (supervision: Supervision, entry: Entry) =>
  Effect.gen(function* () {
    const { state } = supervision
    const name = entry.config.name
    entry.generation += 1
    entry.nextRetryAt = undefined
    entry.attempts = 0
    if (!entry.config.enabled) {
      entry.state = "disabled"
      entry.settled = true
      entry.rawTools = []
      return yield* publishStatus(state, entry)
    }
    if (isReserved(state, entry)) {
      entry.state = "error"
      entry.lastError = `the server name "${name}" is reserved for the builtin tools; rename it in the config`
      entry.settled = true
      return yield* publishStatus(state, entry)
    }
    entry.state = "connecting"
    entry.settled = false
    yield* publishStatus(state, entry)
    yield* FiberMap.run(
      state.fibers,
      name,
      supervise(supervision, name, entry.generation, entry.config, entry.timeoutMs)
    )
  })

/** Stops the supervisor (and closes the connection) of the entry, waiting for the close. */
export const stop = (state: ManagerState, entry: Entry) =>
  Effect.gen(function* () {
    entry.generation += 1
    yield* FiberMap.remove(state.fibers, entry.config.name)
  })
