/**
 * MCP servers with made-up tool lists, for the tool-name fuzz: one HTTP listener
 * on 127.0.0.1 hosting a server per path (`/<n>/mcp`, stateless streamable
 * HTTP). Calling any tool answers `{"server": <n>, "tool": <name>}`, so a test
 * can tell which server and which tool a public name reached.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"

export interface FaultToolServer {
  /** `http://127.0.0.1:<port>/<index>/mcp` for each tool list given. */
  readonly urls: ReadonlyArray<string>
  readonly close: () => Promise<void>
}

export const start = async (toolLists: ReadonlyArray<ReadonlyArray<string>>): Promise<FaultToolServer> => {
  const server = http.createServer((req, res) => {
    const match = /^\/(\d+)\/mcp$/.exec(new URL(req.url ?? "/", "http://x").pathname)
    const index = Number(match?.[1] ?? -1)
    const names = toolLists[index]
    if (names === undefined) {
      res.writeHead(404).end()
      return
    }
    const mcp = new Server({ name: `fuzz-${index}`, version: "1.0.0" }, { capabilities: { tools: {} } })
    mcp.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: names.map((name) => ({ name, inputSchema: { type: "object" as const } }))
    }))
    mcp.setRequestHandler(CallToolRequestSchema, async (request) => ({
      content: [{ type: "text", text: JSON.stringify({ server: index, tool: request.params.name }) }]
    }))
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
    res.on("close", () => {
      void transport.close()
      void mcp.close()
    })
    mcp
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    urls: toolLists.map((_, index) => `http://127.0.0.1:${port}/${index}/mcp`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
