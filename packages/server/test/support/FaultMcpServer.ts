/**
 * An MCP server over streamable HTTP (the SDK's, with sessions, answering each
 * call as an SSE stream) that a fault test can kill mid-stream and bring back on
 * the same port, and that records when its `slow` tool starts and when a call
 * was cancelled (its abort signal fired: the client went away or said so).
 *
 * Tools: `echo {text}`, `slow {ms}` (answers after `ms`, default 60 s).
 */
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from "@modelcontextprotocol/sdk/types.js"
import { Effect, type Scope } from "effect"

export interface FaultMcpServer {
  /** `http://127.0.0.1:<port>/mcp` */
  readonly url: string
  /** `slow` calls started and cancelled so far. */
  readonly counts: { started: number; cancelled: number }
  /** Resolves once `started` (or `cancelled`) reaches `n`. */
  readonly whenStarted: (n: number) => Promise<void>
  readonly whenCancelled: (n: number) => Promise<void>
  /** Destroys every open connection (streams in flight included) and stops listening. */
  readonly kill: () => Promise<void>
  /** Listens again on the same port. */
  readonly restart: () => Promise<void>
}

const tools: Array<Tool> = [
  {
    name: "echo",
    description: "Echoes its text",
    inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }
  },
  {
    name: "slow",
    description: "Answers after ms milliseconds",
    inputSchema: { type: "object", properties: { ms: { type: "number" } } }
  }
]

const makeMcp = (counts: FaultMcpServer["counts"], notify: () => void) => {
  const mcp = new Server({ name: "fault-test-server", version: "1.0.0" }, { capabilities: { tools: {} } })
  mcp.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }))
  mcp.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const args = request.params.arguments ?? {}
    if (request.params.name === "echo") return { content: [{ type: "text", text: String(args.text) }] }
    if (request.params.name !== "slow") throw new Error(`no tool named ${request.params.name}`)
    const ms = Number(args.ms ?? 60_000)
    counts.started++
    notify()
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      extra.signal.addEventListener("abort", () => {
        clearTimeout(timer)
        counts.cancelled++
        notify()
        resolve()
      })
    })
    return { content: [{ type: "text", text: `slept ${ms} ms` }] }
  })
  return mcp
}

export const start: Effect.Effect<FaultMcpServer, never, Scope.Scope> = Effect.gen(function* () {
  const counts = { started: 0, cancelled: 0 }
  const waiters: Array<() => boolean> = []
  const notify = () => {
    for (const waiter of [...waiters]) if (waiter()) waiters.splice(waiters.indexOf(waiter), 1)
  }
  const waitFor = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      const waiter = () => {
        if (!check()) return false
        resolve()
        return true
      }
      if (!waiter()) waiters.push(waiter)
    })

  // Sessions (not stateless), so that a client's notifications/cancelled reaches the call it names.
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== "/mcp") {
      res.writeHead(404).end()
      return
    }
    const sessionId = req.headers["mcp-session-id"]
    const existing = typeof sessionId === "string" ? sessions.get(sessionId) : undefined
    if (existing !== undefined) return existing.handleRequest(req, res)
    if (sessionId !== undefined || req.method !== "POST") {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(
          JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } })
        )
      return
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport)
      }
    })
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId)
    }
    await makeMcp(counts, notify).connect(transport)
    await transport.handleRequest(req, res)
  }
  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
  const port = yield* Effect.promise(() => listen(0))
  const kill = () =>
    new Promise<void>((resolve) => {
      // A killed process forgets its sessions too.
      for (const transport of sessions.values()) void transport.close()
      sessions.clear()
      if (!server.listening) return resolve()
      server.closeAllConnections()
      server.close(() => resolve())
    })
  yield* Effect.addFinalizer(() => Effect.promise(kill))
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    counts,
    whenStarted: (n) => waitFor(() => counts.started >= n),
    whenCancelled: (n) => waitFor(() => counts.cancelled >= n),
    kill,
    restart: () => listen(port).then(() => undefined)
  }
})
