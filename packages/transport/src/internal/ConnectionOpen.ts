/**
 * Opening an MCP connection: the SDK client with our capabilities, the transport
 * for the server's kind (a stdio process group, SSE, streamable HTTP, optionally
 * negotiated), `initialize` within the server's timeout, the fallback from
 * streamable HTTP to SSE for `auto`, and closing it all with the scope.
 */

import type { ServerConfig, Transport } from "@mcpgate/core/Config"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  ElicitRequestSchema,
  type ElicitResult,
  ToolListChangedNotificationSchema
} from "@modelcontextprotocol/sdk/types.js"
import { Effect, Exit, FiberSet, Scope } from "effect"
import { McpConnectionError } from "../Errors.ts"
import { type ConnectionLost, defaultClientInfo, type McpConnectionOptions } from "../McpConnection.ts"
import { classifyOpenError, exitSummary, seconds, stderrTail } from "./ConnectionFailures.ts"
import { NegotiatingHttpTransport } from "./NegotiatingHttpTransport.ts"
import { StdioProcessTransport } from "./StdioProcessTransport.ts"
import { fallsBackToSse, httpTransport, stdioTransport } from "./UpstreamTransport.ts"

/** What the connection hears from the SDK client once it is open. */
export interface OpenHooks {
  /** The transport closed (process exit, stream gone). */
  readonly onClose: (lost: ConnectionLost) => void
  /** The transport reported an error; the connection may or may not be alive. */
  readonly onError: (error: Error) => void
  /** `notifications/tools/list_changed` arrived. */
  readonly onListChanged: () => void
}

export interface Opened {
  readonly client: Client
  readonly transport: SdkTransport
  /** The transport actually in use (`auto` resolved). */
  readonly kind: Transport
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** Closes client and transport within `budgetMs`; then SIGKILLs a stdio group that is still there. Never rejects. */
const closeQuietly = async (client: Client, transport: SdkTransport, budgetMs: number): Promise<void> => {
  const work = (async () => {
    if (transport instanceof StreamableHTTPClientTransport || transport instanceof NegotiatingHttpTransport) {
      // MCP 2025-11-25 "Transports › Session Management": clients SHOULD DELETE a session they leave.
      await Promise.race([transport.terminateSession().catch(() => {}), sleep(Math.min(1000, budgetMs))])
    }
    await client.close().catch(() => {})
    await transport.close().catch(() => {})
  })()
  await Promise.race([work, sleep(budgetMs)])
  if (transport instanceof StdioProcessTransport) transport.kill()
}

/**
 * The SDK client. With `onElicitation` it declares form elicitation and answers with
 * this fiber's services (logger, tracer …); an answer still pending is interrupted
 * when the server cancels the request or the scope closes.
 */
const makeClient = Effect.fnUntraced(function* (options: McpConnectionOptions) {
  const onElicitation = options.onElicitation
  const client = new Client(options.clientInfo ?? defaultClientInfo, {
    capabilities: onElicitation === undefined ? {} : { elicitation: { form: { applyDefaults: true } } }
  })
  if (onElicitation !== undefined) {
    const runElicitation = yield* FiberSet.makeRuntimePromise<never, ElicitResult, never>()
    client.setRequestHandler(ElicitRequestSchema, (request, extra) =>
      runElicitation(onElicitation(request.params), { signal: extra.signal })
    )
  }
  return client
})

/** Opens one transport kind and initializes; the client is closed with the current scope. */
const openWith = Effect.fnUntraced(function* (
  server: ServerConfig,
  kind: Transport,
  options: McpConnectionOptions,
  hooks: OpenHooks
) {
  const client = yield* makeClient(options)
  const transport: SdkTransport =
    kind === "stdio" ? yield* stdioTransport(server, options) : yield* httpTransport(server, kind, options)
  const closeBudget = options.closeTimeoutMs ?? 5000
  yield* Effect.addFinalizer(() => Effect.promise(() => closeQuietly(client, transport, closeBudget)))

  client.onclose = () => {
    const exit = exitSummary(transport)
    hooks.onClose({
      message: exit ?? "the connection closed",
      stderr: exit === undefined ? undefined : stderrTail(transport)
    })
  }
  client.onerror = hooks.onError
  client.setNotificationHandler(ToolListChangedNotificationSchema, async () => hooks.onListChanged())

  const timeoutMs = options.timeoutMs
  // Our timeout covers the whole open (SSE's `start`, waiting for the endpoint event,
  // has none in the SDK) and then closes the transport. The SDK's own timer is set
  // later and no signal is passed, because "the initialize request MUST NOT be
  // cancelled by clients" (MCP 2025-11-25 "Utilities › Cancellation").
  yield* Effect.tryPromise({
    try: () => client.connect(transport, { timeout: timeoutMs + 5000 }),
    catch: (error) => classifyOpenError(server, kind, transport, timeoutMs, error)
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () =>
        Effect.fail(
          new McpConnectionError({
            server: server.name,
            reason: "timeout",
            message: `server "${server.name}": initialize did not answer within ${seconds(timeoutMs)}`
          })
        )
    })
  )
  return { client, transport, kind } satisfies Opened
})

/**
 * Opens the server's transport (`auto`: streamable HTTP, else SSE after a 4xx) and
 * initializes, in the current scope. A failed first attempt is closed at once.
 */
export const open = Effect.fnUntraced(function* (
  server: ServerConfig,
  options: McpConnectionOptions,
  hooks: OpenHooks
) {
  const setting = server.transport
  if (setting !== "auto") return yield* openWith(server, setting, options, hooks)
  const attemptScope = yield* Scope.fork(yield* Effect.scope, "sequential")
  const first = yield* openWith(server, "streamable-http", options, hooks).pipe(
    Scope.provide(attemptScope),
    Effect.exit
  )
  if (Exit.isSuccess(first)) return first.value
  yield* Scope.close(attemptScope, first)
  const error = Exit.findErrorOption(first)
  if (error._tag === "None" || !fallsBackToSse(error.value)) return yield* first
  return yield* openWith(server, "sse", options, hooks).pipe(
    Effect.mapError(
      (sseError) =>
        new McpConnectionError({
          ...sseError,
          message: `${sseError.message} (after streamable HTTP answered HTTP ${error.value.status})`
        })
    )
  )
})
