/**
 * The seam between the tool loop and whatever runs MCP tools.
 *
 * `ToolLoop` needs only this: the tools to offer the model (names already
 * model-safe, SPEC §4) and a way to call one. The server composition adapts
 * `McpClientManager` to it; tests give it plain async functions.
 */
import { Context, Effect, Layer, Schema } from "effect"

/** A tool as the model is told about it (OpenAI `function` form, before wrapping). */
export interface ToolDefinition {
  /** The public name, `^[a-zA-Z0-9_-]{1,64}$` (SPEC §4). */
  readonly name: string
  readonly description?: string
  /** A JSON Schema object for the arguments. */
  readonly parameters: Readonly<Record<string, unknown>>
}

/** A tool's own answer: `isError` is the server's flag, `text` its words (SPEC §4). */
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

export type ToolExecutorError = ToolNotFound | ToolNeedsLogin | ToolCallFailed

export interface ToolExecutorShape {
  /** The tools to offer, read once per chat request. */
  readonly tools: Effect.Effect<ReadonlyArray<ToolDefinition>>
  /**
   * Calls one tool. Interruption (the client went away) must stop the call:
   * implementations pass it on (an `AbortSignal`, a `notifications/cancelled`).
   */
  readonly call: (name: string, args: unknown) => Effect.Effect<ToolOutcome, ToolExecutorError>
}

export class ToolExecutor extends Context.Service<ToolExecutor, ToolExecutorShape>()(
  "@mcpgate/server/ToolExecutor"
) {
  /** No tools at all: `execute_mcp_tools` then behaves like a plain completion. */
  static readonly layerEmpty: Layer.Layer<ToolExecutor> = Layer.succeed(ToolExecutor)(
    ToolExecutor.of({
      tools: Effect.succeed([]),
      call: (name) => Effect.fail(new ToolNotFound({ name, message: `no MCP tool is named ${name}` }))
    })
  )
}
