/**
 * An open MCP connection (McpConnection.ts): opened with the SDK's `Client`
 * (ConnectionOpen), listed, kept current (ConnectionWatch) and answering calls
 * (ConnectionCalls). McpConnection loads it on the first connection.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import { Deferred, Effect, Exit, Queue, SubscriptionRef } from "effect"
import { McpConnectionError } from "../Errors.ts"
import type { ConnectionLost, McpConnection, McpConnectionOptions } from "../McpConnection.ts"
import { callTool, listAllTools, request } from "./ConnectionCalls.ts"
import { open } from "./ConnectionOpen.ts"
import { followListChanged, watchHealth } from "./ConnectionWatch.ts"
import { StdioProcessTransport } from "./StdioProcessTransport.ts"

/** Opens, lists and starts keeping the connection current; everything lives in the current scope. */
export const openConnection = Effect.fnUntraced(function* (
  server: ServerConfig,
  options: McpConnectionOptions
) {
  const name = server.name
  const timeoutMs = options.timeoutMs
  const lost = yield* Deferred.make<ConnectionLost>()
  const listChanged = yield* Queue.sliding<void>(1)
  const healthCheck = yield* Queue.sliding<void>(1)
  const markLost = (reason: ConnectionLost) => {
    Deferred.doneUnsafe(lost, Exit.succeed(reason))
  }
  const requestHealthCheck = () => {
    Queue.offerUnsafe(healthCheck, undefined)
  }
  const { client, transport, kind } = yield* open(server, options, {
    onClose: markLost,
    // Errors on HTTP transports may mean the server is gone (or just a dropped SSE
    // stream the SDK will reopen): a ping decides. stdio reports its end through `onclose`.
    onError: requestHealthCheck,
    onListChanged: () => {
      Queue.offerUnsafe(listChanged, undefined)
    }
  })

  const initialTools =
    client.getServerCapabilities()?.tools === undefined
      ? []
      : yield* listAllTools(client, name, timeoutMs).pipe(
          Effect.mapError(
            (error) =>
              new McpConnectionError({
                server: name,
                reason: error.reason === "timeout" ? "timeout" : "protocol",
                message: error.message
              })
          )
        )
  const tools = yield* SubscriptionRef.make<ReadonlyArray<Tool>>(initialTools)
  const refreshTools = listAllTools(client, name, timeoutMs).pipe(
    Effect.tap((list) => SubscriptionRef.set(tools, list)),
    Effect.tapError(() => Effect.sync(requestHealthCheck))
  )

  yield* followListChanged(listChanged, refreshTools)
  if (kind !== "stdio") {
    yield* watchHealth(
      client,
      { intervalMs: options.healthCheckIntervalMs ?? 30_000, pingTimeoutMs: Math.min(timeoutMs, 10_000) },
      healthCheck,
      markLost
    )
  }

  const callContext = {
    client,
    transport,
    server,
    timeoutMs,
    isLost: () => Deferred.isDoneUnsafe(lost),
    onTransportError: requestHealthCheck
  }
  const connection: McpConnection = {
    name,
    transport: kind,
    serverInfo: client.getServerVersion(),
    instructions: client.getInstructions(),
    pid: transport instanceof StdioProcessTransport ? transport.pid : undefined,
    tools,
    refreshTools,
    listTools: SubscriptionRef.get(tools),
    callTool: (tool, args, callOptions) => callTool(callContext, tool, args, callOptions),
    closed: Deferred.await(lost),
    capabilities: client.getServerCapabilities(),
    request: (method, params) => request(callContext, method, params)
  }
  return connection
})
