/** The errors of the transport package: opening a connection, naming a server, calling a tool. */
import { Schema } from "effect"

/** Why a connection could not be opened. `needs_auth` means the user has to log in. */
export class McpConnectionError extends Schema.TaggedError<McpConnectionError>()("McpConnectionError", {
  server: Schema.String,
  reason: Schema.Literals(["timeout", "needs_auth", "unauthorized", "spawn", "transport", "protocol"]),
  message: Schema.String,
  /** The HTTP status behind the failure, when there was one. */
  status: Schema.optional(Schema.Number),
  /**
   * stdio: the last lines the process wrote to stderr. Kept apart from `message`
   * because it is a detail of the host, for admins only.
   */
  stderr: Schema.optional(Schema.String)
}) {}

/** A tool call that could not be carried out (transport, timeout, unknown tool): not a tool's own `isError`. */
export class ToolCallError extends Schema.TaggedError<ToolCallError>()("ToolCallError", {
  server: Schema.String,
  tool: Schema.String,
  reason: Schema.Literals(["timeout", "disconnected", "unknown_tool", "transport", "needs_auth"]),
  message: Schema.String
}) {}

/** A server name that is not in the config. */
export class ServerNotFound extends Schema.TaggedError<ServerNotFound>()("ServerNotFound", {
  server: Schema.String,
  message: Schema.String
}) {}

/**
 * A request other than `tools/call` (resources, prompts, completions) that did not
 * succeed: `code` is the server's JSON-RPC error code when it answered with one.
 */
export class McpRequestFailed extends Schema.TaggedError<McpRequestFailed>()("McpRequestFailed", {
  server: Schema.String,
  method: Schema.String,
  code: Schema.optional(Schema.Number),
  message: Schema.String
}) {}
