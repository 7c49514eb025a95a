/**
 * `@mcpgate/transport`: MCP client connections as Effect services. Others use
 * `McpClientManager` (every configured server, supervised) over an
 * `AuthorizedFetch` (plain, or OAuth through `@mcpgate/oauth`). Each module is
 * a namespace here and importable on its own (`@mcpgate/transport/McpClientManager`).
 * See README.md.
 */
export * as AuthorizedFetch from "./AuthorizedFetch.ts"
export * as BuiltinTools from "./BuiltinTools.ts"
export type * as ConnectionState from "./ConnectionState.ts"
export * as Errors from "./Errors.ts"
export { ToolCallError } from "./Errors.ts"
export * as McpClientManager from "./McpClientManager.ts"
export * as McpConnection from "./McpConnection.ts"
export type * as ToolProvider from "./ToolProvider.ts"
export * as ToolResult from "./ToolResult.ts"
