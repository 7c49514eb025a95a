/**
 * tracing: what exporting traces and metrics over OTLP (docs/observability.md#traces)
 * costs, measured against the same work with export off, in one run:
 *
 *   - an MCP tool call through `McpClientManager.call` (to the streamable-HTTP
 *     bench server), in two runtimes: one with the OTLP exporters of
 *     `OTEL_EXPORTER_OTLP_ENDPOINT`, one without;
 *   - a short `/v1/chat/completions` pass-through, through two gateway child
 *     processes, one exporting, one not.
 *
 * The exports go to an OTLP/HTTP sink in this process that reads and drops them.
 * Goal: under 5% added at p50.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { ConfigProvider, Effect, Layer, ManagedRuntime } from "effect"
import * as Telemetry from "../packages/server/src/http/Telemetry.ts"
import { AuthorizedFetch } from "../packages/transport/src/AuthorizedFetch.ts"
import { McpClientManager } from "../packages/transport/src/McpClientManager.ts"
import { benchFile, type Child, startChild } from "./support/Child.ts"
import {
  alternate,
  type Benchmark,
  type Goal,
  type Row,
  type Stats,
  stats,
  timed
} from "./support/Harness.ts"
import { makeHttpClient } from "./support/HttpClient.ts"
import { expectEcho, httpServerConfig } from "./support/McpClients.ts"
import { NodeHttpClient } from "./support/Platform.ts"

const fivePercent = (candidate: Stats, baseline: Stats): Goal => ({
  text: "< 5% added at p50",
  met: candidate.p50 < baseline.p50 * 1.05
})

/** An OTLP/HTTP endpoint that accepts and drops every export; counts them. */
const startSink = () =>
  new Promise<{ readonly url: string; readonly exports: () => number; readonly close: () => void }>(
    (resolve) => {
      let exports = 0
      const server = createServer((request, response) => {
        request.resume()
        request.on("end", () => {
          exports++
          response.writeHead(200, { "content-type": "application/x-protobuf" }).end()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resolve({ url: `http://127.0.0.1:${port}`, exports: () => exports, close: () => server.close() })
      })
    }
  )

const shortBody = JSON.stringify({
  model: "bench-model",
  messages: [{ role: "user", content: "Say something short." }],
  max_tokens: 16
})

export const tracing: Benchmark = {
  name: "tracing",
  title: "OTLP export of traces and metrics on vs off: tool call and chat pass-through",
  run: async ({ quick, log }) => {
    const sink = await startSink()
    const children: Array<Child<unknown>> = []
    const http = makeHttpClient(8)
    const mcp = await startChild<{ url: string }>("mcp-http-server", benchFile("support/McpHttpServer.ts"))
    children.push(mcp)
    const managerLayer = McpClientManager.layer(httpServerConfig(mcp.ready.url)).pipe(
      Layer.provide(AuthorizedFetch.layer)
    )
    const exporting = Telemetry.layerFromEnv.pipe(
      Layer.provide(
        ConfigProvider.layer(ConfigProvider.fromEnvRecord({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.url }))
      ),
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const plainRuntime = ManagedRuntime.make(managerLayer)
    const tracedRuntime = ManagedRuntime.make(managerLayer.pipe(Layer.provide(exporting)))
    try {
      const callIn = async (runtime: ManagedRuntime.ManagedRuntime<McpClientManager, unknown>) => {
        const manager = await runtime.runPromise(Effect.service(McpClientManager))
        const [status] = await runtime.runPromise(manager.awaitSettled)
        if (status?.state !== "connected") throw new Error(`not connected: ${status?.lastError ?? "?"}`)
        const tools = await runtime.runPromise(manager.tools)
        const publicName = tools.find((tool) => tool.tool.name === "echo")?.publicName
        if (publicName === undefined) throw new Error("no echo tool")
        const args = { text: "hello from the benchmark" }
        // Run in the runtime, so the call's spans go to its tracer (the exporting one or none).
        return async () =>
          expectEcho((await runtime.runPromise(manager.call(publicName, args))).text, args.text)
      }
      const viaPlain = await callIn(plainRuntime)
      const viaTraced = await callIn(tracedRuntime)
      const calls = quick ? 300 : 1500
      log(`tracing: ${calls} tool calls each, exporting vs not, alternating`)
      const toolCalls = await alternate(timed(viaTraced), timed(viaPlain), {
        warmup: quick ? 50 : 300,
        samples: calls
      })

      const upstream = await startChild<{ baseUrl: string }>(
        "upstream",
        benchFile("support/UpstreamServer.ts")
      )
      children.push(upstream)
      const gateway = (otlp: string | undefined) =>
        startChild<{ url?: string; unavailable?: string }>(
          otlp === undefined ? "gateway-plain" : "gateway-traced",
          benchFile("support/GatewayServer.ts"),
          [JSON.stringify({ routes: ["openai"], upstream: upstream.ready.baseUrl, otlp })]
        )
      const plain = await gateway(undefined)
      children.push(plain)
      const traced = await gateway(sink.url)
      children.push(traced)
      const urlOf = (child: Child<{ url?: string; unavailable?: string }>) => {
        if (child.ready.url === undefined) throw new Error(child.ready.unavailable ?? "no gateway")
        return `${child.ready.url}/v1/chat/completions`
      }
      const post = (url: string) => async () => {
        const result = await http.post(url, shortBody)
        if (result.status !== 200) throw new Error(`HTTP ${result.status}`)
        return result.total
      }
      const shorts = quick ? 200 : 800
      log(`tracing: ${shorts} short chat completions each, exporting gateway vs not, alternating`)
      const chats = await alternate(post(urlOf(traced)), post(urlOf(plain)), {
        warmup: quick ? 50 : 200,
        samples: shorts
      })
      if (sink.exports() === 0) throw new Error("nothing was exported: the traced side did not trace")

      const toolOn = stats(toolCalls.candidate)
      const toolOff = stats(toolCalls.baseline)
      const chatOn = stats(chats.candidate)
      const chatOff = stats(chats.baseline)
      const rows: Array<Row> = [
        {
          kind: "latency",
          benchmark: "tracing",
          comparison: "MCP tool call (McpClientManager.call), OTLP export on vs off",
          candidate: toolOn,
          baseline: toolOff,
          goal: fivePercent(toolOn, toolOff)
        },
        {
          kind: "latency",
          benchmark: "tracing",
          comparison: "chat pass-through, short completion, OTLP export on vs off",
          candidate: chatOn,
          baseline: chatOff,
          goal: fivePercent(chatOn, chatOff),
          note: `${sink.exports()} OTLP exports received during the run.`
        }
      ]
      return rows
    } finally {
      http.close()
      await tracedRuntime.dispose()
      await plainRuntime.dispose()
      for (const child of children.reverse()) await child.close()
      sink.close()
    }
  }
}
