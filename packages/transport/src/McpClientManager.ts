/**
 * Every configured MCP server, supervised (SPEC §4; ARCHITECTURE "transport").
 *
 * Each enabled server runs in its own fiber of a `FiberMap` keyed by name: connect,
 * serve until the connection is gone, wait (exponential backoff with jitter), again.
 * Starting returns at once, so a slow or dead server never blocks the others or the
 * caller. The manager aggregates the tools of connected servers (after `tools.allow` /
 * `deny`) and of the builtin provider, names them through `ToolNames` and routes
 * calls by that table, never by splitting names.
 */
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import * as ToolNames from "@mcpgate/core/ToolNames"
import type { Implementation, Tool } from "@modelcontextprotocol/sdk/types.js"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FiberMap,
  Layer,
  Option,
  PubSub,
  Queue,
  Schedule,
  Schema,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import { AuthorizedFetch } from "./AuthorizedFetch.ts"
import type { ManagerChange, ServerState, ServerStatus } from "./ConnectionState.ts"
import { ToolCallError } from "./Errors.ts"
import * as ProcessGroups from "./internal/ProcessGroups.ts"
import { structuralEqual } from "./internal/StructuralEqual.ts"
import { isAllowed } from "./internal/ToolFilter.ts"
import * as McpConnection from "./McpConnection.ts"
import type { CallOptions, ToolProvider } from "./ToolProvider.ts"
import { type NormalizedToolResult, normalize } from "./ToolResult.ts"

/** A tool as exposed to models: its public name, where it lives, and its MCP description (original name). */
export interface AggregatedTool {
  readonly publicName: string
  readonly server: string
  readonly tool: Tool
}

export class ServerNotFound extends Schema.TaggedError<ServerNotFound>()("ServerNotFound", {
  server: Schema.String,
  message: Schema.String
}) {}

export interface McpClientManagerOptions {
  /** The builtin tools, treated like one more server (its `name`, normally `builtin`, is reserved). */
  readonly builtin?: ToolProvider
  /** Reconnect backoff: first delay and cap, before ±20% jitter (defaults 1000 and 60000 ms). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number }
  /** Budget for closing one connection before its processes are killed (default 5000 ms). */
  readonly closeTimeoutMs?: number
  /** stdio shutdown grace periods (defaults 2000 ms each). */
  readonly termGraceMs?: number
  readonly killGraceMs?: number
  /** HTTP servers are pinged this often to notice a silent disappearance (default 30000; 0 disables). */
  readonly healthCheckIntervalMs?: number
  readonly clientInfo?: Implementation
  /** Receives what stdio servers write to stderr. */
  readonly onStderr?: (server: string, text: string) => void
}

export interface McpClientManagerShape {
  /** Every configured server, in config order. */
  readonly status: Effect.Effect<ReadonlyArray<ServerStatus>>
  readonly serverStatus: (name: string) => Effect.Effect<ServerStatus, ServerNotFound>
  /** State and tool-list changes, from the moment the stream starts running. */
  readonly changes: Stream.Stream<ManagerChange>
  /**
   * Subscribes now (in the caller's scope) and returns the changes from this moment:
   * read `status` after subscribing and nothing falls between the snapshot and the stream.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<ManagerChange>, never, Scope.Scope>
  /** Waits until `predicate` holds for the statuses (checked now and after every change). */
  readonly awaitStatus: (
    predicate: (statuses: ReadonlyArray<ServerStatus>) => boolean
  ) => Effect.Effect<ReadonlyArray<ServerStatus>>
  /** Waits until every enabled server has finished its first attempt since it was (re)started. */
  readonly awaitSettled: Effect.Effect<ReadonlyArray<ServerStatus>>
  /** The tools of connected servers and the builtin provider, by public name. */
  readonly tools: Effect.Effect<ReadonlyArray<AggregatedTool>>
  /** Calls a tool by its public name. */
  readonly call: (
    publicName: string,
    args: Readonly<Record<string, unknown>>,
    options?: CallOptions
  ) => Effect.Effect<NormalizedToolResult, ToolCallError>
  /** Closes the server's connection (if any) and connects again now, with a fresh backoff. */
  readonly reconnect: (name: string) => Effect.Effect<void, ServerNotFound>
  /** Closes the server's connection and stops retrying until `reconnect` or `reload`. */
  readonly disconnect: (name: string) => Effect.Effect<void, ServerNotFound>
  /**
   * Applies a new config: servers whose config changed restart, removed ones close,
   * added ones start, and enabled ones that are not running (disconnected, waiting
   * for a login) start again.
   */
  readonly reload: (config: McpgateConfig) => Effect.Effect<void>
}

interface Entry {
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

interface Aggregate {
  readonly table: ToolNames.ToolNameTable
  readonly list: ReadonlyArray<AggregatedTool>
}

const filteredTools = (entry: Entry): ReadonlyArray<Tool> =>
  entry.rawTools.filter((tool) => isAllowed(entry.config.tools, tool.name))

const snapshot = (entry: Entry): ServerStatus => {
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

/** What decides whether a server must reconnect: everything but the tool filter. */
const connectionConfig = (config: ServerConfig, timeoutMs: number) => {
  const { tools: _tools, ...rest } = config
  return { ...rest, timeoutMs }
}

/** Reconnect delays: `initialMs`, doubling, capped at `maxMs`, each scaled by a random 0.8–1.2 (±20%). */
export const backoffSchedule = (initialMs: number, maxMs: number) =>
  Schedule.min([
    Schedule.exponential(Duration.millis(initialMs)),
    Schedule.spaced(Duration.millis(maxMs))
  ]).pipe(Schedule.jittered)

/** Builds the manager in the current scope; closing the scope closes every connection. */
export const make = Effect.fn("McpClientManager.make")(function* (
  config: McpgateConfig,
  options: McpClientManagerOptions = {}
) {
  const authorizedFetch = yield* AuthorizedFetch
  const builtin = options.builtin
  const initialMs = options.backoff?.initialMs ?? 1000
  const maxMs = options.backoff?.maxMs ?? 60_000
  const backoff = backoffSchedule(initialMs, maxMs)

  const entries = new Map<string, Entry>()
  let defaultTimeout = config.defaultTimeout
  let aggregate: Aggregate | undefined
  let changeCount = 0
  const pubsub = yield* PubSub.sliding<ManagerChange>(1024)
  yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
  const version = yield* SubscriptionRef.make(0)
  const lifecycle = yield* Semaphore.make(1)
  const processGroups = yield* ProcessGroups.make
  // Created after the pubsub and the process groups so that, closing in reverse order, connections close first.
  const fibers = yield* FiberMap.make<string>()

  const statuses = (): ReadonlyArray<ServerStatus> => Array.from(entries.values(), snapshot)

  const changed = (change: ManagerChange) =>
    Effect.gen(function* () {
      aggregate = undefined
      changeCount += 1
      yield* PubSub.publish(pubsub, change)
      yield* SubscriptionRef.update(version, (n) => n + 1)
    })

  const publishStatus = (entry: Entry) => changed({ _tag: "StatusChanged", status: snapshot(entry) })

  /** Applies `f` to the entry when `generation` is still current, then publishes its status. */
  const update = (name: string, generation: number, f: (entry: Entry) => void) =>
    Effect.suspend(() => {
      const entry = entries.get(name)
      if (entry === undefined || entry.generation !== generation) return Effect.void
      f(entry)
      return publishStatus(entry)
    })

  // What stdio servers write to stderr is logged at debug level under the server's name.
  const stderrLines = yield* Queue.sliding<{ readonly server: string; readonly line: string }>(1024)
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.flatMap(Queue.take(stderrLines), ({ server, line }) =>
        Effect.logDebug(`mcp server "${server}" stderr: ${line}`).pipe(
          Effect.annotateLogs("mcpServer", server)
        )
      )
    )
  )
  const onStderrLine = (server: string, line: string) => {
    if (line.trim() !== "") Queue.offerUnsafe(stderrLines, { server, line })
  }

  const connectionOptions = (timeoutMs: number): McpConnection.McpConnectionOptions => ({
    timeoutMs,
    ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
    ...(options.termGraceMs === undefined ? {} : { termGraceMs: options.termGraceMs }),
    ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
    ...(options.healthCheckIntervalMs === undefined
      ? {}
      : { healthCheckIntervalMs: options.healthCheckIntervalMs }),
    ...(options.clientInfo === undefined ? {} : { clientInfo: options.clientInfo }),
    ...(options.onStderr === undefined ? {} : { onStderr: options.onStderr }),
    onStderrLine,
    processGroups
  })

  /** One connection's life: open, publish, follow its tool list, return when it is gone. */
  const session = (name: string, generation: number, server: ServerConfig, timeoutMs: number) =>
    Effect.gen(function* () {
      const connection = yield* McpConnection.make(server, connectionOptions(timeoutMs)).pipe(
        Effect.provideService(AuthorizedFetch, authorizedFetch)
      )
      // Not generation-guarded: whoever replaced us must not route calls to a closed
      // connection. The state is left to the supervisor or to whoever stopped it.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          const entry = entries.get(name)
          if (entry?.connection !== connection) return
          entry.connection = undefined
          aggregate = undefined
          changeCount += 1
        })
      )
      const now = yield* Clock.currentTimeMillis
      const initialTools = yield* SubscriptionRef.get(connection.tools)
      yield* update(name, generation, (entry) => {
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
            const entry = entries.get(name)
            if (entry === undefined || entry.generation !== generation || entry.rawTools === tools)
              return Effect.void
            entry.rawTools = tools
            return Effect.andThen(
              changed({ _tag: "ToolsChanged", server: name, toolCount: filteredTools(entry).length }),
              publishStatus(entry)
            )
          })
        ),
        Effect.forkScoped
      )
      return yield* connection.closed
    })

  /** Connects `name` again and again until interrupted (or until it needs authorization). */
  const supervise = (name: string, generation: number, server: ServerConfig, timeoutMs: number) =>
    Effect.gen(function* () {
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
        yield* update(name, generation, (entry) => {
          entry.state = "connecting"
          entry.nextRetryAt = undefined
        })
        const exit = yield* Effect.exit(Effect.scoped(session(name, generation, server, timeoutMs)))
        if (Exit.isSuccess(exit)) {
          // It was connected, then went away: retry from the first backoff step.
          step = yield* Schedule.toStep(backoff)
          const retry = yield* nextDelay
          yield* Effect.logInfo(`mcp server "${name}" disconnected: ${exit.value.message}`)
          yield* update(name, generation, (entry) => {
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
          return yield* update(name, generation, (entry) => {
            entry.state = "needs_auth"
            entry.lastError = message
            entry.stderr = stderr
            entry.attempts += 1
            entry.settled = true
          })
        }
        const retry = yield* nextDelay
        yield* update(name, generation, (entry) => {
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

  const newEntry = (server: ServerConfig): Entry => ({
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

  const reservedName = (entry: Entry): boolean => builtin !== undefined && entry.config.name === builtin.name

  /** (Re)starts the supervisor of an entry whose previous fiber, if any, is already gone. */
  const start = (entry: Entry) =>
    Effect.gen(function* () {
      const name = entry.config.name
      entry.generation += 1
      entry.nextRetryAt = undefined
      entry.attempts = 0
      if (!entry.config.enabled) {
        entry.state = "disabled"
        entry.settled = true
        entry.rawTools = []
        return yield* publishStatus(entry)
      }
      if (reservedName(entry)) {
        entry.state = "error"
        entry.lastError = `the server name "${name}" is reserved for the builtin tools; rename it in the config`
        entry.settled = true
        return yield* publishStatus(entry)
      }
      entry.state = "connecting"
      entry.settled = false
      yield* publishStatus(entry)
      yield* FiberMap.run(fibers, name, supervise(name, entry.generation, entry.config, entry.timeoutMs))
    })

  /** Stops the supervisor (and closes the connection) of `name`, waiting for the close. */
  const stop = (entry: Entry) =>
    Effect.gen(function* () {
      entry.generation += 1
      yield* FiberMap.remove(fibers, entry.config.name)
    })

  const lookup = (name: string) =>
    Effect.suspend(() => {
      const entry = entries.get(name)
      return entry === undefined
        ? Effect.fail(
            new ServerNotFound({ server: name, message: `no server named "${name}" in the config` })
          )
        : Effect.succeed(entry)
    })

  const reconnect = Effect.fn("McpClientManager.reconnect")(function* (name: string) {
    const entry = yield* lookup(name)
    yield* Semaphore.withPermit(
      lifecycle,
      Effect.gen(function* () {
        yield* stop(entry)
        yield* start(entry)
      })
    )
  })

  const disconnect = Effect.fn("McpClientManager.disconnect")(function* (name: string) {
    const entry = yield* lookup(name)
    yield* Semaphore.withPermit(
      lifecycle,
      Effect.gen(function* () {
        yield* stop(entry)
        entry.state = entry.config.enabled ? "disconnected" : "disabled"
        entry.nextRetryAt = undefined
        entry.settled = true
        yield* publishStatus(entry)
      })
    )
  })

  const applyConfig = (next: McpgateConfig) =>
    Effect.gen(function* () {
      defaultTimeout = next.defaultTimeout
      const servers = Object.values(next.mcpServers)
      const wanted = new Set(servers.map((server) => server.name))
      const removed = Array.from(entries.values()).filter((entry) => !wanted.has(entry.config.name))
      const restart: Array<Entry> = []
      const ordered = new Map<string, Entry>()
      for (const server of servers) {
        const timeoutMs = McpConnection.timeoutMsOf(server, defaultTimeout)
        const existing = entries.get(server.name)
        if (existing === undefined) {
          const entry = newEntry(server)
          ordered.set(server.name, entry)
          restart.push(entry)
        } else if (
          !structuralEqual(
            connectionConfig(existing.config, existing.timeoutMs),
            connectionConfig(server, timeoutMs)
          )
        ) {
          restart.push(existing)
          ordered.set(server.name, existing)
        } else if (server.enabled && !reservedName(existing) && !FiberMap.hasUnsafe(fibers, server.name)) {
          // Unchanged but not running (disconnected by hand, or waiting for a login):
          // after a reload every enabled server is connected or trying to be.
          restart.push(existing)
          ordered.set(server.name, existing)
        } else {
          // Same connection; a new tool filter applies at once without reconnecting.
          const filterChanged = !structuralEqual(existing.config.tools, server.tools)
          existing.config = server
          ordered.set(server.name, existing)
          if (filterChanged) {
            yield* changed({
              _tag: "ToolsChanged",
              server: server.name,
              toolCount: existing.connection === undefined ? 0 : filteredTools(existing).length
            })
            yield* publishStatus(existing)
          }
        }
      }
      // Close what goes away or changes before starting anything: a server holding an
      // exclusive resource (a database file, a port) must not run twice.
      yield* Effect.forEach(
        [...removed, ...restart.filter((entry) => entries.has(entry.config.name))],
        stop,
        {
          concurrency: "unbounded",
          discard: true
        }
      )
      entries.clear()
      for (const [name, entry] of ordered) entries.set(name, entry)
      for (const entry of removed) yield* changed({ _tag: "ServerRemoved", server: entry.config.name })
      for (const entry of restart) {
        const server = next.mcpServers[entry.config.name]
        if (server === undefined) continue
        entry.config = server
        entry.timeoutMs = McpConnection.timeoutMsOf(server, defaultTimeout)
        entry.rawTools = []
        entry.lastError = undefined
        entry.stderr = undefined
        yield* start(entry)
      }
    })

  const reload = Effect.fn("McpClientManager.reload")(function* (next: McpgateConfig) {
    yield* Semaphore.withPermit(lifecycle, applyConfig(next))
  })

  const awaitCondition = (check: () => boolean) =>
    SubscriptionRef.changes(version).pipe(
      Stream.filter(() => check()),
      Stream.runHead,
      Effect.map(() => statuses())
    )

  const buildAggregate = Effect.gen(function* () {
    const refs: Array<ToolNames.ToolRef> = []
    const byServer = new Map<string, Map<string, Tool>>()
    for (const entry of entries.values()) {
      if (entry.state === "disabled" || reservedName(entry)) continue
      const tools = new Map<string, Tool>()
      for (const tool of filteredTools(entry)) {
        tools.set(tool.name, tool)
        refs.push({ server: entry.config.name, tool: tool.name })
      }
      byServer.set(entry.config.name, tools)
    }
    if (builtin !== undefined) {
      const builtinTools = yield* builtin.listTools.pipe(
        Effect.catch((error) =>
          Effect.as(
            Effect.logWarning(`builtin tools unavailable: ${error.message}`),
            [] as ReadonlyArray<Tool>
          )
        )
      )
      const tools = new Map<string, Tool>()
      for (const tool of builtinTools) {
        tools.set(tool.name, tool)
        refs.push({ server: builtin.name, tool: tool.name })
      }
      byServer.set(builtin.name, tools)
    }
    // Tools of servers that are away stay in the table, so names do not shift while
    // they reconnect and a call to one says "disconnected" rather than "unknown".
    const table = ToolNames.make(refs)
    const list: Array<AggregatedTool> = []
    for (const [publicName, ref] of table.entries) {
      const live = ref.server === builtin?.name || entries.get(ref.server)?.connection !== undefined
      const tool = byServer.get(ref.server)?.get(ref.tool)
      if (live && tool !== undefined) list.push({ publicName, server: ref.server, tool })
    }
    return { table, list } satisfies Aggregate
  })

  const currentAggregate = Effect.suspend(() => {
    if (aggregate !== undefined) return Effect.succeed(aggregate)
    const seen = changeCount
    return buildAggregate.pipe(
      Effect.tap((built) =>
        Effect.sync(() => {
          // Only cache when nothing changed while building.
          if (seen === changeCount) aggregate = built
        })
      )
    )
  })

  const notConnected = (entry: Entry, tool: string): ToolCallError => {
    const name = entry.config.name
    const detail = entry.lastError === undefined ? "" : `; last error: ${entry.lastError}`
    return entry.state === "needs_auth"
      ? new ToolCallError({
          server: name,
          tool,
          reason: "needs_auth",
          message: `server "${name}" needs authorization: run \`mcpgate login ${name}\` or log in from the admin page${detail}`
        })
      : new ToolCallError({
          server: name,
          tool,
          reason: "disconnected",
          message: `server "${name}" is not connected (state: ${entry.state})${detail}`
        })
  }

  const call = Effect.fn("McpClientManager.call")(function* (
    publicName: string,
    args: Readonly<Record<string, unknown>>,
    callOptions?: CallOptions
  ) {
    const { table } = yield* currentAggregate
    const ref = table.resolve(publicName)
    if (ref === undefined) {
      return yield* new ToolCallError({
        server: "",
        tool: publicName,
        reason: "unknown_tool",
        message: `unknown tool "${publicName}"`
      })
    }
    if (builtin !== undefined && ref.server === builtin.name) {
      return normalize(yield* builtin.callTool(ref.tool, args, callOptions))
    }
    const entry = entries.get(ref.server)
    if (entry === undefined) {
      return yield* new ToolCallError({
        server: ref.server,
        tool: ref.tool,
        reason: "unknown_tool",
        message: `unknown tool "${publicName}"`
      })
    }
    const connection = entry.connection
    if (connection === undefined) return yield* notConnected(entry, ref.tool)
    const result = yield* connection.callTool(ref.tool, args, {
      timeoutMs: callOptions?.timeoutMs ?? entry.timeoutMs
    })
    return normalize(result)
  })

  const serverStatus = (name: string) => Effect.map(lookup(name), snapshot)

  yield* Semaphore.withPermit(lifecycle, applyConfig(config))

  const service: McpClientManagerShape = {
    status: Effect.sync(statuses),
    serverStatus,
    changes: Stream.fromPubSub(pubsub),
    subscribe: Effect.map(PubSub.subscribe(pubsub), Stream.fromSubscription),
    awaitStatus: (predicate) => awaitCondition(() => predicate(statuses())),
    awaitSettled: awaitCondition(() => Array.from(entries.values()).every((entry) => entry.settled)),
    tools: Effect.map(currentAggregate, (built) => built.list),
    call,
    reconnect,
    disconnect,
    reload
  }
  return service
})

export class McpClientManager extends Context.Service<McpClientManager, McpClientManagerShape>()(
  "@mcpgate/transport/McpClientManager"
) {
  /** The manager for `config`; needs an `AuthorizedFetch` (e.g. `AuthorizedFetch.layer`). */
  static readonly layer = (
    config: McpgateConfig,
    options?: McpClientManagerOptions
  ): Layer.Layer<McpClientManager, never, AuthorizedFetch> =>
    Layer.effect(McpClientManager, make(config, options))
}
