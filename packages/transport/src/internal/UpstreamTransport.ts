/**
 * The SDK transport to one MCP server, unopened: a stdio process group, SSE, or
 * streamable HTTP (negotiated when asked) through the server's authorized fetch;
 * and closing one within a budget. The connection (ConnectionOpen) puts an SDK
 * `Client` on top; the pass-through session (McpProxy) relays raw messages.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js"
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { Effect } from "effect"
import { AuthorizedFetch } from "../AuthorizedFetch.ts"
import { McpConnectionError } from "../Errors.ts"
import type { McpConnectionOptions } from "../McpConnection.ts"
import { NegotiatingHttpTransport } from "./NegotiatingHttpTransport.ts"
import * as ProcessGroups from "./ProcessGroups.ts"
import { StdioProcessTransport } from "./StdioProcessTransport.ts"

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/**
 * Closes a transport within `budgetMs` (an HTTP session is DELETEd first); then
 * SIGKILLs a stdio group that is still there. Never rejects.
 */
export const closeQuietly = async (transport: SdkTransport, budgetMs: number): Promise<void> => {
  const work = (async () => {
    if (transport instanceof StreamableHTTPClientTransport || transport instanceof NegotiatingHttpTransport) {
      // MCP 2025-11-25 "Transports › Session Management": clients SHOULD DELETE a session they leave.
      await Promise.race([transport.terminateSession().catch(() => {}), sleep(Math.min(1000, budgetMs))])
    }
    await transport.close().catch(() => {})
  })()
  await Promise.race([work, sleep(budgetMs)])
  if (transport instanceof StdioProcessTransport) transport.kill()
}

/** stdio: the server's process group, with a safe base environment plus its own variables. */
export const stdioTransport = Effect.fnUntraced(function* (
  server: ServerConfig,
  options: McpConnectionOptions
) {
  if (server.command === undefined) {
    return yield* new McpConnectionError({
      server: server.name,
      reason: "spawn",
      message: `server "${server.name}": no command to start`
    })
  }
  const { onStderr, onStderrLine } = options
  return new StdioProcessTransport({
    groups: options.processGroups ?? (yield* ProcessGroups.make),
    command: server.command,
    args: server.args,
    // Nothing else of the gateway's environment leaks in.
    env: { ...getDefaultEnvironment(), ...server.env },
    cwd: server.cwd,
    termGraceMs: options.termGraceMs,
    killGraceMs: options.killGraceMs,
    onStderr: onStderr === undefined ? undefined : (text) => onStderr(server.name, text),
    onStderrLine: onStderrLine === undefined ? undefined : (line) => onStderrLine(server.name, line)
  })
})

/** SSE or streamable HTTP (negotiated when asked), through the server's authorized fetch. */
export const httpTransport = Effect.fnUntraced(function* (
  server: ServerConfig,
  kind: "sse" | "streamable-http",
  options: McpConnectionOptions
) {
  if (server.url === undefined) {
    return yield* new McpConnectionError({
      server: server.name,
      reason: "transport",
      message: `server "${server.name}": no url to connect to`
    })
  }
  const url = new URL(server.url)
  const fetch = (yield* AuthorizedFetch).forServer(server)
  if (kind === "sse") return new SSEClientTransport(url, { fetch })
  if (options.negotiateProtocol !== true) return new StreamableHTTPClientTransport(url, { fetch })
  return new NegotiatingHttpTransport({
    url,
    fetch,
    legacy: () => new StreamableHTTPClientTransport(url, { fetch })
  })
})

/**
 * MCP 2025-11-25 "Transports › Backwards Compatibility": a POST that fails with a 4xx
 * means an old HTTP+SSE server; 401/403 are authorization, not a protocol mismatch.
 */
export const fallsBackToSse = (error: McpConnectionError): boolean =>
  error.status !== undefined &&
  error.status >= 400 &&
  error.status < 500 &&
  error.status !== 401 &&
  error.status !== 403

/**
 * A raw transport to `server` for relaying its messages (`/mcp/<server>`), started,
 * and closed with the current scope. `kind` is the transport to use (`auto`
 * resolved by the caller: the one the server's connection uses).
 */
export const openRelay = Effect.fnUntraced(function* (
  server: ServerConfig,
  kind: "stdio" | "sse" | "streamable-http",
  options: McpConnectionOptions
) {
  const transport: SdkTransport =
    kind === "stdio" ? yield* stdioTransport(server, options) : yield* httpTransport(server, kind, options)
  const closeBudget = options.closeTimeoutMs ?? 5000
  yield* Effect.addFinalizer(() => Effect.promise(() => closeQuietly(transport, closeBudget)))
  yield* Effect.tryPromise({
    try: () => transport.start(),
    catch: (error) =>
      new McpConnectionError({
        server: server.name,
        reason: kind === "stdio" ? "spawn" : "transport",
        message: `server "${server.name}": could not open the relay: ${error instanceof Error ? error.message : String(error)}`
      })
  })
  return transport
})
