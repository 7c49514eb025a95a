/**
 * Child process: the floor for `POST /v1/mcp/execute` in Node, to tell what any
 * such route pays on this machine from what the gateway's own code adds. A bare
 * `node:http` server whose one route reads `{tool_name, arguments}`, calls the
 * tool with the SDK client held open on the MCP server (the same client, SDK build
 * and transport the direct baseline uses, on Node's `fetch`) and answers its text
 * as JSON. No routing, auth, metrics or error handling worth the name.
 * argv[2] is the MCP server's URL; ready line `{"url": "http://127.0.0.1:<port>"}`.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { announceReady } from "./Child.ts"
import { directClient, firstText } from "./McpClients.ts"

const client = await directClient(process.argv[2] ?? "http://127.0.0.1:1/mcp")

const server = Http.createServer((req, res) => {
  const parts: Array<Buffer> = []
  req.on("data", (part: Buffer) => parts.push(part))
  req.on("end", () => {
    const { tool_name, arguments: args } = JSON.parse(Buffer.concat(parts).toString("utf8")) as {
      readonly tool_name: string
      readonly arguments: Record<string, unknown>
    }
    client.callTool({ name: tool_name, arguments: args }).then(
      (result) => {
        // The gateway's answer, cut to what the benchmark reads: the text of the result.
        const body = JSON.stringify({ content: firstText(result), is_error: result.isError === true })
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
        res.end(body)
      },
      () => {
        res.writeHead(502)
        res.end()
      }
    )
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  announceReady({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
})
