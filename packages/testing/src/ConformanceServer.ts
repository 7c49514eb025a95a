/**
 * The conformance test server (ConformanceMcp.ts) over streamable HTTP on
 * 127.0.0.1, at `/mcp`: one session per `initialize`, resumable streams (an
 * in-memory event store, a 500 ms `retry`), and the Host/Origin checks a local
 * server needs against DNS rebinding.
 */
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import {
  type EventStore,
  StreamableHTTPServerTransport
} from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"
import {
  type ConformanceOptions,
  type ConformanceState,
  makeConformanceServer,
  makeState
} from "./ConformanceMcp.ts"

export interface ConformanceServer {
  /** `http://127.0.0.1:<port>/mcp` */
  readonly url: string
  readonly state: ConformanceState
  /** Sessions open now. */
  readonly openSessions: () => number
  /** Every open session's server, e.g. to send it a notification. */
  readonly servers: () => ReadonlyArray<Server>
  readonly close: () => Promise<void>
}

/** Events of every stream, in order; ids are `<stream>#<n>`. */
const memoryEventStore = (): EventStore => {
  const events: Array<{ readonly id: string; readonly stream: string; readonly message: JSONRPCMessage }> = []
  let counter = 0
  return {
    storeEvent: async (stream, message) => {
      counter += 1
      const id = `${stream}#${counter}`
      events.push({ id, stream, message })
      return id
    },
    getStreamIdForEventId: async (eventId) => events.find((event) => event.id === eventId)?.stream,
    replayEventsAfter: async (lastEventId, { send }) => {
      const index = events.findIndex((event) => event.id === lastEventId)
      const stream = events[index]?.stream ?? ""
      for (const event of events.slice(index + 1)) {
        // The priming event's message is empty: nothing to replay.
        if (event.stream === stream && Object.keys(event.message).length > 0)
          await send(event.id, event.message)
      }
      return stream
    }
  }
}

const jsonError = (res: ServerResponse, status: number, code: number, message: string) => {
  res.writeHead(status, { "content-type": "application/json" })
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }))
}

const readJson = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of req) chunks.push(Buffer.from(chunk))
  const body = Buffer.concat(chunks).toString("utf8")
  return body === "" ? undefined : JSON.parse(body)
}

const isInitialize = (body: unknown): boolean =>
  typeof body === "object" && body !== null && "method" in body && body.method === "initialize"

export const startConformanceServer = async (
  options: ConformanceOptions = {}
): Promise<ConformanceServer> => {
  const state = makeState()
  const sessions = new Map<
    string,
    { readonly transport: StreamableHTTPServerTransport; readonly server: Server }
  >()
  const eventStore = memoryEventStore()
  let allowed: { readonly hosts: Array<string>; readonly origins: Array<string> } = { hosts: [], origins: [] }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (new URL(req.url ?? "/", "http://127.0.0.1").pathname !== "/mcp") {
      res.writeHead(404).end()
      return
    }
    const sessionId = req.headers["mcp-session-id"]
    const body = req.method === "POST" ? await readJson(req) : undefined
    if (typeof sessionId === "string") {
      const session = sessions.get(sessionId)
      if (session === undefined) return jsonError(res, 404, -32001, "Session not found")
      return session.transport.handleRequest(req, res, body)
    }
    if (req.method !== "POST" || !isInitialize(body)) {
      return jsonError(res, 400, -32000, "Bad Request: Mcp-Session-Id header is required")
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore,
      retryInterval: 500,
      enableDnsRebindingProtection: true,
      allowedHosts: allowed.hosts,
      allowedOrigins: allowed.origins,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server })
      },
      onsessionclosed: (id) => {
        sessions.delete(id)
      }
    })
    const server = makeConformanceServer(state, {
      ...options,
      onClose: () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId)
      }
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, body)
  }

  const sockets = new Set<Socket>()
  const http = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) jsonError(res, 500, -32603, String(error))
      else res.end()
    })
  })
  http.on("connection", (socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  const port = await new Promise<number>((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", () => {
      const address = http.address()
      resolve(typeof address === "object" && address !== null ? address.port : 0)
    })
  })
  const hosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]
  allowed = { hosts, origins: hosts.map((host) => `http://${host}`) }

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    state,
    openSessions: () => sessions.size,
    servers: () => Array.from(sessions.values(), (session) => session.server),
    close: async () => {
      for (const { server } of sessions.values()) await server.close().catch(() => {})
      await new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
        for (const socket of sockets) socket.destroy()
      })
    }
  }
}

/** `startConformanceServer` as a scoped Effect resource. */
export const conformanceServer = (options?: ConformanceOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => startConformanceServer(options)),
    (server) => Effect.promise(() => server.close())
  )
