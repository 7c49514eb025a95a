/**
 * The tools a model is offered and run by the gateway: the seam between the
 * tool loop and whatever runs them.
 *
 * `ToolLoop` needs only this: the tools to offer the model (names already
 * model-safe, docs/connections.md#tool-names) and a way to call one.
 * `ModelTools.layerMcp` serves them from the `McpClientManager`, the path a
 * model's tool call takes (docs/architecture.md#tool-call-from-a-model); tests
 * give plain async functions.
 */
import type { ToolCallError } from "@mcpgate/transport/Errors"
import { type AggregatedTool, McpClientManager } from "@mcpgate/transport/McpClientManager"
import type { NormalizedToolResult } from "@mcpgate/transport/ToolResult"
import { Context, Effect, Layer, Schema } from "effect"
import { isJsonObject } from "./ChatFormat.ts"

/** A tool as the model is told about it (OpenAI `function` form, before wrapping). */
export interface ToolDefinition {
  /** The public name, `^[a-zA-Z0-9_-]{1,64}$` (docs/connections.md#tool-names). */
  readonly name: string
  /** The configured server it comes from (`builtin` for the gateway's own tools). */
  readonly server: string
  /** The server's own name for it (what `allowed_tools` and `mcp_call` items name). */
  readonly tool: string
  readonly description?: string | undefined
  /** A JSON Schema object for the arguments. */
  readonly parameters: Readonly<Record<string, unknown>>
  /** The server's MCP annotations (`readOnlyHint` …), if any. */
  readonly annotations?: Readonly<Record<string, unknown>> | undefined
}

/** A tool's own answer: `isError` is the server's flag, `text` its words (docs/connections.md#results). */
export interface ToolOutcome {
  readonly text: string
  readonly isError: boolean
  readonly structuredContent?: unknown
}

/** The model named a tool that is not (or no longer) offered. */
export class ToolNotFound extends Schema.TaggedError<ToolNotFound>()("ToolNotFound", {
  name: Schema.String,
  message: Schema.String
}) {}

/** The tool's server needs an OAuth login before it can be called. */
export class ToolNeedsLogin extends Schema.TaggedError<ToolNeedsLogin>()("ToolNeedsLogin", {
  name: Schema.String,
  /** The configured server name, as `mcpgate login <server>` expects it. */
  server: Schema.String,
  message: Schema.String
}) {}

/** The call could not be carried out (timeout, disconnected, transport): not the tool's own `isError`. */
export class ToolCallFailed extends Schema.TaggedError<ToolCallFailed>()("ToolCallFailed", {
  name: Schema.String,
  message: Schema.String
}) {}

export type ModelToolError = ToolNotFound | ToolNeedsLogin | ToolCallFailed

export interface ModelToolsShape {
  /** The tools to offer, read once per chat request. */
  readonly tools: Effect.Effect<ReadonlyArray<ToolDefinition>>
  /** The configured server names a request may pick (`server_label`), `builtin` included. */
  readonly servers: Effect.Effect<ReadonlyArray<string>>
  /**
   * Calls one tool. Interruption (the client went away) must stop the call:
   * implementations pass it on (an `AbortSignal`, a `notifications/cancelled`).
   */
  readonly call: (name: string, args: unknown) => Effect.Effect<ToolOutcome, ModelToolError>
}

/** The `server_label` of the gateway's own tools (`builtin__fetch` …). */
export const builtinLabel = "builtin"

export const asArguments = (args: unknown): Readonly<Record<string, unknown>> =>
  isJsonObject(args) ? args : {}

/** A manager's tool as the model is told about it. */
export const definitionOf = ({ publicName, server, tool }: AggregatedTool): ToolDefinition => ({
  name: publicName,
  server,
  tool: tool.name,
  description: tool.description,
  parameters: tool.inputSchema,
  annotations: tool.annotations
})

/** A manager's result as the model gets it. */
export const outcomeOf = (result: NormalizedToolResult): ToolOutcome => ({
  text: result.text,
  isError: result.isError,
  ...(result.structuredContent === undefined ? {} : { structuredContent: result.structuredContent })
})

/** Why a manager's call did not run, as the tool loop tells it apart. */
export const modelToolError = (name: string, error: ToolCallError): ModelToolError => {
  switch (error.reason) {
    case "unknown_tool":
      return new ToolNotFound({ name, message: error.message })
    case "needs_auth":
      return new ToolNeedsLogin({ name, server: error.server, message: error.message })
    default:
      return new ToolCallFailed({ name, message: error.message })
  }
}

/** The tools of the MCP servers (and the builtins), called through the manager. */
const makeMcp = Effect.map(McpClientManager, (manager) =>
  ModelTools.of({
    tools: Effect.map(manager.tools, (tools) => tools.map(definitionOf)),
    servers: Effect.map(manager.status, (statuses) => [
      ...statuses.map((status) => status.name).filter((name) => name !== builtinLabel),
      builtinLabel
    ]),
    call: (name, args) =>
      manager.call(name, asArguments(args)).pipe(
        Effect.map(outcomeOf),
        Effect.mapError((error) => modelToolError(name, error))
      )
  })
)

export class ModelTools extends Context.Service<ModelTools, ModelToolsShape>()("@mcpgate/server/ModelTools") {
  /** The MCP servers' tools and the builtins, from the `McpClientManager`. */
  static readonly layerMcp: Layer.Layer<ModelTools, never, McpClientManager> = Layer.effect(
    ModelTools,
    makeMcp
  )

  /** No tools at all: `execute_mcp_tools` then behaves like a plain completion. */
  static readonly layerEmpty: Layer.Layer<ModelTools> = Layer.succeed(ModelTools)(
    ModelTools.of({
      tools: Effect.succeed([]),
      servers: Effect.succeed([builtinLabel]),
      call: (name) => Effect.fail(new ToolNotFound({ name, message: `no MCP tool is named ${name}` }))
    })
  )
}
