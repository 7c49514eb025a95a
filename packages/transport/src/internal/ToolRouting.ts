/**
 * The tools of the connected servers and the builtin provider under their public
 * names (`ToolNames`), and calls routed by that table, never by splitting a name.
 * Tools of servers that are away stay in the table, so names do not shift while
 * they reconnect and a call to one says "disconnected" rather than "unknown".
 */
import * as Metrics from "@mcpgate/core/Metrics"
import * as ToolNames from "@mcpgate/core/ToolNames"
import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"
import { ToolCallError } from "../Errors.ts"
import type { AggregatedTool } from "../McpClientManager.ts"
import type { CallOptions } from "../ToolProvider.ts"
import { normalize } from "../ToolResult.ts"
import { type Aggregate, type Entry, filteredTools, isReserved, type ManagerState } from "./ManagerState.ts"

const buildAggregate = (state: ManagerState) =>
  Effect.gen(function* () {
    const { builtin, entries } = state
    const refs: Array<ToolNames.ToolRef> = []
    const byServer = new Map<string, Map<string, Tool>>()
    for (const entry of entries.values()) {
      if (entry.state === "disabled" || isReserved(state, entry)) continue
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
    const table = ToolNames.make(refs)
    const list: Array<AggregatedTool> = []
    for (const [publicName, ref] of table.entries) {
      const live = ref.server === builtin?.name || entries.get(ref.server)?.connection !== undefined
      const tool = byServer.get(ref.server)?.get(ref.tool)
      if (live && tool !== undefined) list.push({ publicName, server: ref.server, tool })
    }
    return { table, list } satisfies Aggregate
  })

/** The table, built again after a change (and kept only when nothing changed meanwhile). */
export const currentAggregate = (state: ManagerState): Effect.Effect<Aggregate> =>
  Effect.suspend(() => {
    if (state.aggregate !== undefined) return Effect.succeed(state.aggregate)
    const seen = state.changeCount
    return buildAggregate(state).pipe(
      Effect.tap((built) =>
        Effect.sync(() => {
          if (seen === state.changeCount) state.aggregate = built
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

/** Calls a tool by its public name on the server (or builtin provider) the table says. */
export const routeCall = (
  state: ManagerState,
  publicName: string,
  args: Readonly<Record<string, unknown>>,
  callOptions?: CallOptions
) =>
  Effect.gen(function* () {
    const { table } = yield* currentAggregate(state)
    const ref = table.resolve(publicName)
    if (ref === undefined) {
      // Counted without the name: a caller's guess must not grow the label set.
      yield* Metrics.increment(Metrics.toolCalls, { server: "", tool: "", outcome: "unknown_tool" })
      return yield* new ToolCallError({
        server: "",
        tool: publicName,
        reason: "unknown_tool",
        message: `unknown tool "${publicName}"`
      })
    }
    const call = Metrics.measured(
      callRef(state, ref, publicName, args, callOptions),
      Metrics.toolCalls,
      Metrics.toolCallDuration,
      (exit) => ({
        server: ref.server,
        tool: ref.tool,
        outcome:
          exit._tag === "Success" && exit.value.isError
            ? "tool_error"
            : Metrics.outcomeOf(exit, (error) => error.reason)
      })
    )
    return yield* call.pipe(
      Effect.tap((result) =>
        result.isError ? Effect.annotateCurrentSpan("error.type", "tool_error") : Effect.void
      ),
      // OpenTelemetry semantic conventions for MCP (`{mcp.method.name} {target}`) and GenAI tools.
      Effect.withSpan(`tools/call ${ref.tool}`, {
        kind: "client",
        attributes: {
          "mcp.method.name": "tools/call",
          "gen_ai.operation.name": "execute_tool",
          "gen_ai.tool.name": ref.tool,
          "mcpgate.mcp.server": ref.server
        }
      })
    )
  })

const callRef = (
  state: ManagerState,
  ref: ToolNames.ToolRef,
  publicName: string,
  args: Readonly<Record<string, unknown>>,
  callOptions?: CallOptions
) =>
  Effect.gen(function* () {
    const builtin = state.builtin
    if (builtin !== undefined && ref.server === builtin.name) {
      return normalize(yield* builtin.callTool(ref.tool, args, callOptions))
    }
    const entry = state.entries.get(ref.server)
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
