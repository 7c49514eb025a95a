/**
 * chat: `POST /v1/chat/completions` through the gateway's routes (pass-through:
 * no `execute_mcp_tools`) against the same request sent to the model upstream
 * directly. Upstream and gateway are child processes; the client (`node:http`
 * with a keep-alive agent) is the same for every path.
 *
 *   - a 2,000-chunk stream: time to first byte and total time;
 *   - short non-streaming completions: latency one at a time, and requests/s at
 *     concurrency 32.
 *
 * Goals: ≤ 1 ms added at p50; ≥ 90% of the direct throughput.
 *
 * A third path, a bare Node proxy (bench/support/PlainProxy.ts), runs in the same
 * rotation: any extra hop costs something on this machine, and the rows "gateway vs
 * plain Node proxy" tell the gateway's own share from that. A fourth is the same
 * hop as one route on effect's HTTP server with nothing else
 * (bench/support/EffectProxy.ts): the floor for any route served by effect, which
 * the rows "floor: …" set against the plain proxy.
 */
import { benchFile, type Child, startChild } from "./support/Child.ts"
import {
  allLatencies,
  type Benchmark,
  cpuMs,
  cpuPerOperation,
  type Goal,
  medianRate,
  pairedRange,
  type Row,
  rotate,
  rotateThroughput,
  type Stats,
  stats
} from "./support/Harness.ts"
import { type HttpResult, makeHttpClient } from "./support/HttpClient.ts"

const streamChunks = 2000
const concurrency = 32

const messages = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Tell me a long story about a gateway." }
]
const streamBody = JSON.stringify({ model: "bench-model", messages, stream: true, max_tokens: streamChunks })
const shortBody = JSON.stringify({ model: "bench-model", messages, max_tokens: 16 })

const expectOk = (result: HttpResult, bytes?: number): HttpResult => {
  if (result.status !== 200) throw new Error(`HTTP ${result.status}`)
  if (bytes !== undefined && result.bytes !== bytes) {
    throw new Error(`expected ${bytes} bytes, got ${result.bytes}`)
  }
  return result
}

const oneMs = (candidate: Stats, baseline: Stats): Goal => ({
  text: "≤ 1 ms added at p50",
  met: candidate.p50 - baseline.p50 <= 1
})

type Path = "gateway" | "direct" | "proxy" | "effect"

export const chat: Benchmark = {
  name: "chat",
  title: "/v1/chat/completions pass-through: gateway vs upstream directly",
  run: async ({ quick, log }) => {
    const upstream = await startChild<{ baseUrl: string }>("upstream", benchFile("support/UpstreamServer.ts"))
    const http = makeHttpClient(64)
    const children: Array<Child<unknown>> = [upstream]
    try {
      const gateway = await startChild<{ url?: string; unavailable?: string }>(
        "gateway-chat",
        benchFile("support/GatewayServer.ts"),
        [JSON.stringify({ routes: ["openai"], upstream: upstream.ready.baseUrl })]
      )
      children.push(gateway)
      const proxy = await startChild<{ url: string }>("plain-proxy", benchFile("support/PlainProxy.ts"), [
        upstream.ready.baseUrl
      ])
      children.push(proxy)
      const effectProxy = await startChild<{ url: string }>(
        "effect-proxy",
        benchFile("support/EffectProxy.ts"),
        [upstream.ready.baseUrl]
      )
      children.push(effectProxy)
      if (gateway.ready.url === undefined) throw new Error(gateway.ready.unavailable ?? "no gateway")
      const urls: Record<Path, string> = {
        gateway: `${gateway.ready.url}/v1/chat/completions`,
        direct: `${upstream.ready.baseUrl}/chat/completions`,
        proxy: `${proxy.ready.url}/v1/chat/completions`,
        effect: `${effectProxy.ready.url}/v1/chat/completions`
      }

      // The pass-through must be byte for byte (docs/gateway.md#chat-completions): check once before timing it.
      const expected = expectOk(await http.post(urls.direct, streamBody, { keepBody: true }))
      const got = expectOk(await http.post(urls.gateway, streamBody, { keepBody: true }))
      if (expected.body === undefined || got.body === undefined || !expected.body.equals(got.body)) {
        throw new Error("the gateway's stream differs from the upstream's bytes")
      }
      const events = expected.body.toString("utf8").split("\n\n").length - 1
      if (events !== streamChunks + 3) throw new Error(`expected ${streamChunks + 3} events, got ${events}`)
      const streamBytes = expected.bytes

      const each = <T>(f: (url: string) => Promise<T>): Record<Path, () => Promise<T>> => ({
        gateway: () => f(urls.gateway),
        direct: () => f(urls.direct),
        proxy: () => f(urls.proxy),
        effect: () => f(urls.effect)
      })

      const streams = quick ? 10 : 40
      log(`chat: ${streams} streams of ${streamChunks} chunks per path, rotating`)
      const streamed = await rotate(
        each(async (url) => expectOk(await http.post(url, streamBody), streamBytes)),
        { warmup: quick ? 3 : 8, samples: streams }
      )

      const shorts = quick ? 200 : 800
      log(`chat: ${shorts} short completions per path, one at a time, rotating`)
      const short = await rotate(
        each(async (url) => expectOk(await http.post(url, shortBody)).total),
        { warmup: quick ? 50 : 200, samples: shorts }
      )

      const rounds = quick ? 2 : 8
      const total = quick ? 500 : 1000
      log(`chat: ${rounds} rounds of ${total} short completions at concurrency ${concurrency}, rotating`)
      const postShort = async (url: string) => expectOk(await http.post(url, shortBody))
      const parallel = await rotateThroughput(each(postShort), { rounds, concurrency, total })

      // Where the CPU goes per request at this concurrency: the gateway against the plain proxy and the effect floor.
      const cpuTotal = quick ? 1000 : 3000
      const pids = { gateway: gateway.pid, proxy: proxy.pid, effect: effectProxy.pid }
      const cpuOf = (hop: keyof typeof pids) =>
        cpuPerOperation(
          () => postShort(urls[hop]),
          { hop: pids[hop], upstream: upstream.pid },
          { concurrency, total: cpuTotal }
        )
      const cpuGateway = await cpuOf("gateway")
      const cpuProxy = await cpuOf("proxy")
      const cpuEffect = await cpuOf("effect")

      const ttfb = (path: Path) => stats(streamed[path].map((r) => r.ttfb))
      const whole = (path: Path) => stats(streamed[path].map((r) => r.total))
      const one = (path: Path) => stats(short[path])
      const rate = (path: Path) => medianRate(parallel[path])
      const latencyRows = (
        comparison: string,
        metric: (path: Path) => Stats,
        goal: boolean,
        addedToProxyMs?: number
      ): Array<Row> => [
        {
          kind: "latency",
          benchmark: "chat",
          comparison: `gateway vs upstream: ${comparison}`,
          candidate: metric("gateway"),
          baseline: metric("direct"),
          ...(goal ? { goal: oneMs(metric("gateway"), metric("direct")) } : {})
        },
        {
          kind: "latency",
          benchmark: "chat",
          comparison: `gateway vs plain Node proxy: ${comparison}`,
          candidate: metric("gateway"),
          baseline: metric("proxy"),
          ...(addedToProxyMs === undefined
            ? {}
            : {
                goal: {
                  text: `≤ +${addedToProxyMs} ms at p50`,
                  met: metric("gateway").p50 - metric("proxy").p50 <= addedToProxyMs
                }
              })
        }
      ]
      const rows: Array<Row> = [
        ...latencyRows(`stream of ${streamChunks} chunks, time to first byte`, ttfb, true, 0.1),
        {
          kind: "latency",
          benchmark: "chat",
          comparison: `floor: one route on effect's HTTP server vs plain Node proxy: stream of ${streamChunks} chunks, time to first byte`,
          candidate: ttfb("effect"),
          baseline: ttfb("proxy")
        },
        ...latencyRows(
          `stream of ${streamChunks} chunks (${(streamBytes / 1024).toFixed(0)} KiB), total time`,
          whole,
          true
        ),
        ...latencyRows("short non-streaming completion, one at a time", one, true),
        {
          kind: "latency",
          benchmark: "chat",
          comparison: `gateway vs upstream: short completion, latency at concurrency ${concurrency}`,
          concurrent: true,
          candidate: stats(allLatencies(parallel.gateway)),
          baseline: stats(allLatencies(parallel.direct))
        },
        {
          kind: "throughput",
          benchmark: "chat",
          comparison: `gateway vs upstream: short completions, requests/s at concurrency ${concurrency}`,
          candidate: rate("gateway"),
          baseline: rate("direct"),
          rounds,
          unit: "req",
          ratioRange: pairedRange(parallel.gateway, parallel.direct),
          goal: { text: "≥ 90% of direct", met: rate("gateway") >= 0.9 * rate("direct") }
        },
        {
          kind: "throughput",
          benchmark: "chat",
          comparison: `gateway vs plain Node proxy: short completions, requests/s at concurrency ${concurrency}`,
          candidate: rate("gateway"),
          baseline: rate("proxy"),
          rounds,
          unit: "req",
          ratioRange: pairedRange(parallel.gateway, parallel.proxy),
          goal: { text: "≥ 0.9× the plain proxy", met: rate("gateway") >= 0.9 * rate("proxy") },
          note:
            `the plain Node proxy reaches ${((rate("proxy") / rate("direct")) * 100).toFixed(0)}% of the direct rate: on this machine client, proxy and upstream share the cores, so any hop costs throughput. ` +
            `CPU per request (${cpuTotal} at concurrency ${concurrency}): gateway ${cpuMs(cpuGateway.hop)} ms, plain proxy ${cpuMs(cpuProxy.hop)} ms ` +
            `(client ${cpuMs(cpuGateway.client)} / ${cpuMs(cpuProxy.client)}, upstream ${cpuMs(cpuGateway.upstream)} / ${cpuMs(cpuProxy.upstream)})`
        },
        {
          kind: "throughput",
          benchmark: "chat",
          comparison: `floor: one route on effect's HTTP server, nothing else, vs plain Node proxy: requests/s at concurrency ${concurrency}`,
          candidate: rate("effect"),
          baseline: rate("proxy"),
          rounds,
          unit: "req",
          ratioRange: pairedRange(parallel.effect, parallel.proxy),
          note:
            `the least a route served by effect's HTTP server costs here (bench/support/EffectProxy.ts); the gateway reaches ${((rate("gateway") / rate("effect")) * 100).toFixed(0)}% of it. ` +
            `CPU per request: effect floor ${cpuMs(cpuEffect.hop)} ms, gateway ${cpuMs(cpuGateway.hop)} ms, plain proxy ${cpuMs(cpuProxy.hop)} ms`
        }
      ]
      return rows
    } finally {
      http.close()
      for (const child of children.reverse()) await child.close()
    }
  }
}
