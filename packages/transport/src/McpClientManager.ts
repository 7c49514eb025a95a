/**
 * Every configured MCP server, supervised (docs/connections.md#connection-lifecycle,
 * #reconnect-and-backoff; docs/architecture.md#services-transport).
 *
 * Each enabled server runs in its own fiber of a `FiberMap` keyed by name: connect,
 * serve until the connection is gone, wait (exponential backoff with jitter), again.
 * Starting returns at once, so a slow or dead server never blocks the others or the
 * caller. The manager aggregates the tools of connected servers (after `tools.allow` /
 * `deny`) and of the builtin provider, names them through `ToolNames` and routes
 * calls by that table, never by splitting names.
 *
 * The work is in internal/: the state and its publication (ManagerState), one
 * server's supervisor (Supervisor), reconnect/disconnect/reload (Lifecycle), and
 * the tool table and call routing (ToolRouting).
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { Implementation, Result, Tool } from "@modelcontextprotocol/sdk/types.js"
import {
  Context,
  Effect,
  FiberMap,
  Layer,
  PubSub,
  Queue,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import { AuthorizedFetch } from "./AuthorizedFetch.ts"
import type { ManagerChange, ServerStatus } from "./ConnectionState.ts"
import { type McpConnectionError, McpRequestFailed, ServerNotFound, type ToolCallError } from "./Errors.ts"
import * as Lifecycle from "./internal/Lifecycle.ts"
import {
  awaitCondition,
  isReserved,
  lookup,
  type ManagerState,
  snapshot,
  statuses
} from "./internal/ManagerState.ts"
import * as ProcessGroups from "./internal/ProcessGroups.ts"
import type { Supervision } from "./internal/Supervisor.ts"
import { currentAggregate, routeCall } from "./internal/ToolRouting.ts"
import type { CallOptions, ToolProvider } from "./ToolProvider.ts"
import type { NormalizedToolResult } from "./ToolResult.ts"

export { ServerNotFound } from "./Errors.ts"
export { backoffSchedule } from "./internal/Supervisor.ts"

/** A tool as exposed to models: its public name, where it lives, and its MCP description (original name). */
export interface AggregatedTool {
  readonly publicName: string
  readonly server: string
  readonly tool: Tool
}

export interface McpClientManagerOptions {
  /** The builtin tools, treated like one more server (its `name`, normally `builtin`, is reserved). */
  readonly builtin?: ToolProvider | undefined
  /** Reconnect backoff: first delay and cap, before ±20% jitter (defaults 1000 and 60000 ms). */
  readonly backoff?:
    | { readonly initialMs?: number | undefined; readonly maxMs?: number | undefined }
    | undefined
  /** Budget for closing one connection before its processes are killed (default 5000 ms). */
  readonly closeTimeoutMs?: number | undefined
  /** stdio shutdown grace periods (defaults 2000 ms each). */
  readonly termGraceMs?: number | undefined
  readonly killGraceMs?: number | undefined
  /** HTTP servers are pinged this often to notice a silent disappearance (default 30000; 0 disables). */
  readonly healthCheckIntervalMs?: number | undefined
  readonly clientInfo?: Implementation | undefined
  /** Receives what stdio servers write to stderr. */
  readonly onStderr?: ((server: string, text: string) => void) | undefined
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
  /**
   * A new raw transport to one enabled server, started, for relaying its whole
   * protocol (`/mcp/<server>`): through the server's OAuth, with stdio children in
   * the manager's process groups. Closed (session DELETEd, process group ended)
   * with the scope. Nothing is sent on it yet: the caller relays `initialize`.
   */
  /**
   * A request other than `tools/call` to one connected server (`resources/read`,
   * `prompts/get` …), e.g. for the aggregated `/mcp`. Fails when the server is not
   * connected or lacks the capability (`capability`: "resources" | "prompts" …).
   */
  readonly request: (
    name: string,
    capability: "resources" | "prompts" | "completions",
    method: string,
    params: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Result, ServerNotFound | McpRequestFailed>
  readonly openRelay: (
    name: string
  ) => Effect.Effect<SdkTransport, ServerNotFound | McpConnectionError, Scope.Scope>
}

/** The SDK transports under a relay: loaded on the first one, as the connections' code is (McpConnection.ts). */
const loadUpstreamTransport = Effect.promise(() => import("./internal/UpstreamTransport.ts"))

/** What stdio servers write to stderr, logged at debug level under the server's name. */
const stderrLogger = Effect.gen(function* () {
  const lines = yield* Queue.sliding<{ readonly server: string; readonly line: string }>(1024)
  yield* Effect.forkScoped(
    Effect.forever(
      Effect.flatMap(Queue.take(lines), ({ server, line }) =>
        Effect.logDebug(`mcp server "${server}" stderr: ${line}`).pipe(
          Effect.annotateLogs("mcpServer", server)
        )
      )
    )
  )
  return (server: string, line: string) => {
    if (line.trim() !== "") Queue.offerUnsafe(lines, { server, line })
  }
})

/** Builds the manager in the current scope; closing the scope closes every connection. */
export const make = Effect.fn("McpClientManager.make")(function* (
  config: McpgateConfig,
  options: McpClientManagerOptions = {}
) {
  const authorizedFetch = yield* AuthorizedFetch
  const pubsub = yield* PubSub.sliding<ManagerChange>(1024)
  yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
  const version = yield* SubscriptionRef.make(0)
  const lifecycle = yield* Semaphore.make(1)
  const processGroups = yield* ProcessGroups.make
  const state: ManagerState = {
    entries: new Map(),
    builtin: options.builtin,
    pubsub,
    version,
    lifecycle,
    // Created after the pubsub and the process groups so that, closing in reverse order, connections close first.
    fibers: yield* FiberMap.make<string>(),
    defaultTimeout: config.defaultTimeout,
    aggregate: undefined,
    changeCount: 0
  }
  const onStderrLine = yield* stderrLogger
  const supervision: Supervision = {
    state,
    authorizedFetch,
    backoff: { initialMs: options.backoff?.initialMs ?? 1000, maxMs: options.backoff?.maxMs ?? 60_000 },
    connectionOptions: (timeoutMs) => ({
      timeoutMs,
      closeTimeoutMs: options.closeTimeoutMs,
      termGraceMs: options.termGraceMs,
      killGraceMs: options.killGraceMs,
      healthCheckIntervalMs: options.healthCheckIntervalMs,
      clientInfo: options.clientInfo,
      onStderr: options.onStderr,
      onStderrLine,
      processGroups
    })
  }

  yield* Lifecycle.reload(supervision, config)

  const service: McpClientManagerShape = {
    status: Effect.sync(() => statuses(state)),
    serverStatus: (name) => Effect.map(lookup(state, name), snapshot),
    changes: Stream.fromPubSub(pubsub),
    subscribe: Effect.map(PubSub.subscribe(pubsub), Stream.fromSubscription),
    awaitStatus: (predicate) => awaitCondition(state, () => predicate(statuses(state))),
    awaitSettled: awaitCondition(state, () =>
      Array.from(state.entries.values()).every((entry) => entry.settled)
    ),
    tools: Effect.map(currentAggregate(state), (built) => built.list),
    call: Effect.fn("McpClientManager.call")((publicName, args, callOptions) =>
      routeCall(state, publicName, args, callOptions)
    ),
    reconnect: Effect.fn("McpClientManager.reconnect")((name) => Lifecycle.reconnect(supervision, name)),
    disconnect: Effect.fn("McpClientManager.disconnect")((name) => Lifecycle.disconnect(supervision, name)),
    reload: Effect.fn("McpClientManager.reload")((next) => Lifecycle.reload(supervision, next)),
    request: Effect.fn("McpClientManager.request")(function* (name, capability, method, params) {
      const entry = yield* lookup(state, name)
      const connection = entry.connection
      if (connection === undefined || entry.state !== "connected") {
        return yield* new McpRequestFailed({
          server: name,
          method,
          message: `server "${name}" is not connected`
        })
      }
      if (connection.capabilities?.[capability] === undefined) {
        return yield* new McpRequestFailed({
          server: name,
          method,
          code: -32601,
          message: `server "${name}" offers no ${capability}`
        })
      }
      return yield* connection.request(method, params)
    }),
    openRelay: Effect.fn("McpClientManager.openRelay")(function* (name) {
      const entry = yield* lookup(state, name)
      if (!entry.config.enabled || isReserved(state, entry)) {
        return yield* new ServerNotFound({ server: name, message: `server "${name}" is disabled` })
      }
      // `auto` resolves to what the server's connection settled on (streamable HTTP until it has one).
      const kind =
        entry.config.transport === "auto"
          ? (entry.connection?.transport ?? "streamable-http")
          : entry.config.transport
      const { openRelay } = yield* loadUpstreamTransport
      return yield* openRelay(entry.config, kind, supervision.connectionOptions(entry.timeoutMs)).pipe(
        Effect.provideService(AuthorizedFetch, authorizedFetch)
      )
    })
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
