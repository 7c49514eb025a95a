/**
 * The client manager's state: one entry per configured server (its config, state,
 * connection and last tool list), the tool table built from them, and the
 * publication of every change. It belongs to the manager's scope; the supervisors
 * (Supervisor.ts), the reload (Reload.ts) and the call routing (ToolRouting.ts)
 * read and change it through the functions here.
 *
 * Entries are mutable records rather than `Ref`s: every change to them is followed,
 * in the same fiber step, by a publication (`changed`), which is what readers wait on.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type * as ToolNames from "@mcpgate/core/ToolNames"
import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import { Effect, type FiberMap, PubSub, type Semaphore, Stream, SubscriptionRef } from "effect"
import type { ManagerChange, ServerState, ServerStatus } from "../ConnectionState.ts"
import { ServerNotFound } from "../Errors.ts"
import type { AggregatedTool } from "../McpClientManager.ts"
import * as McpConnection from "../McpConnection.ts"
import type { ToolProvider } from "../ToolProvider.ts"
import { isAllowed } from "./ToolFilter.ts"

export interface Entry {
  config: ServerConfig
  timeoutMs: number
  /** Bumped whenever the server's supervisor is replaced; stale supervisors stop writing. */
  generation: number
  state: ServerState
  lastError: string | undefined
  /** stdio: stderr's last lines at the last failure (see `ServerStatus.stderr`). */
  stderr: string | undefined
  lastConnectedAt: number | undefined
  nextRetryAt: number | undefined
  attempts: number
  connection: McpConnection.McpConnection | undefined
  /** The last tool list the server gave (unfiltered), kept while it is away so names stay stable. */
  rawTools: ReadonlyArray<Tool>
  /** Whether the first attempt since the last (re)start has concluded. */
  settled: boolean
}

/** The tool table of the servers and the builtin provider, and the tools exposed now. */
export interface Aggregate {
  readonly table: ToolNames.ToolNameTable
  readonly list: ReadonlyArray<AggregatedTool>
}

export interface ManagerState {
  /** In config order. */
  readonly entries: Map<string, Entry>
  readonly builtin: ToolProvider | undefined
  readonly pubsub: PubSub.PubSub<ManagerChange>
  /** Bumped after every change: what `awaitStatus` waits on. */
  readonly version: SubscriptionRef.SubscriptionRef<number>
  /** Each server's supervisor, by name. */
  readonly fibers: FiberMap.FiberMap<string>
  /** Lifecycle operations (reconnect, disconnect, reload) one at a time. */
  readonly lifecycle: Semaphore.Semaphore
  /** `defaultTimeout` of the current config (seconds). */
  defaultTimeout: number
  /** The tool table, until the next change. */
  aggregate: Aggregate | undefined
  /** Counts changes, so a table built while something changed is not kept. */
  changeCount: number
}

export const filteredTools = (entry: Entry): ReadonlyArray<Tool> =>
  entry.rawTools.filter((tool) => isAllowed(entry.config.tools, tool.name))

export const snapshot = (entry: Entry): ServerStatus => {
  const connection = entry.connection
  const info = connection?.serverInfo
  return {
    name: entry.config.name,
    transport: connection?.transport ?? entry.config.transport,
    state: entry.state,
    attempts: entry.attempts,
    toolCount: connection === undefined ? 0 : filteredTools(entry).length,
    ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
    ...(entry.stderr === undefined ? {} : { stderr: entry.stderr }),
    ...(entry.lastConnectedAt === undefined ? {} : { lastConnectedAt: entry.lastConnectedAt }),
    ...(entry.nextRetryAt === undefined ? {} : { nextRetryAt: entry.nextRetryAt }),
    ...(info === undefined
      ? {}
      : {
          serverInfo: {
            name: info.name,
            version: info.version,
            ...(info.title === undefined ? {} : { title: info.title })
          }
        }),
    ...(connection?.pid === undefined ? {} : { pid: connection.pid })
  }
}

export const statuses = (state: ManagerState): ReadonlyArray<ServerStatus> =>
  Array.from(state.entries.values(), snapshot)

/** What decides whether a server must reconnect: everything but the tool filter. */
export const connectionConfig = (config: ServerConfig, timeoutMs: number) => {
  const { tools: _tools, ...rest } = config
  return { ...rest, timeoutMs }
}

export const newEntry = (server: ServerConfig, defaultTimeout: number): Entry => ({
  config: server,
  timeoutMs: McpConnection.timeoutMsOf(server, defaultTimeout),
  generation: 0,
  state: server.enabled ? "disconnected" : "disabled",
  lastError: undefined,
  stderr: undefined,
  lastConnectedAt: undefined,
  nextRetryAt: undefined,
  attempts: 0,
  connection: undefined,
  rawTools: [],
  settled: !server.enabled
})

/** A configured server with the builtin provider's name: never started. */
export const isReserved = (state: ManagerState, entry: Entry): boolean =>
  state.builtin !== undefined && entry.config.name === state.builtin.name

/** Forgets the tool table, publishes `change` and wakes whoever waits for a status. */
export const changed = (state: ManagerState, change: ManagerChange) =>
  Effect.gen(function* () {
    state.aggregate = undefined
    state.changeCount += 1
    yield* PubSub.publish(state.pubsub, change)
    yield* SubscriptionRef.update(state.version, (n) => n + 1)
  })

export const publishStatus = (state: ManagerState, entry: Entry) =>
  changed(state, { _tag: "StatusChanged", status: snapshot(entry) })

/** Applies `f` to the entry when `generation` is still current, then publishes its status. */
export const update = (state: ManagerState, name: string, generation: number, f: (entry: Entry) => void) =>
  Effect.suspend(() => {
    const entry = state.entries.get(name)
    if (entry === undefined || entry.generation !== generation) return Effect.void
    f(entry)
    return publishStatus(state, entry)
  })

export const lookup = (state: ManagerState, name: string) =>
  Effect.suspend(() => {
    const entry = state.entries.get(name)
    return entry === undefined
      ? Effect.fail(new ServerNotFound({ server: name, message: `no server named "${name}" in the config` }))
      : Effect.succeed(entry)
  })

/** The statuses once `check` holds (checked now and after every change). */
export const awaitCondition = (state: ManagerState, check: () => boolean) =>
  SubscriptionRef.changes(state.version).pipe(
    Stream.filter(() => check()),
    Stream.runHead,
    Effect.map(() => statuses(state))
  )
