/**
 * In-process MCP servers over HTTP for the transport tests, on 127.0.0.1 only.
 *
 * One node HTTP server hosts any number of MCP servers under path prefixes
 * (`""`, `/s1`, …). Each prefix answers streamable HTTP at `<prefix>/mcp` and the
 * old HTTP+SSE transport at `<prefix>/sse` (GET) + `<prefix>/messages` (POST). Every
 * session gets its own low-level SDK `Server` over the prefix's shared tool list.
 */
import { randomUUID } from "node:crypto"
import {
  createServer,
  type IncomingMessage,
  type Server as NodeHttpServer,
  type ServerResponse
} from "node:http"
import type { Socket } from "node:net"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
  type Tool
} from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"

export interface HttpTestServerOptions {
  /** Bind this port (to come back on the same one after a restart); default: any free port. */
  readonly port?: number
  /** When set, every request must carry `Authorization: Bearer <bearer>` (else 401). */
  readonly bearer?: string
  /** The MCP servers to host, by path prefix (default: one at ""). */
  readonly prefixes?: ReadonlyArray<string>
  /** The initial tools of a prefix (default: `echo` and `slow`). */
  readonly makeTools?: (prefix: string) => Array<Tool>
  /** Page `tools/list` with cursors, this many tools per page (default: no paging). */
  readonly pageSize?: number
  /** Serve streamable HTTP at `<prefix>/mcp` (default true). */
  readonly streamable?: boolean
  /** Serve HTTP+SSE at `<prefix>/sse` (default true). */
  readonly sse?: boolean
  /** Called whenever a client's `ping` is answered. */
  readonly onPing?: () => void
  /** Sees every request as it arrives (its headers, e.g. `traceparent`). */
  readonly onRequest?: (request: IncomingMessage) => void
}

export interface HttpTestServer {
  readonly port: number
  /** `http://127.0.0.1:<port><prefix>` */
  readonly base: (prefix?: string) => string
  /** How many MCP sessions were initialized, per prefix. */
  readonly sessions: (prefix?: string) => number
  /** Sessions currently open, per prefix. */
  readonly openSessions: (prefix?: string) => number
  /** Adds a tool to a prefix and sends notifications/tools/list_changed to its sessions. */
  readonly addTool: (prefix: string, tool: Tool) => Promise<void>
  /** Closes the listener and every connection. */
  readonly close: () => Promise<void>
}

export const defaultTools = (): Array<Tool> => [
  {
    name: "echo",
    description: "Echoes its text",
    inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }
  },
  {
    name: "slow",
    description: "Answers after `ms` ms",
    inputSchema: { type: "object", properties: { ms: { type: "number" } } }
  },
  { name: "whoami", description: "Says which prefix answered", inputSchema: { type: "object" } }
]

interface Host {
  readonly tools: Array<Tool>
  readonly servers: Set<Server>
  readonly streamable: Map<string, StreamableHTTPServerTransport>
  readonly sse: Map<string, SSEServerTransport>
  initialized: number
}

const listen = (server: NodeHttpServer, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : port)
    })
  })

export const startHttpTestServer = async (options: HttpTestServerOptions = {}): Promise<HttpTestServer> => {
  const prefixes = options.prefixes ?? [""]
  const hosts = new Map<string, Host>()
  for (const prefix of prefixes) {
    hosts.set(prefix, {
      tools: options.makeTools?.(prefix) ?? defaultTools(),
      servers: new Set(),
      streamable: new Map(),
      sse: new Map(),
      initialized: 0
    })
  }

  const makeServer = (prefix: string, host: Host): Server => {
    const server = new Server(
      { name: `http-test${prefix}`, version: "1.0.0" },
      { capabilities: { tools: { listChanged: true } } }
    )
    server.setRequestHandler(PingRequestSchema, async () => {
      options.onPing?.()
      return {}
    })
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      const pageSize = options.pageSize
      if (pageSize === undefined) return { tools: host.tools }
      const offset = Number(request.params?.cursor ?? "0")
      const page = host.tools.slice(offset, offset + pageSize)
      const next = offset + pageSize
      return next < host.tools.length ? { tools: page, nextCursor: String(next) } : { tools: page }
    })
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const args = request.params.arguments ?? {}
      switch (request.params.name) {
        case "echo":
          return { content: [{ type: "text", text: String(args.text) }] }
        case "whoami":
          return { content: [{ type: "text", text: prefix === "" ? "/" : prefix }] }
        case "slow": {
          const ms = Number(args.ms ?? 60_000)
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms)
            extra.signal.addEventListener("abort", () => {
              clearTimeout(timer)
              resolve()
            })
          })
          return { content: [{ type: "text", text: `slept ${ms} ms` }] }
        }
        default:
          if (host.tools.some((tool) => tool.name === request.params.name)) {
            return { content: [{ type: "text", text: `called ${request.params.name}` }] }
          }
          throw new Error(`no tool named ${request.params.name}`)
      }
    })
    host.servers.add(server)
    server.onclose = () => host.servers.delete(server)
    return server
  }

  const authorized = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (options.bearer === undefined || req.headers.authorization === `Bearer ${options.bearer}`) return true
    res.writeHead(401, { "content-type": "application/json", "www-authenticate": "Bearer" })
    res.end(JSON.stringify({ error: "unauthorized" }))
    return false
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const slash = url.pathname.lastIndexOf("/")
    const prefix = url.pathname.slice(0, slash)
    const leaf = url.pathname.slice(slash)
    const host = hosts.get(prefix)
    if (host === undefined) {
      res.writeHead(404).end()
      return
    }
    if (!authorized(req, res)) return
    if (leaf === "/mcp" && options.streamable !== false) {
      const sessionId = req.headers["mcp-session-id"]
      if (typeof sessionId === "string") {
        const transport = host.streamable.get(sessionId)
        if (transport === undefined) {
          res.writeHead(404, { "content-type": "application/json" })
          res.end(
            JSON.stringify({
              jsonrpc: "2.0",
              error: { code: -32001, message: "Session not found" },
              id: null
            })
          )
          return
        }
        await transport.handleRequest(req, res)
        return
      }
      if (req.method !== "POST") {
        res.writeHead(400).end()
        return
      }
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          host.initialized += 1
          host.streamable.set(id, transport)
        },
        onsessionclosed: (id) => {
          host.streamable.delete(id)
        }
      })
      transport.onclose = () => {
        if (transport.sessionId !== undefined) host.streamable.delete(transport.sessionId)
      }
      await makeServer(prefix, host).connect(transport)
      await transport.handleRequest(req, res)
      return
    }
    if (leaf === "/sse" && options.sse !== false) {
      if (req.method !== "GET") {
        // An old HTTP+SSE server knows nothing of POSTs here.
        res.writeHead(405, { allow: "GET" }).end()
        return
      }
      const transport = new SSEServerTransport(`${prefix}/messages`, res)
      host.sse.set(transport.sessionId, transport)
      transport.onclose = () => host.sse.delete(transport.sessionId)
      host.initialized += 1
      await makeServer(prefix, host).connect(transport)
      return
    }
    if (leaf === "/messages" && options.sse !== false && req.method === "POST") {
      const transport = host.sse.get(url.searchParams.get("sessionId") ?? "")
      if (transport === undefined) {
        res.writeHead(404).end("unknown session")
        return
      }
      await transport.handlePostMessage(req, res)
      return
    }
    res.writeHead(options.streamable === false && leaf === "/mcp" ? 405 : 404).end()
  }

  const sockets = new Set<Socket>()
  const http = createServer((req, res) => {
    options.onRequest?.(req)
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(error))
    })
  })
  http.on("connection", (socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  const port = await listen(http, options.port ?? 0)

  const hostOf = (prefix: string): Host => {
    const host = hosts.get(prefix)
    if (host === undefined) throw new Error(`no prefix ${prefix}`)
    return host
  }

  return {
    port,
    base: (prefix = "") => `http://127.0.0.1:${port}${prefix}`,
    sessions: (prefix = "") => hostOf(prefix).initialized,
    openSessions: (prefix = "") => hostOf(prefix).streamable.size + hostOf(prefix).sse.size,
    addTool: async (prefix, tool) => {
      const host = hostOf(prefix)
      host.tools.push(tool)
      await Promise.all(Array.from(host.servers, (server) => server.sendToolListChanged().catch(() => {})))
    },
    close: async () => {
      for (const host of hosts.values()) {
        for (const server of host.servers) await server.close().catch(() => {})
      }
      await new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })
    }
  }
}

/** An HTTP server that accepts every request and never answers (an `initialize` that hangs). */
export const startSilentHttpServer = async (): Promise<{
  readonly url: string
  readonly close: () => Promise<void>
}> => {
  const sockets = new Set<Socket>()
  const http = createServer(() => {})
  http.on("connection", (socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  const port = await listen(http, 0)
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
  }
}

/** `startHttpTestServer` as a scoped Effect resource. */
export const httpTestServer = (options?: HttpTestServerOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => startHttpTestServer(options)),
    (server) => Effect.promise(() => server.close())
  )

/** `startSilentHttpServer` as a scoped Effect resource. */
export const silentHttpServer = Effect.acquireRelease(
  Effect.promise(() => startSilentHttpServer()),
  (server) => Effect.promise(() => server.close())
)
