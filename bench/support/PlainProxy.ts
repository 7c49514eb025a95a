/**
 * Child process: the floor for a pass-through hop in Node, to tell the price of any
 * proxy on this machine from the price of the gateway's own code. A bare
 * `node:http` server that reads the body, `JSON.parse`s it (the gateway must too,
 * to look for `execute_mcp_tools`), forwards it with a keep-alive agent and pipes
 * the answer back. No validation, no header filtering, no error handling worth the
 * name: a baseline, not a product. argv[2] is the upstream base URL
 * (`http://127.0.0.1:<port>/v1`); ready line `{"url": "http://127.0.0.1:<port>"}`.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { announceReady } from "./Child.ts"

const upstream = new URL(process.argv[2] ?? "http://127.0.0.1:1/v1")
const agent = new Http.Agent({ keepAlive: true, maxSockets: 256 })

const server = Http.createServer((req, res) => {
  const parts: Array<Buffer> = []
  req.on("data", (part: Buffer) => parts.push(part))
  req.on("end", () => {
    const body = Buffer.concat(parts)
    JSON.parse(body.toString("utf8"))
    const path = `${upstream.pathname}${(req.url ?? "/").replace(/^\/v1/, "")}`
    const outgoing = Http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        agent,
        headers: { "content-type": "application/json", "content-length": String(body.length) }
      },
      (answer) => {
        const headers = { ...answer.headers }
        delete headers.connection
        delete headers["keep-alive"]
        delete headers["transfer-encoding"]
        res.writeHead(answer.statusCode ?? 502, headers)
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
