/**
 * Requests on an open connection: the whole (paginated) `tools/list`, and
 * `tools/call` with what its failures mean for the caller.
 */

import type { ServerConfig } from "@mcpgate/core/Config"
import * as TraceContext from "@mcpgate/core/TraceContext"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  type CallToolResult,
  CallToolResultSchema,
  ErrorCode,
  ListToolsResultSchema,
  McpError,
  type Result,
  ResultSchema,
  type Tool
} from "@modelcontextprotocol/sdk/types.js"
import { Effect, Predicate } from "effect"
import { McpRequestFailed, ToolCallError } from "../Errors.ts"
import type { CallOptions } from "../ToolProvider.ts"
import { errorText, exitSummary, httpStatusOf, seconds } from "./ConnectionFailures.ts"
import * as TraceHeaders from "./TraceHeaders.ts"

/** `tools/list`, every page; a name listed twice keeps its first entry, a repeated cursor is an error. */
export const listAllTools = (client: Client, server: string, timeoutMs: number) =>
  Effect.gen(function* () {
    const tools: Array<Tool> = []
    const names = new Set<string>()
    const cursors = new Set<string>()
    let cursor: string | undefined
    for (;;) {
      const params = cursor === undefined ? {} : { cursor }
      const page = yield* Effect.tryPromise({
        try: (signal) =>
          client.request({ method: "tools/list", params }, ListToolsResultSchema, {
            signal,
            timeout: timeoutMs
          }),
        catch: (error) =>
          new ToolCallError({
            server,
            tool: "tools/list",
            reason:
              error instanceof McpError && error.code === ErrorCode.RequestTimeout
                ? "timeout"
                : error instanceof McpError && error.code === ErrorCode.ConnectionClosed
                  ? "disconnected"
                  : "transport",
            message: `server "${server}": tools/list failed: ${errorText(error)}`
          })
      })
      for (const tool of page.tools) {
        // A name listed twice would make routing ambiguous: the first one wins.
        if (!names.has(tool.name)) {
          names.add(tool.name)
          tools.push(tool)
        }
      }
      cursor = page.nextCursor
      if (cursor === undefined || cursor === "") return tools
      if (cursors.has(cursor)) {
        return yield* new ToolCallError({
          server,
          tool: "tools/list",
          reason: "transport",
          message: `server "${server}": tools/list returned the cursor "${cursor.slice(0, 40)}" twice`
        })
      }
      cursors.add(cursor)
    }
  })

/** What a `tools/call` needs to know about its connection. */
export interface CallContext {
  readonly client: Client
  readonly transport: SdkTransport
  readonly server: ServerConfig
  /** The server's timeout, unless a call says otherwise. */
  readonly timeoutMs: number
  /** Whether the connection is already known to be gone. */
  readonly isLost: () => boolean
  /** A failure that may mean the server is gone: the connection checks with a ping. */
  readonly onTransportError: () => void
}

/**
 * Calls a tool. A JSON-RPC error from the server is the tool's own failure (an
 * `isError` result the model can act on); a timeout, a lost connection or a missing
 * authorization is a `ToolCallError`.
 */
export const callTool = (
  context: CallContext,
  tool: string,
  args: Readonly<Record<string, unknown>>,
  callOptions?: CallOptions
): Effect.Effect<CallToolResult, ToolCallError> => {
  const { client, transport, server } = context
  const name = server.name
  const ms = callOptions?.timeoutMs ?? context.timeoutMs
  const fail = (reason: ToolCallError["reason"], message: string) =>
    new ToolCallError({
      server: name,
      tool,
      reason,
      message: `server "${name}", tool "${tool}": ${message}`
    })
  const request = (trace: Readonly<Record<string, string>> | undefined) =>
    Effect.tryPromise({
      // The signal aborts when the caller is interrupted, and the SDK then sends
      // notifications/cancelled (MCP 2025-11-25 "Utilities › Cancellation"), as on its own timeout.
      try: (signal): Promise<CallToolResult> =>
        TraceHeaders.run(trace, () =>
          client.request(
            { method: "tools/call", params: { name: tool, arguments: { ...args } } },
            CallToolResultSchema,
            { signal, timeout: ms } satisfies RequestOptions
          )
        ),
      catch: (error) => error
    })
  return Effect.flatMap(TraceContext.currentHeaders, request).pipe(
    // No Effect timeout on top: the SDK's `timeout` fails the request with RequestTimeout and
    // cancels it at the server; a second timer per call measurably slowed every call (bench/).
    Effect.catch((error): Effect.Effect<CallToolResult, ToolCallError> => {
      if (error instanceof McpError) {
        if (error.code === ErrorCode.RequestTimeout) {
          return Effect.fail(fail("timeout", `no answer within ${seconds(ms)}; the request was cancelled`))
        }
        if (error.code === ErrorCode.ConnectionClosed) {
          const exit = exitSummary(transport)
          return Effect.fail(
            fail(
              "disconnected",
              `the connection closed during the call${exit === undefined ? "" : ` (${exit})`}`
            )
          )
        }
        // A JSON-RPC error from the server (unknown tool, invalid arguments …) is the
        // tool's failure: the model sees it and can correct itself.
        return Effect.succeed({ content: [{ type: "text", text: error.message }], isError: true })
      }
      context.onTransportError()
      const status = httpStatusOf(error)
      if ((status === 401 || status === 403) && server.auth !== undefined) {
        return Effect.fail(
          fail("needs_auth", `HTTP ${status}: authorization needed; run \`mcpgate login ${name}\``)
        )
      }
      if (Predicate.isTagged(error, "AuthorizationRequired")) {
        return Effect.fail(fail("needs_auth", errorText(error)))
      }
      // The credential store is out of reach for now: the server is as good as disconnected until it returns.
      if (
        Predicate.isTagged(error, "OAuthError") &&
        Predicate.hasProperty(error, "retryable") &&
        error.retryable === true
      ) {
        return Effect.fail(fail("disconnected", errorText(error)))
      }
      return Effect.fail(fail(context.isLost() ? "disconnected" : "transport", errorText(error)))
    })
  )
}

/**
 * Any other request (`resources/read`, `prompts/get` …), answered as the server
 * answered it. A JSON-RPC error keeps the server's code and message.
 */
export const request = (
  context: CallContext,
  method: string,
  params: Readonly<Record<string, unknown>>
): Effect.Effect<Result, McpRequestFailed> =>
  Effect.tryPromise({
    try: (signal) =>
      context.client.request({ method, params: { ...params } }, ResultSchema, {
        signal,
        timeout: context.timeoutMs
      }),
    catch: (error) => {
      if (!(error instanceof McpError)) context.onTransportError()
      return new McpRequestFailed({
        server: context.server.name,
        method,
        code: error instanceof McpError ? error.code : undefined,
        message: `server "${context.server.name}": ${method} failed: ${errorText(error)}`
      })
    }
  })
