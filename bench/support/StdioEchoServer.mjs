/**
 * The smallest stdio MCP server the connect benchmark could use: newline-delimited
 * JSON-RPC by hand, no SDK, and plain JavaScript (a `.ts` child pays ~35 ms more for
 * loading the type stripper), so that a child starts in about a bare `node` start-up
 * and the benchmark measures connecting, not module loading. Tool: `echo {text}`.
 * Exits when its stdin ends (MCP 2025-11-25 "Lifecycle › Shutdown › stdio").
 */
import { createInterface } from "node:readline"

const tools = [
  {
    name: "echo",
    description: "Echoes its text",
    inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }
  }
]

const send = (message) => {
  process.stdout.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`)
}

const answer = (message) => {
  const id = message.id
  if (id === undefined) return // a notification
  switch (message.method) {
    case "initialize":
      return send({
        id,
        result: {
          protocolVersion: message.params?.protocolVersion ?? "2025-06-18",
          capabilities: { tools: {} },
          serverInfo: { name: "bench-stdio-echo", version: "1.0.0" }
        }
      })
    case "tools/list":
      return send({ id, result: { tools } })
    case "tools/call":
      return send({
        id,
        result: { content: [{ type: "text", text: String(message.params?.arguments?.text) }] }
      })
    case "ping":
      return send({ id, result: {} })
    default:
      return send({ id, error: { code: -32601, message: "Method not found" } })
  }
}

const lines = createInterface({ input: process.stdin })
lines.on("line", (line) => {
  if (line.trim() !== "") answer(JSON.parse(line))
})
lines.on("close", () => process.exit(0))
