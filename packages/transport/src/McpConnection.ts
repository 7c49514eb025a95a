/**
 * One MCP server connection (docs/connections.md#transports, #connection-lifecycle):
 * stdio, SSE or streamable HTTP through the
 * SDK's `Client`, living in the caller's `Scope`.
 *
 * `make` opens the transport, runs `initialize` and a full (paginated) `tools/list`,
 * each bounded by the server's timeout, and returns a `ToolProvider` plus what the
 * client manager needs to supervise it: the current tool list (kept fresh by
 * `notifications/tools/list_changed`) and `closed`, which completes when the
 * connection is gone. Closing the scope closes the client (5 s at most, then the
 * stdio process group is SIGKILLed).
 *
 * The work is in internal/, loaded with the SDK on the first connection: the open
 * connection (Connected) and its opening (ConnectionOpen), requests (ConnectionCalls),
 * keeping it current (ConnectionWatch), and failures in words (ConnectionFailures).
 */
import type { ServerConfig, Transport } from "@mcpgate/core/Config"
import { version } from "@mcpgate/core/Version"
import type {
  ElicitRequest,
  ElicitResult,
  Implementation,
  Result,
  ServerCapabilities,
  Tool
} from "@modelcontextprotocol/sdk/types.js"
import { Effect, Exit, Scope, type SubscriptionRef } from "effect"
import type { McpRequestFailed, ToolCallError } from "./Errors.ts"
import type * as ProcessGroups from "./internal/ProcessGroups.ts"
import type { ToolProvider } from "./ToolProvider.ts"

export { McpConnectionError } from "./Errors.ts"

/** How the gateway introduces itself in `initialize` unless told otherwise. */
export const defaultClientInfo: Implementation = { name: "mcpgate", version }

/**
 * The code that opens connections, with the MCP SDK under it: loaded on the first
 * connection, so that a process that never connects (or not yet) does not load
 * the SDK (bench/RESULTS.md, issue 18: start-up).
 */
const loadConnected = Effect.promise(() => import("./internal/Connected.ts"))

/** Why an open connection went away. */
export interface ConnectionLost {
  readonly message: string
  /** stdio: the last lines the process wrote to stderr (for admins only, like `McpConnectionError.stderr`). */
  readonly stderr?: string | undefined
}

export interface McpConnectionOptions {
  /** Milliseconds for `initialize`, each `tools/list` page and each call (unless a call says otherwise). */
  readonly timeoutMs: number
  /** Budget for a graceful close before the process group is killed (default 5000). */
  readonly closeTimeoutMs?: number | undefined
  /** stdio: wait after closing stdin before SIGTERM (default 2000). */
  readonly termGraceMs?: number | undefined
  /** stdio: wait after SIGTERM before SIGKILL (default 2000). */
  readonly killGraceMs?: number | undefined
  /** HTTP transports: ping this often to notice a server that went away silently (default 30000; 0 disables). */
  readonly healthCheckIntervalMs?: number | undefined
  /** How we introduce ourselves in `initialize`. */
  readonly clientInfo?: Implementation | undefined
  /** stdio: receives what the server writes to stderr. */
  readonly onStderr?: ((server: string, text: string) => void) | undefined
  /** stdio: receives each line the server writes to stderr. */
  readonly onStderrLine?: ((server: string, line: string) => void) | undefined
  /** stdio: where the server's process group is registered (default: a registry of this connection's own). */
  readonly processGroups?: ProcessGroups.ProcessGroups | undefined
  /**
   * Answers the server's form elicitations (MCP 2025-11-25 "Client Features ›
   * Elicitation"). Fields an accepted `content` leaves out are filled with the
   * schema's defaults (SEP-1034). Without it no elicitation capability is declared.
   */
  readonly onElicitation?: ((request: ElicitRequest["params"]) => Effect.Effect<ElicitResult>) | undefined
  /**
   * Streamable HTTP: ask the server with `server/discover` whether it speaks the
   * stateless MCP 2026-07-28, and use it if so; else (the default) 2025-11-25.
   */
  readonly negotiateProtocol?: boolean | undefined
}

export interface McpConnection extends ToolProvider {
  /** The transport actually in use (`auto` resolved). */
  readonly transport: Transport
  readonly serverInfo: Implementation | undefined
  readonly instructions: string | undefined
  /** stdio: the server's pid (also its process group id). */
  readonly pid: number | undefined
  /** The server's tools as last listed (unfiltered, original names). */
  readonly tools: SubscriptionRef.SubscriptionRef<ReadonlyArray<Tool>>
  /** Lists the tools again (all pages) and publishes them on `tools`. */
  readonly refreshTools: Effect.Effect<ReadonlyArray<Tool>, ToolCallError>
  /** Completes when the connection is gone (process exit, transport closed, failed health check). */
  readonly closed: Effect.Effect<ConnectionLost>
  /** What the server offers (resources, prompts …), as it said in `initialize`. */
  readonly capabilities: ServerCapabilities | undefined
  /** Any other request to the server (resources, prompts), within the server's timeout. */
  readonly request: (
    method: string,
    params: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Result, McpRequestFailed>
}

/** The server's request timeout: its own `timeout` (seconds), else the default. */
export const timeoutMsOf = (server: ServerConfig, defaultTimeoutSeconds: number): number =>
  Math.max(1, Math.round((server.timeout ?? defaultTimeoutSeconds) * 1000))

/**
 * Opens a connection to `server` in the current scope (see the module comment).
 * Fails with `McpConnectionError` when the server cannot be reached, initialized or
 * listed; whatever was started by then (a process, a session) is closed at once,
 * not when the caller's scope ends.
 */
export const make = Effect.fn("McpConnection.make")(function* (
  server: ServerConfig,
  options: McpConnectionOptions
) {
  const { openConnection } = yield* loadConnected
  const connectionScope = yield* Scope.fork(yield* Effect.scope, "sequential")
  return yield* openConnection(server, options).pipe(
    Scope.provide(connectionScope),
    Effect.onExit((exit) => (Exit.isFailure(exit) ? Scope.close(connectionScope, exit) : Effect.void))
  )
})
