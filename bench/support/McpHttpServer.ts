/**
 * Child process: the transport tests' streamable-HTTP MCP server (tools `echo`,
 * `slow`, `whoami`) on 127.0.0.1, ready line `{"url": "http://127.0.0.1:<port>/mcp"}`.
 */
import { startHttpTestServer } from "@mcpgate/testing/HttpTestServer"
import { announceReady } from "./Child.ts"

const server = await startHttpTestServer({ sse: false })
announceReady({ url: `${server.base()}/mcp` })
