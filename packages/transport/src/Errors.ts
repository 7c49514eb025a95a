import { Schema } from "effect"

/** A tool call that could not be carried out (transport, timeout, unknown tool): not a tool's own `isError`. */
export class ToolCallError extends Schema.TaggedError<ToolCallError>()("ToolCallError", {
  server: Schema.String,
  tool: Schema.String,
  reason: Schema.Literals(["timeout", "disconnected", "unknown_tool", "transport", "needs_auth"]),
  message: Schema.String
}) {}
