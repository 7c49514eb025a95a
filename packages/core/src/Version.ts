/**
 * The version every mcpgate package publishes, for what the gateway says of
 * itself on the wire (MCP `clientInfo` / `serverInfo`). A constant because the
 * packages compile `src/` alone (no `package.json` import); a test keeps it equal
 * to every package's manifest.
 */
export const version = "0.2.0"
