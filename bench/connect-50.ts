/**
 * connect-50: 50 stdio MCP servers (bench/support/StdioEchoServer.mjs, a bare
 * `node` start-up) connected through the manager (start → `awaitSettled`, every
 * server initialized and listed), against
 *   - the bare SDK connecting the same 50 concurrently (`Promise.all`): what the
 *     manager itself adds;
 *   - the bare SDK connecting them one by one: what concurrency buys;
 *   - the slowest single server connected alone (the max of the one-by-one
 *     connects of the same round). Goal: ≤ 1.5× that.
 *
 * A server start is mostly CPU (a `node` process booting), so 50 of them need about
 * 50 × (CPU per start) / cores however they are scheduled; the note under the table
 * gives that floor, measured from the CPU time of the reaped children.
 */
import { availableParallelism } from "node:os"
import { Effect, Layer, ManagedRuntime } from "effect"
import type { McpgateConfig, ServerConfig } from "../packages/core/src/Config.ts"
import { AuthorizedFetch } from "../packages/transport/src/AuthorizedFetch.ts"
import { McpClientManager } from "../packages/transport/src/McpClientManager.ts"
import { benchFile } from "./support/Child.ts"
import { type Benchmark, childrenCpuSeconds, median, type Row, stats } from "./support/Harness.ts"
import { Client, StdioClientTransport } from "./support/Sdk.ts"

const serverCount = 50
const script = benchFile("support/StdioEchoServer.mjs")

const stdioServer = (name: string): ServerConfig => ({
  name,
  transport: "stdio",
  command: process.execPath,
  args: [script],
  env: {},
  headers: {},
  enabled: true
})

const names = Array.from({ length: serverCount }, (_, i) => `s${String(i + 1).padStart(2, "0")}`)

const config: McpgateConfig = {
  mcpServers: Object.fromEntries(names.map((name) => [name, stdioServer(name)])),
  maxToolCalls: 10,
  store: { type: "local" },
  defaultTimeout: 60,
  builtins: {
    fetch: { enabled: false, allowPrivateNetwork: false },
    webSearch: { enabled: false, provider: "duckduckgo" }
  },
  server: { host: "127.0.0.1", port: 0 }
}

const managerLayer = McpClientManager.layer(config).pipe(Layer.provide(AuthorizedFetch.layer))

/** ms from building the manager to every server connected; the manager is closed afterwards. */
const managerConnect = async (): Promise<number> => {
  const start = performance.now()
  const runtime = ManagedRuntime.make(managerLayer)
  try {
    const statuses = await runtime.runPromise(
      Effect.flatMap(Effect.service(McpClientManager), (manager) => manager.awaitSettled)
    )
    const elapsed = performance.now() - start
    const failed = statuses.filter((status) => status.state !== "connected")
    if (failed.length > 0 || statuses.length !== serverCount) {
      throw new Error(
        `${failed.length} of ${statuses.length} servers did not connect: ${failed[0]?.lastError ?? ""}`
      )
    }
    return elapsed
  } finally {
    await runtime.dispose()
  }
}

/** One bare SDK connection: spawn, initialize, tools/list (what the manager does per server). */
const connectOne = async (): Promise<InstanceType<typeof Client>> => {
  const client = new Client({ name: "bench-direct", version: "1.0.0" })
  await client.connect(
    new StdioClientTransport({ command: process.execPath, args: [script], stderr: "pipe" })
  )
  const { tools } = await client.listTools()
  if (tools.length !== 1) throw new Error(`expected 1 tool, got ${tools.length}`)
  return client
}

const closeAll = (clients: ReadonlyArray<InstanceType<typeof Client>>) =>
  Promise.all(clients.map((client) => client.close().catch(() => {})))

const sdkConcurrent = async (count: number): Promise<number> => {
  const start = performance.now()
  const clients = await Promise.all(Array.from({ length: count }, connectOne))
  const elapsed = performance.now() - start
  await closeAll(clients)
  return elapsed
}

interface Sequential {
  readonly total: number
  readonly each: Array<number>
  /** CPU seconds the children used, start to exit (undefined off Linux). */
  readonly childCpu: number | undefined
}

const sdkOneByOne = async (): Promise<Sequential> => {
  const cpuBefore = childrenCpuSeconds()
  const clients: Array<InstanceType<typeof Client>> = []
  const each: Array<number> = []
  const start = performance.now()
  for (let i = 0; i < serverCount; i++) {
    const one = performance.now()
    clients.push(await connectOne())
    each.push(performance.now() - one)
  }
  const total = performance.now() - start
  await closeAll(clients)
  // The SDK's close ends stdin; the children exit and are reaped a moment later.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const cpuAfter = childrenCpuSeconds()
  const childCpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore
  return { total, each, childCpu }
}

export const connect50: Benchmark = {
  name: "connect-50",
  title: `connect ${serverCount} stdio servers: manager (concurrent) vs bare SDK`,
  run: async ({ quick, log }) => {
    const rounds = quick ? 1 : 4
    log(`connect-50: warm-up (file cache, JIT)`)
    await sdkConcurrent(10)
    await managerConnect()
    const manager: Array<number> = []
    const concurrent: Array<number> = []
    const oneByOne: Array<Sequential> = []
    for (let round = 0; round < rounds; round++) {
      log(`connect-50: round ${round + 1}/${rounds}`)
      // Rotate the order so no side always runs on a machine still busy reaping the last one.
      const steps = [
        async () => manager.push(await managerConnect()),
        async () => concurrent.push(await sdkConcurrent(serverCount)),
        async () => oneByOne.push(await sdkOneByOne())
      ]
      for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length]?.()
    }

    const managerStats = stats(manager)
    const slowestSingle = oneByOne.map((round) => Math.max(...round.each))
    const slowest = stats(slowestSingle)
    const singles = stats(oneByOne.flatMap((round) => round.each))
    const cpuPerServer = median(
      oneByOne.flatMap((round) =>
        round.childCpu === undefined ? [] : [(round.childCpu * 1000) / serverCount]
      )
    )
    const cores = availableParallelism()
    const floor = (cpuPerServer * serverCount) / cores
    const ratioToSlowest = managerStats.p50 / slowest.p50
    const floorNote = Number.isNaN(floor)
      ? ""
      : ` Each server start costs ${cpuPerServer.toFixed(0)} ms of CPU (children's CPU time / ${serverCount}), so ${serverCount} starts need ≥ ${floor.toFixed(0)} ms on ${cores} cores, i.e. ≥ ${(floor / slowest.p50).toFixed(1)}× the slowest single connect however they are scheduled.`
    const rows: Array<Row> = [
      {
        kind: "latency",
        benchmark: "connect-50",
        comparison: `McpClientManager, ${serverCount} concurrent (start → awaitSettled) vs bare SDK, ${serverCount} concurrent (Promise.all)`,
        candidate: managerStats,
        baseline: stats(concurrent)
      },
      {
        kind: "latency",
        benchmark: "connect-50",
        comparison: `McpClientManager, ${serverCount} concurrent vs bare SDK, one by one`,
        candidate: managerStats,
        baseline: stats(oneByOne.map((round) => round.total))
      },
      {
        kind: "latency",
        benchmark: "connect-50",
        comparison: `McpClientManager, ${serverCount} concurrent vs slowest single server alone`,
        candidate: managerStats,
        baseline: slowest,
        goal: { text: "≤ 1.5× the slowest single", met: ratioToSlowest <= 1.5 },
        note: `A single server connects in ${singles.p50.toFixed(1)} ms at p50 (${singles.max.toFixed(1)} ms at worst, n = ${singles.n}).${floorNote}`
      }
    ]
    return rows
  }
}
