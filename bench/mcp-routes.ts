/**
 * mcp-routes: a tool call through the gateway's HTTP routes against the bare SDK
 * `Client.callTool` to the MCP server directly (the same child server as tool-call):
 *
 *   - `POST /v1/mcp/execute` `{tool_name, arguments}` (packages/server/src/mcp/McpJsonApi.ts),
 *     sent with the plain keep-alive `node:http` client;
 *   - `/mcp` tools/call (packages/server/src/mcp/McpEndpoint.ts), sent with the SDK client;
 *   - `/mcp/<server>` tools/call, the server relayed whole (packages/server/src/mcp/McpProxy.ts);
 *   - heap per idle `/mcp` session: reduced to its record (McpRevive.ts) against kept whole,
 *     each in a child of its own (support/SessionMemory.ts);
 *   - the floor: the same SDK client through a bare `node:http` relay (support/PlainProxy.ts)
 *     that parses each body and forwards it, what any one-hop gateway pays on this machine
 *     before doing anything of its own.
 *
 * The candidate pays an extra HTTP hop (client → gateway → MCP server), so the ratio
 * is the price of going through the gateway, not of the manager alone (tool-call
 * measures that). A route whose module does not exist yet gets a "not available" row.
 */
import { benchFile, type Child, startChild } from "./support/Child.ts"
import {
  allLatencies,
  alternate,
  type Benchmark,
  cpuMs,
  cpuPerOperation,
  cpuSum,
  medianRate,
  pairedRange,
  type Row,
  rotateThroughput,
  stats,
  timed
} from "./support/Harness.ts"
import { makeHttpClient } from "./support/HttpClient.ts"
import { directClient, expectEcho, firstText } from "./support/McpClients.ts"
import type { Client } from "./support/Sdk.ts"

interface GatewayReady {
  readonly pid?: number | undefined
  readonly url?: string
  readonly echoTool?: string
  readonly unavailable?: string
}

const concurrency = 16

/**
 * A gateway child serving one route; a module that is missing, or whose layer does
 * not build (a service the benchmark does not know of yet), says why instead.
 */
const startGateway = async (
  route: "mcp-api" | "mcp-endpoint",
  mcpUrl: string,
  children: Array<Child<unknown>>
): Promise<GatewayReady> => {
  try {
    const child = await startChild<GatewayReady>(`gateway-${route}`, benchFile("support/GatewayServer.ts"), [
      JSON.stringify({ routes: [route], mcpUrl })
    ])
    children.push(child)
    return { ...child.ready, pid: child.pid }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { unavailable: `the gateway did not start: ${message.split("\n").slice(0, 2).join(" ")}` }
  }
}

/** The processes whose CPU a call uses besides this one (the clients). */
interface Processes {
  readonly gateway: number | undefined
  readonly server: number | undefined
  /** What the hop is called in the CPU note ("gateway" unless said). */
  readonly hop?: string
}

const cpuNote = async (
  name: string,
  candidate: () => Promise<void>,
  baseline: () => Promise<void>,
  processes: Processes,
  total: number
): Promise<string> => {
  const via = await cpuPerOperation(
    candidate,
    { gateway: processes.gateway, server: processes.server },
    { concurrency, total }
  )
  const direct = await cpuPerOperation(baseline, { server: processes.server }, { concurrency, total })
  return (
    `${name}, CPU per call at concurrency ${concurrency} (${total} calls each): through the ${processes.hop ?? "gateway"} client ` +
    `${cpuMs(via.client)} + ${processes.hop ?? "gateway"} ${cpuMs(via.gateway)} + MCP server ${cpuMs(via.server)} = ` +
    `${cpuMs(cpuSum([via.client, via.gateway, via.server]))} ms; direct client ${cpuMs(direct.client)} + ` +
    `MCP server ${cpuMs(direct.server)} = ${cpuMs(cpuSum([direct.client, direct.server]))} ms`
  )
}

const compare = async (
  name: string,
  candidate: () => Promise<void>,
  baseline: () => Promise<void>,
  quick: boolean,
  log: (line: string) => void,
  processes: Processes
): Promise<Array<Row>> => {
  const samples = quick ? 200 : 800
  log(`mcp-routes: ${name}: ${samples} sequential calls each, alternating`)
  const sequential = await alternate(timed(candidate), timed(baseline), {
    warmup: quick ? 50 : 200,
    samples
  })
  const rounds = quick ? 2 : 8
  const total = quick ? 320 : 480
  log(`mcp-routes: ${name}: ${rounds} rounds of ${total} calls at concurrency ${concurrency}`)
  const parallel = await rotateThroughput({ candidate, baseline }, { rounds, concurrency, total })
  const note = await cpuNote(name, candidate, baseline, processes, quick ? 800 : 2400)
  return [
    {
      kind: "latency",
      benchmark: "mcp-routes",
      comparison: `${name} vs SDK Client.callTool direct (sequential)`,
      candidate: stats(sequential.candidate),
      baseline: stats(sequential.baseline)
    },
    {
      kind: "latency",
      benchmark: "mcp-routes",
      comparison: `same, latency at concurrency ${concurrency}`,
      concurrent: true,
      candidate: stats(allLatencies(parallel.candidate)),
      baseline: stats(allLatencies(parallel.baseline))
    },
    {
      kind: "throughput",
      benchmark: "mcp-routes",
      comparison: `same, calls/s at concurrency ${concurrency}`,
      candidate: medianRate(parallel.candidate),
      baseline: medianRate(parallel.baseline),
      rounds,
      unit: "calls",
      ratioRange: pairedRange(parallel.candidate, parallel.baseline),
      note
    }
  ]
}

/** Heap per idle `/mcp` session, kept whole (baseline) and reduced to its record (candidate). */
const sessionMemory = async (mcpUrl: string, quick: boolean, log: (line: string) => void): Promise<Row> => {
  const sessions = quick ? 300 : 1000
  const measure = async (mode: "live" | "records") => {
    log(`mcp-routes: heap per idle /mcp session (${mode}): ${sessions} sessions`)
    const child = await startChild<{ bytesPerSession: number; live: number }>(
      `session-memory-${mode}`,
      benchFile("support/SessionMemory.ts"),
      [JSON.stringify({ mcpUrl, sessions, mode })],
      120_000
    )
    await child.close()
    return child.ready
  }
  const baseline = await measure("live")
  const candidate = await measure("records")
  const limit = 20 * 1024
  return {
    kind: "memory",
    benchmark: "mcp-routes",
    comparison: "heap per idle /mcp session: reduced to its record vs kept whole",
    candidate: candidate.bytesPerSession,
    baseline: baseline.bytesPerSession,
    n: sessions,
    unit: "idle sessions",
    goal: { text: "≤ 20 KB per idle session", met: candidate.bytesPerSession <= limit },
    note: `sessions still whole at the end: ${candidate.live} (records), ${baseline.live} (whole)`
  }
}

const unavailable = (comparison: string, reason: string): Row => ({
  kind: "unavailable",
  benchmark: "mcp-routes",
  comparison,
  reason
})

export const mcpRoutes: Benchmark = {
  name: "mcp-routes",
  title: "tool call through /v1/mcp/execute and /mcp vs bare SDK",
  run: async ({ quick, log }) => {
    const server = await startChild<{ url: string }>("mcp-http-server", benchFile("support/McpHttpServer.ts"))
    const children: Array<Child<unknown>> = [server]
    const clients: Array<InstanceType<typeof Client>> = []
    const http = makeHttpClient(64)
    try {
      const direct = await directClient(server.ready.url)
      clients.push(direct)
      const args = { text: "hello from the benchmark" }
      const viaSdk = async () => {
        expectEcho(firstText(await direct.callTool({ name: "echo", arguments: args })), args.text)
      }
      const rows: Array<Row> = []
      // `POST <base>/v1/mcp/execute` of the echo tool, as any HTTP client would send it.
      const viaExecuteAt = (base: string, tool: string) => {
        const body = JSON.stringify({ tool_name: tool, arguments: args })
        return async () => {
          const result = await http.post(`${base}/v1/mcp/execute`, body, { keepBody: true })
          if (result.status !== 200) throw new Error(`/v1/mcp/execute answered ${result.status}`)
          const json: unknown = JSON.parse(result.body?.toString("utf8") ?? "null")
          expectEcho(
            typeof json === "object" && json !== null && "content" in json ? json.content : json,
            args.text
          )
        }
      }

      const execute = await startGateway("mcp-api", server.ready.url, children)
      const executeUrl = execute.url
      const executeTool = execute.echoTool
      if (executeUrl === undefined || executeTool === undefined) {
        rows.push(unavailable("POST /v1/mcp/execute", execute.unavailable ?? "no echo tool listed"))
      } else {
        rows.push(
          ...(await compare(
            "POST /v1/mcp/execute",
            viaExecuteAt(executeUrl, executeTool),
            viaSdk,
            quick,
            log,
            {
              gateway: execute.pid,
              server: server.pid
            }
          ))
        )
      }

      const endpoint = await startGateway("mcp-endpoint", server.ready.url, children)
      const endpointUrl = endpoint.url
      const endpointTool = endpoint.echoTool
      if (endpointUrl === undefined || endpointTool === undefined) {
        rows.push(unavailable("/mcp tools/call", endpoint.unavailable ?? "no echo tool listed"))
      } else {
        const throughGateway = await directClient(`${endpointUrl}/mcp`)
        clients.push(throughGateway)
        const viaEndpoint = async () => {
          const result = await throughGateway.callTool({ name: endpointTool, arguments: args })
          expectEcho(firstText(result), args.text)
        }
        rows.push(
          ...(await compare("/mcp tools/call (SDK client)", viaEndpoint, viaSdk, quick, log, {
            gateway: endpoint.pid,
            server: server.pid
          }))
        )
        // The same server relayed whole (McpProxy.ts): its own tool names, one upstream session per client session.
        const throughRelay = await directClient(`${endpointUrl}/mcp/bench`)
        clients.push(throughRelay)
        const viaRelay = async () => {
          const result = await throughRelay.callTool({ name: "echo", arguments: args })
          expectEcho(firstText(result), args.text)
        }
        rows.push(
          ...(await compare("/mcp/<server> tools/call (SDK client)", viaRelay, viaSdk, quick, log, {
            gateway: endpoint.pid,
            server: server.pid
          }))
        )
      }
      // The floor under both: one hop in plain Node, no gateway code at all.
      const relay = await startChild<{ url: string }>("plain-relay", benchFile("support/PlainProxy.ts"), [
        server.ready.url
      ])
      children.push(relay)
      const throughPlain = await directClient(`${relay.ready.url}/mcp`)
      clients.push(throughPlain)
      const viaPlain = async () => {
        expectEcho(firstText(await throughPlain.callTool({ name: "echo", arguments: args })), args.text)
      }
      rows.push(
        ...(await compare(
          "bare Node relay, the floor of one hop (SDK client)",
          viaPlain,
          viaSdk,
          quick,
          log,
          {
            gateway: relay.pid,
            server: server.pid,
            hop: "relay"
          }
        ))
      )
      // And under /v1/mcp/execute: a bare Node route over the SDK client.
      const plainExecute = await startChild<{ url: string }>(
        "plain-execute",
        benchFile("support/PlainExecute.ts"),
        [server.ready.url]
      )
      children.push(plainExecute)
      rows.push(
        ...(await compare(
          "bare Node /v1/mcp/execute over the SDK client, the floor of that route",
          viaExecuteAt(plainExecute.ready.url, "echo"),
          viaSdk,
          quick,
          log,
          { gateway: plainExecute.pid, server: server.pid, hop: "route" }
        ))
      )
      rows.push(await sessionMemory(server.ready.url, quick, log))
      return rows
    } finally {
      await Promise.all(clients.map((client) => client.close().catch(() => {})))
      http.close()
      for (const child of children.reverse()) await child.close()
    }
  }
}
