/**
 * responses: `POST /v1/responses` translated by the gateway to chat completions
 * (a chat-only upstream, `server.upstream.responses: "translate"`) against the
 * equivalent chat completion sent to the upstream directly: what translation
 * (request, answer, events) adds on top of a pass-through hop.
 *
 *   - a short non-streaming answer, one at a time;
 *   - a stream of 500 chunks turned into Responses events, total time.
 *
 * Goal: ≤ 2 ms added at p50 for the short answer (a pass-through hop alone is
 * about 1 ms here, see the chat rows).
 */
import { benchFile, type Child, startChild } from "./support/Child.ts"
import { type Benchmark, type Row, rotate, stats } from "./support/Harness.ts"
import { type HttpResult, makeHttpClient } from "./support/HttpClient.ts"

const streamChunks = 500
const system = "You are a helpful assistant."
const question = "Tell me a long story about a gateway."

const chatBody = (stream: boolean, maxTokens: number) =>
  JSON.stringify({
    model: "bench-model",
    messages: [
      { role: "system", content: system },
      { role: "user", content: question }
    ],
    max_tokens: maxTokens,
    ...(stream ? { stream: true } : {})
  })

const responsesBody = (stream: boolean, maxTokens: number) =>
  JSON.stringify({
    model: "bench-model",
    instructions: system,
    input: question,
    max_output_tokens: maxTokens,
    store: false,
    ...(stream ? { stream: true } : {})
  })

const expectOk = (result: HttpResult): HttpResult => {
  if (result.status !== 200) throw new Error(`HTTP ${result.status}`)
  return result
}

type Path = "responses" | "direct"

export const responses: Benchmark = {
  name: "responses",
  title: "/v1/responses translated to chat completions vs chat completions directly",
  run: async ({ quick, log }) => {
    const upstream = await startChild<{ baseUrl: string }>("upstream", benchFile("support/UpstreamServer.ts"))
    const http = makeHttpClient(8)
    const children: Array<Child<unknown>> = [upstream]
    try {
      const gateway = await startChild<{ url?: string; unavailable?: string }>(
        "gateway-responses",
        benchFile("support/GatewayServer.ts"),
        [JSON.stringify({ routes: ["responses"], upstream: upstream.ready.baseUrl })]
      )
      children.push(gateway)
      if (gateway.ready.url === undefined) throw new Error(gateway.ready.unavailable ?? "no gateway")
      const post = (path: Path, stream: boolean, tokens: number) =>
        path === "responses"
          ? http.post(`${gateway.ready.url}/v1/responses`, responsesBody(stream, tokens), {
              keepBody: !stream
            })
          : http.post(`${upstream.ready.baseUrl}/chat/completions`, chatBody(stream, tokens))

      // The translation must answer a real response object before it is timed.
      const check = expectOk(await post("responses", false, 16))
      const parsed = JSON.parse(check.body?.toString("utf8") ?? "{}") as {
        object?: string
        output_text?: string
      }
      if (parsed.object !== "response" || !parsed.output_text) throw new Error("no response object came back")

      const shorts = quick ? 100 : 600
      log(`responses: ${shorts} short answers per path, one at a time, rotating`)
      const short = await rotate(
        {
          responses: async () => expectOk(await post("responses", false, 16)).total,
          direct: async () => expectOk(await post("direct", false, 16)).total
        },
        { warmup: quick ? 30 : 150, samples: shorts }
      )
      const streams = quick ? 10 : 40
      log(`responses: ${streams} streams of ${streamChunks} chunks per path, rotating`)
      const streamed = await rotate(
        {
          responses: async () => expectOk(await post("responses", true, streamChunks)).total,
          direct: async () => expectOk(await post("direct", true, streamChunks)).total
        },
        { warmup: quick ? 3 : 8, samples: streams }
      )
      const shortStats = { responses: stats(short.responses), direct: stats(short.direct) }
      const rows: Array<Row> = [
        {
          kind: "latency",
          benchmark: "responses",
          comparison: "Responses via translation vs chat completions direct: short answer, one at a time",
          candidate: shortStats.responses,
          baseline: shortStats.direct,
          goal: { text: "≤ 2 ms added at p50", met: shortStats.responses.p50 - shortStats.direct.p50 <= 2 }
        },
        {
          kind: "latency",
          benchmark: "responses",
          comparison: `Responses via translation vs chat completions direct: stream of ${streamChunks} chunks, total time`,
          candidate: stats(streamed.responses),
          baseline: stats(streamed.direct)
        }
      ]
      return rows
    } finally {
      http.close()
      for (const child of children.reverse()) await child.close()
    }
  }
}
