/**
 * Which MCP tools one request gets (docs/gateway.md#mcp-tools-per-request):
 * `"execute_mcp_tools": true` means all of them; OpenAI's own hosted-MCP tool
 * shape in `tools`, `{"type": "mcp", "server_label", "allowed_tools",
 * "require_approval": "never"}`, names configured servers (`builtin` for the
 * gateway's own tools), the same on chat completions and on the Responses API.
 *
 * The gateway runs only the servers in its config and never asks before a
 * call, so a `server_url` (or a connector), credentials for the server, or an
 * approval mode other than `"never"` are refused with a 400 saying why rather
 * than half honoured.
 */
import { Predicate, Result, Schema } from "effect"
import { isJsonObject } from "./ChatFormat.ts"
import type { ToolDefinition } from "./ModelTools.ts"

/** A request's tools ask for something the gateway does not do (a 400). */
export class InvalidToolRequest extends Schema.TaggedError<InvalidToolRequest>()("InvalidToolRequest", {
  code: Schema.String,
  message: Schema.String
}) {}

interface ServerPick {
  readonly label: string
  /** The server's own tool names; `undefined` for all. */
  readonly allowed: ReadonlySet<string> | undefined
  /** Only tools that declare `readOnlyHint`. */
  readonly readOnly: boolean
}

/** What a request asks for: all tools, some servers' tools, or none; and its other tools. */
export interface McpRequest {
  readonly picks: "all" | ReadonlyArray<ServerPick>
  /** `tools` without the `mcp` entries (what goes upstream). */
  readonly otherTools: ReadonlyArray<unknown>
}

const isMcpTool = (tool: unknown) => isJsonObject(tool) && tool.type === "mcp"

/** Whether a request's `tools` has any `mcp` entry. */
export const hasMcpTools = (tools: unknown): boolean => Array.isArray(tools) && tools.some(isMcpTool)

const invalid = (code: string, message: string) => Result.fail(new InvalidToolRequest({ code, message }))

const stringList = (value: unknown): ReadonlyArray<string> | undefined =>
  Array.isArray(value) && value.every(Predicate.isString) ? value : undefined

const parsePick = (tool: Record<string, unknown>): Result.Result<ServerPick, InvalidToolRequest> => {
  const label = tool.server_label
  if (!Predicate.isString(label) || label.length === 0) {
    return invalid(
      "invalid_mcp_tool",
      'an "mcp" tool needs "server_label": the name of a configured MCP server'
    )
  }
  const named = `the "mcp" tool "${label}"`
  for (const field of ["server_url", "connector_id"] as const) {
    if (tool[field] !== undefined && tool[field] !== null) {
      return invalid(
        "mcp_server_url_unsupported",
        `${named} has "${field}": the gateway runs only the MCP servers in its config; name one with "server_label" alone`
      )
    }
  }
  for (const field of ["authorization", "headers"] as const) {
    if (tool[field] !== undefined && tool[field] !== null) {
      return invalid(
        "mcp_credentials_unsupported",
        `${named} has "${field}": the gateway signs in to its MCP servers itself (mcpgate login ${label}); remove it`
      )
    }
  }
  const approval = tool.require_approval
  if (approval !== undefined && approval !== null && approval !== "never") {
    return invalid(
      "mcp_approval_unsupported",
      `${named} has "require_approval": ${JSON.stringify(approval)}, but the gateway runs MCP calls without asking; use "never"`
    )
  }
  const allowed = tool.allowed_tools
  if (allowed === undefined || allowed === null)
    return Result.succeed({ label, allowed: undefined, readOnly: false })
  const names = stringList(allowed)
  if (names !== undefined) return Result.succeed({ label, allowed: new Set(names), readOnly: false })
  if (isJsonObject(allowed)) {
    const toolNames = allowed.tool_names === undefined ? undefined : stringList(allowed.tool_names)
    const readOnly = allowed.read_only
    if (
      (allowed.tool_names === undefined || toolNames !== undefined) &&
      (readOnly === undefined || Predicate.isBoolean(readOnly))
    ) {
      return Result.succeed({
        label,
        allowed: toolNames === undefined ? undefined : new Set(toolNames),
        readOnly: readOnly === true
      })
    }
  }
  return invalid(
    "invalid_mcp_tool",
    `${named} has an invalid "allowed_tools": a list of tool names, or {"tool_names": [...], "read_only": true|false}`
  )
}

/** Reads the `mcp` entries of `tools` (format only; `select` checks them against the config). */
export const parse = (tools: unknown, executeAll: boolean): Result.Result<McpRequest, InvalidToolRequest> => {
  const all: ReadonlyArray<unknown> = Array.isArray(tools) ? tools : []
  const otherTools = all.filter((tool) => !isMcpTool(tool))
  const picks: Array<ServerPick> = []
  for (const tool of all) {
    if (!isMcpTool(tool) || !isJsonObject(tool)) continue
    const pick = parsePick(tool)
    if (Result.isFailure(pick)) return Result.fail(pick.failure)
    picks.push(pick.success)
  }
  return Result.succeed({ picks: executeAll ? "all" : picks, otherTools })
}

const merge = (a: ServerPick, b: ServerPick): ServerPick => ({
  label: a.label,
  allowed:
    a.allowed === undefined || b.allowed === undefined ? undefined : new Set([...a.allowed, ...b.allowed]),
  readOnly: a.readOnly && b.readOnly
})

/**
 * The tools a request gets. A label that is not a configured server, or an
 * allowed tool its (connected) server does not have, is an `InvalidToolRequest`.
 */
export const select = (
  request: McpRequest,
  tools: ReadonlyArray<ToolDefinition>,
  servers: ReadonlyArray<string>
): Result.Result<ReadonlyArray<ToolDefinition>, InvalidToolRequest> => {
  if (request.picks === "all") return Result.succeed(tools)
  const byLabel = new Map<string, ServerPick>()
  for (const pick of request.picks) {
    if (!servers.includes(pick.label)) {
      return invalid(
        "mcp_server_not_found",
        `no MCP server named "${pick.label}" is configured (configured: ${servers.join(", ") || "none"})`
      )
    }
    const known = byLabel.get(pick.label)
    byLabel.set(pick.label, known === undefined ? pick : merge(known, pick))
  }
  for (const pick of byLabel.values()) {
    const own = tools.filter((tool) => tool.server === pick.label)
    const missing = [...(pick.allowed ?? [])].filter((name) => !own.some((tool) => tool.tool === name))
    // A server that is not connected lists no tools: its names cannot be checked yet.
    if (own.length > 0 && missing.length > 0) {
      return invalid(
        "mcp_tool_not_found",
        `the MCP server "${pick.label}" has no tool named ${missing.map((name) => `"${name}"`).join(", ")} (it has: ${own.map((tool) => tool.tool).join(", ")})`
      )
    }
  }
  return Result.succeed(
    tools.filter((tool) => {
      const pick = byLabel.get(tool.server)
      if (pick === undefined) return false
      if (pick.allowed !== undefined && !pick.allowed.has(tool.tool)) return false
      return !pick.readOnly || tool.annotations?.readOnlyHint === true
    })
  )
}
