/**
 * The MCP SDK the product uses, by path: bench/ sits at the workspace root, where
 * `@modelcontextprotocol/sdk` does not resolve, and loading the transport package's
 * own copy keeps baseline and candidate on the very same SDK build.
 */
export { Client } from "../../packages/transport/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js"
export { StdioClientTransport } from "../../packages/transport/node_modules/@modelcontextprotocol/sdk/dist/esm/client/stdio.js"
export { StreamableHTTPClientTransport } from "../../packages/transport/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js"
