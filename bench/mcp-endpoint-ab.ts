/**
 * Same-run A/B of the gateway's CPU per `/mcp` tool call: two gateway children,
 * this checkout's and another's (`support/GatewayServer.ts` of another clone,
 * e.g. main), in front of one MCP server, sent the same calls with the SDK client
 * in alternating bursts at concurrency 16. CPU is read from `/proc/<pid>/stat` of
 * each child around each burst, so a loaded machine slows both sides alike.
 *
 *   pnpm exec node bench/mcp-endpoint-ab.ts ../mcpgate-main/bench/support/GatewayServer.ts [bursts] [calls]
 *
 * Linux only (it reads /proc). Not part of `pnpm bench`: it needs a second clone.
 */
import { readFileSync } from "node:fs"
import { benchFile, type Child, startChild } from "./support/Child.ts"
import { processCpuMs } from "./support/Harness.ts"
import { directClient, expectEcho, firstText } from "./support/McpClients.ts"

const [baselineScript, burstsArg, callsArg] = process.argv.slice(2)
if (baselineScript === undefined) {
  console.error(
    "usage: node bench/mcp-endpoint-ab.ts <other clone's bench/support/GatewayServer.ts> [bursts] [calls]"
  )
  process.exit(2)
}
const bursts = Number(burstsArg ?? 6)
const calls = Number(callsArg ?? 400)
/** Calls in flight per burst (`AB_CONCURRENCY`, default 16; 1 gives sequential latency). */
const concurrency = Number(process.env.AB_CONCURRENCY ?? 16)
const cpuSeconds = (pid: number | undefined): number => (processCpuMs(pid) ?? Number.NaN) / 1000

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")

interface Ready {
  readonly url?: string
  readonly echoTool?: string
}

const children: Array<Child<unknown>> = []
const server = await startChild<{ url: string }>("mcp-http-server", benchFile("support/McpHttpServer.ts"))
children.push(server)
try {
  const start = async (name: string, script: string) => {
    const child = await startChild<Ready>(name, script, [
      JSON.stringify({ routes: ["mcp-endpoint"], mcpUrl: server.ready.url })
    ])
    children.push(child)
    return child
  }
  const sides = [
    { name: "candidate", child: await start("gateway-candidate", benchFile("support/GatewayServer.ts")) },
    { name: "baseline", child: await start("gateway-baseline", baselineScript) }
  ]
  const args = { text: "hello from the benchmark" }
  const runners = await Promise.all(
    sides.map(async ({ name, child }) => {
      const aggregated = await directClient(`${child.ready.url}/mcp`)
      const relayed = await directClient(`${child.ready.url}/mcp/bench`)
      const tool = child.ready.echoTool ?? "echo"
      return {
        name,
        child,
        routes: {
          "/mcp": async () =>
            expectEcho(firstText(await aggregated.callTool({ name: tool, arguments: args })), args.text),
          "/mcp/<server>": async () =>
            expectEcho(firstText(await relayed.callTool({ name: "echo", arguments: args })), args.text)
        }
      }
    })
  )
  const latencies = new Map<string, Array<number>>()
  const burst = async (call: () => Promise<void>, into: Array<number> = []) => {
    let next = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < calls) {
          next += 1
          const t = performance.now()
          await call()
          into.push(performance.now() - t)
        }
      })
    )
    return (performance.now() - started) / 1000
  }
  const p50 = (values: Array<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
  console.log(`load at start: ${loadAverage()}`)
  for (const route of ["/mcp", "/mcp/<server>"] as const) {
    const totals = new Map<string, { cpu: number; serverCpu: number; seconds: number }>()
    for (const runner of runners) await burst(runner.routes[route]) // warm-up
    for (let i = 0; i < bursts; i++) {
      const order = i % 2 === 0 ? runners : [...runners].reverse()
      for (const runner of order) {
        const cpuBefore = cpuSeconds(runner.child.pid)
        const serverBefore = cpuSeconds(server.pid)
        const key = `${route} ${runner.name}`
        const into = latencies.get(key) ?? []
        latencies.set(key, into)
        const seconds = await burst(runner.routes[route], into)
        const total = totals.get(runner.name) ?? { cpu: 0, serverCpu: 0, seconds: 0 }
        total.cpu += cpuSeconds(runner.child.pid) - cpuBefore
        total.serverCpu += cpuSeconds(server.pid) - serverBefore
        total.seconds += seconds
        totals.set(runner.name, total)
      }
    }
    const n = bursts * calls
    for (const [name, total] of totals) {
      console.log(
        `${route} ${name}: gateway CPU ${((total.cpu * 1000) / n).toFixed(3)} ms/call, MCP server CPU ${((total.serverCpu * 1000) / n).toFixed(3)} ms/call, ${(n / total.seconds).toFixed(0)} calls/s at c=${concurrency}, p50 ${p50(latencies.get(`${route} ${name}`) ?? []).toFixed(2)} ms`
      )
    }
  }
  console.log(`load at end: ${loadAverage()}`)
} finally {
  for (const child of children.reverse()) await child.close()
  process.exit(0)
}
