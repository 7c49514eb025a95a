/**
 * Child process: heap bytes per idle `/mcp` session. Serves the aggregated `/mcp`
 * endpoint (packages/server/src/mcp/McpEndpoint.ts) over one MCP server, opens
 * `sessions` sessions with raw `initialize` + `notifications/initialized` POSTs,
 * lets them sit idle, and reports (heap after − heap before) / sessions, each
 * heap read after two forced GCs. argv[2] is JSON:
 *
 *   { "mcpUrl": "http://127.0.0.1:<port>/mcp", "sessions": 1000,
 *     "mode": "live" | "records" }   // live: sessions stay whole; records: reduced to their record
 *
 * Ready line: `{"bytesPerSession", "sessions", "live"}` (`live`: sessions still whole at the end).
 */
import { createServer } from "node:http"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { McpEndpoint, routes } from "../../packages/server/src/mcp/McpEndpoint.ts"
import { AuthorizedFetch } from "../../packages/transport/src/AuthorizedFetch.ts"
import { McpClientManager } from "../../packages/transport/src/McpClientManager.ts"
import { announceReady } from "./Child.ts"
import { httpServerConfig } from "./McpClients.ts"
import { NodeHttpServer } from "./Platform.ts"

interface Options {
  readonly mcpUrl: string
  readonly sessions: number
  readonly mode: "live" | "records"
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void
const settledHeap = async () => {
  for (let round = 0; round < 3; round++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return process.memoryUsage().heapUsed
}

const config = httpServerConfig(options.mcpUrl)

const headers = {
  accept: "application/json, text/event-stream",
  "content-type": "application/json",
  "mcp-protocol-version": "2025-11-25"
}

const openOne = async (url: string, index: number) => {
  const opened = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: `bench-client-${index}`, version: "1.0.0" }
      }
    })
  })
  await opened.text()
  const session = opened.headers.get("mcp-session-id") ?? ""
  if (session === "") throw new Error(`initialize answered ${opened.status}`)
  const initialized = await fetch(url, {
    method: "POST",
    headers: { ...headers, "mcp-session-id": session },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })
  })
  await initialized.text()
}

const program = Effect.gen(function* () {
  const manager = McpClientManager.layer(config, { healthCheckIntervalMs: 0 }).pipe(
    Layer.provide(AuthorizedFetch.layer)
  )
  const endpoint = McpEndpoint.layer({
    maxSessions: options.sessions + 100,
    maxSessionsPerKey: options.sessions + 100,
    dormantAfter: options.mode === "records" ? "500 millis" : "1 hour"
  }).pipe(Layer.provideMerge(manager))
  const app = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(endpoint),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )
  const context = yield* Layer.build(app)
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
  const url = `http://127.0.0.1:${address.port}/mcp`
  yield* Context.get(context, McpClientManager).awaitSettled
  const mcp = Context.get(context, McpEndpoint)
  // Warm up the code paths (and the HTTP client) before the first heap reading.
  yield* Effect.promise(() => openOne(url, -1))
  const before = yield* Effect.promise(settledHeap)
  yield* Effect.promise(async () => {
    const batch = 16
    for (let start = 0; start < options.sessions; start += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, options.sessions - start) }, (_, i) => openOne(url, start + i))
      )
    }
  })
  // Both modes wait as long; the records mode until every session is only a record.
  yield* Effect.sleep("1500 millis")
  if (options.mode === "records") yield* mcp.awaitSessions((sessions) => sessions.length === 0)
  const after = yield* Effect.promise(settledHeap)
  const live = (yield* mcp.sessions).length
  announceReady({ bytesPerSession: (after - before) / options.sessions, sessions: options.sessions, live })
  yield* Effect.never
})

Effect.runFork(Effect.scoped(program))
