/**
 * tool-call: one MCP tool call through `McpClientManager.call` against the bare SDK
 * `Client.callTool`, both to the same streamable-HTTP MCP server (a child process,
 * the transport tests' server, tool `echo`), sequentially and at concurrency 16.
 *
 * Goal: the manager adds at most 10% to the direct p50.
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import { AuthorizedFetch } from "../packages/transport/src/AuthorizedFetch.ts"
import { McpClientManager } from "../packages/transport/src/McpClientManager.ts"
import { benchFile, startChild } from "./support/Child.ts"
import {
  allLatencies,
  alternate,
  type Benchmark,
  medianRate,
  pairedRange,
  type Row,
  rotateThroughput,
  stats,
  timed
} from "./support/Harness.ts"
import { directClient, expectEcho, firstText, httpServerConfig } from "./support/McpClients.ts"
import type { Client } from "./support/Sdk.ts"

export const toolCall: Benchmark = {
  name: "tool-call",
  title: "MCP tool call: McpClientManager.call vs bare SDK Client.callTool",
  run: async ({ quick, log }) => {
    const server = await startChild<{ url: string }>("mcp-http-server", benchFile("support/McpHttpServer.ts"))
    const runtime = ManagedRuntime.make(
      McpClientManager.layer(httpServerConfig(server.ready.url)).pipe(Layer.provide(AuthorizedFetch.layer))
    )
    let client: InstanceType<typeof Client> | undefined
    try {
      const manager = await runtime.runPromise(Effect.service(McpClientManager))
      const [status] = await runtime.runPromise(manager.awaitSettled)
      if (status?.state !== "connected") throw new Error(`not connected: ${status?.lastError ?? "?"}`)
      const tools = await runtime.runPromise(manager.tools)
      const publicName = tools.find((tool) => tool.tool.name === "echo")?.publicName
      if (publicName === undefined) throw new Error("the manager lists no echo tool")
      const direct = await directClient(server.ready.url)
      client = direct

      const args = { text: "hello from the benchmark" }
      const viaManager = async () => {
        const result = await Effect.runPromise(manager.call(publicName, args))
        expectEcho(result.text, args.text)
      }
      const viaSdk = async () => {
        const result = await direct.callTool({ name: "echo", arguments: args })
        expectEcho(firstText(result), args.text)
      }

      const samples = quick ? 300 : 1500
      log(`tool-call: ${samples} sequential calls each, alternating`)
      const sequential = await alternate(timed(viaManager), timed(viaSdk), {
        warmup: quick ? 50 : 300,
        samples
      })
      const concurrency = 16
      const rounds = quick ? 2 : 12
      const total = quick ? 320 : 480
      log(`tool-call: ${rounds} rounds of ${total} calls at concurrency ${concurrency}, alternating`)
      const parallel = await rotateThroughput(
        { candidate: viaManager, baseline: viaSdk },
        { rounds, concurrency, total }
      )

      const c = stats(sequential.candidate)
      const b = stats(sequential.baseline)
      const overhead = (c.p50 - b.p50) / b.p50
      const rows: Array<Row> = [
        {
          kind: "latency",
          benchmark: "tool-call",
          comparison: "McpClientManager.call vs SDK Client.callTool (sequential)",
          candidate: c,
          baseline: b,
          goal: { text: "overhead ≤ 10% of direct p50", met: overhead <= 0.1 }
        },
        {
          kind: "latency",
          benchmark: "tool-call",
          comparison: `same, latency at concurrency ${concurrency}`,
          concurrent: true,
          candidate: stats(allLatencies(parallel.candidate)),
          baseline: stats(allLatencies(parallel.baseline))
        },
        {
          kind: "throughput",
          benchmark: "tool-call",
          comparison: `same, calls/s at concurrency ${concurrency}`,
          candidate: medianRate(parallel.candidate),
          baseline: medianRate(parallel.baseline),
          rounds,
          unit: "calls",
          ratioRange: pairedRange(parallel.candidate, parallel.baseline)
        }
      ]
      return rows
    } finally {
      await client?.close().catch(() => {})
      await runtime.dispose()
      await server.close()
    }
  }
}
