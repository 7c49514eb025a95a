/**
 * A real MCP server (the SDK's low-level `Server` over streamable HTTP) on
 * 127.0.0.1 for the `/mcp` endpoint tests, with tools whose results exercise what
 * the gateway must pass through untouched:
 *
 *   add {a, b}       structured content under an output schema, plus text
 *   divide {a, b}    an `isError` result when b is 0
 *   pixel {}         an image block
 *   slow {}          waits until cancelled; `slowStarted` / `slowAborted` tell when
 *
 * `addTool` adds a tool at runtime and sends notifications/tools/list_changed.
 */
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import {
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
  type Tool
} from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"

/** A 1×1 transparent PNG. */
export const pixelPng =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="

export const backendTools = (): Array<Tool> => [
  {
    name: "add",
    title: "Add two numbers",
    description: "Adds a and b",
    inputSchema: {
      type: "object",
      properties: { a: { type: "number" }, b: { type: "number" } },
      required: ["a", "b"]
    },
    outputSchema: {
      type: "object",
      properties: { sum: { type: "number" } },
      required: ["sum"]
    },
    annotations: { readOnlyHint: true, idempotentHint: true }
  },
  {
    name: "divide",
    description: "Divides a by b",
    inputSchema: {
      type: "object",
      properties: { a: { type: "number" }, b: { type: "number" } },
      required: ["a", "b"]
    }
  },
  { name: "pixel", description: "A 1x1 PNG", inputSchema: { type: "object" } },
  { name: "slow", description: "Answers only when cancelled", inputSchema: { type: "object" } }
]

/** A promise with its resolver, for events a test awaits. */
interface Signal<A> {
  readonly promise: Promise<A>
  readonly resolve: (value: A) => void
}

const signal = <A>(): Signal<A> => {
  let resolve: (value: A) => void = () => {}
  const promise = new Promise<A>((done) => {
    resolve = done
  })
  return { promise, resolve }
}

export interface McpBackend {
  /** `http://127.0.0.1:<port>/mcp` */
  readonly url: string
  /** Resolves with the JSON-RPC id of the first `slow` call once its handler runs. */
  readonly slowStarted: () => Promise<string | number>
  /** Resolves with the abort reason once the first `slow` call's handler sees its signal abort. */
  readonly slowAborted: () => Promise<unknown>
  /** Adds a tool (answering "called <name>") and notifies every session. */
  readonly addTool: (tool: Tool) => Promise<void>
  readonly close: () => Promise<void>
}

export const startMcpBackend = async (): Promise<McpBackend> => {
  const tools = backendTools()
  const servers = new Set<Server>()
  const transports = new Map<string, StreamableHTTPServerTransport>()
  const started = signal<string | number>()
  const aborted = signal<unknown>()

  const call = async (
    name: string,
    args: Record<string, unknown>,
    extra: { readonly signal: AbortSignal; readonly requestId: string | number }
  ): Promise<CallToolResult> => {
    switch (name) {
      case "add": {
        const sum = Number(args.a) + Number(args.b)
        return { content: [{ type: "text", text: String(sum) }], structuredContent: { sum } }
      }
      case "divide":
        return Number(args.b) === 0
          ? { content: [{ type: "text", text: "cannot divide by zero" }], isError: true }
          : { content: [{ type: "text", text: String(Number(args.a) / Number(args.b)) }] }
      case "pixel":
        return { content: [{ type: "image", data: pixelPng, mimeType: "image/png" }] }
      case "slow":
        started.resolve(extra.requestId)
        await new Promise<void>((resolve) => {
          const done = () => {
            aborted.resolve(extra.signal.reason)
            resolve()
          }
          if (extra.signal.aborted) done()
          else extra.signal.addEventListener("abort", done, { once: true })
        })
        return { content: [{ type: "text", text: "cancelled" }] }
      default:
        if (tools.some((tool) => tool.name === name))
          return { content: [{ type: "text", text: `called ${name}` }] }
        throw new Error(`no tool named ${name}`)
    }
  }

  const makeServer = (): Server => {
    const server = new Server(
      { name: "mcp-backend", version: "1.0.0" },
      { capabilities: { tools: { listChanged: true } } }
    )
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }))
    server.setRequestHandler(CallToolRequestSchema, (request, extra) =>
      call(request.params.name, request.params.arguments ?? {}, extra)
    )
    servers.add(server)
    server.onclose = () => servers.delete(server)
    return server
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const sessionId = req.headers["mcp-session-id"]
    if (typeof sessionId === "string") {
      const transport = transports.get(sessionId)
      if (transport === undefined) {
        res.writeHead(404, { "content-type": "application/json" })
        res.end(
          JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null })
        )
        return
      }
      await transport.handleRequest(req, res)
      return
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        transports.set(id, transport)
      },
      onsessionclosed: (id) => {
        transports.delete(id)
      }
    })
    await makeServer().connect(transport)
    await transport.handleRequest(req, res)
  }

  const sockets = new Set<Socket>()
  const http = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(error))
    })
  })
  http.on("connection", (socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", () => resolve())
  })
  const { port } = http.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    slowStarted: () => started.promise,
    slowAborted: () => aborted.promise,
    addTool: async (tool) => {
      tools.push(tool)
      await Promise.all(Array.from(servers, (server) => server.sendToolListChanged().catch(() => {})))
    },
    close: async () => {
      for (const server of servers) await server.close().catch(() => {})
      await new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })
    }
  }
}

/** `startMcpBackend` as a scoped resource. */
export const mcpBackend = Effect.acquireRelease(
  Effect.promise(() => startMcpBackend()),
  (backend) => Effect.promise(() => backend.close())
)
