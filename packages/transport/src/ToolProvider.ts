/**
 * What the client manager aggregates: an MCP server connection, or the builtin
 * tools, both seen through the same small interface.
 */
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js"
import type { Effect } from "effect"
import type { ToolCallError } from "./Errors.ts"

export interface CallOptions {
  /** Milliseconds; the provider's own default applies when absent. */
  readonly timeoutMs?: number
}

export interface ToolProvider {
  /** The server name (`builtin` for the builtin tools). */
  readonly name: string
  /** The provider's tools as MCP describes them (unfiltered, original names). */
  readonly listTools: Effect.Effect<ReadonlyArray<Tool>, ToolCallError>
  /** Calls one tool by its original name. A tool-level failure is an `isError` result, not an error. */
  readonly callTool: (
    tool: string,
    args: Readonly<Record<string, unknown>>,
    options?: CallOptions
  ) => Effect.Effect<CallToolResult, ToolCallError>
}
