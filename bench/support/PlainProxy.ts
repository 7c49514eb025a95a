/**
 * Child process: the floor for a pass-through hop in Node, to tell the price of any
 * proxy on this machine from the price of the gateway's own code. A bare
 * `node:http` server that reads the body, `JSON.parse`s it (the gateway must too:
 * to look for `execute_mcp_tools` in a chat request, to route a JSON-RPC message),
 * forwards it with the client's headers on a keep-alive agent to the same path on
 * the upstream's origin, and pipes the answer back. No validation, no header
 * filtering beyond hop-by-hop, no error handling worth the name: a baseline, not a
 * product. It serves the chat rows (upstream `http://127.0.0.1:<port>/v1`) and the
 * `/mcp` rows (an MCP server's `http://127.0.0.1:<port>/mcp`: session headers, the
 * GET event stream and DELETE pass as they are).
 * argv[2] is the upstream URL; ready line `{"url": "http://127.0.0.1:<port>"}`.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { announceReady } from "./Child.ts"

const upstream = new URL(process.argv[2] ?? "http://127.0.0.1:1/v1")
const agent = new Http.Agent({ keepAlive: true, maxSockets: 256 })
const hopByHop = new Set(["host", "connection", "keep-alive", "transfer-encoding", "content-length"])

const server = Http.createServer((req, res) => {
  const parts: Array<Buffer> = []
  req.on("data", (part: Buffer) => parts.push(part))
  req.on("end", () => {
    const body = Buffer.concat(parts)
    if (body.length > 0) JSON.parse(body.toString("utf8"))
    const headers: Http.OutgoingHttpHeaders = { "content-length": String(body.length) }
    for (const [name, value] of Object.entries(req.headers)) if (!hopByHop.has(name)) headers[name] = value
    const outgoing = Http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, agent, headers },
      (answer) => {
        const back = { ...answer.headers }
        delete back.connection
        delete back["keep-alive"]
        delete back["transfer-encoding"]
        res.writeHead(answer.statusCode ?? 502, back)
        answer.pipe(res)
      }
    )
    outgoing.on("error", () => res.destroy())
    outgoing.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  announceReady({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
})
