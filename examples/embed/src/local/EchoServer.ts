/**
 * A stdio MCP server with one tool, `echo {text}`. Part 1 starts it as a child
 * process of the client manager: `node src/local/EchoServer.ts`.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"

const server = new Server({ name: "echo", version: "1.0.0" }, { capabilities: { tools: {} } })

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    {
      name: "echo",
      description: "Says the text back",
      inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }
    }
  ]
}))

server.setRequestHandler(CallToolRequestSchema, async (request) => ({
  content: [{ type: "text", text: `echo: ${String(request.params.arguments?.text ?? "")}` }]
}))

await server.connect(new StdioServerTransport())
