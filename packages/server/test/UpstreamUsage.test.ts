/**
 * `mcpgate_upstream_tokens_total` and the `model` label of the upstream
 * metrics for every way a model answer passes the gateway: passed through
 * (chat and Responses, streamed or not) and run by the tool loop (streamed
 * chat and Responses). What the client receives stays as the upstream sent
 * it; the tool loop asks its upstream for usage without showing the client a
 * usage chunk it did not ask for (docs/observability.md#metrics).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import OpenAI from "openai"
import * as ObservedGateway from "./support/ObservedGateway.ts"

const { secrets } = ObservedGateway

const usage = (input: number, output: number) => ({
  prompt_tokens: input,
  completion_tokens: output,
  total_tokens: input + output
})

/** The value of one series of `/metrics`, or `undefined` when it is not there. */
const scrape = (url: string) =>
  Effect.promise(async () => {
    const text = await fetch(`${url}/metrics`, {
      headers: { authorization: `Bearer ${secrets.metricsToken}` }
    }).then((response) => response.text())
    for (const secret of Object.values(secrets)) assert.notInclude(text, secret)
    return (series: string): number | undefined => {
      const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
      return line === undefined ? undefined : Number(line.slice(series.length + 1))
    }
  })

const tokens = (model: string, type: "input" | "output") =>
  `mcpgate_upstream_tokens_total{model="${model}",type="${type}"}`

/** Polls `/metrics` until `series` reaches `value` (the pass-through counts once the body ended). */
const waitForSeries = (url: string, series: string, value: number) =>
  Effect.gen(function* () {
    let last: number | undefined
    for (let attempt = 0; attempt < 100; attempt++) {
      last = (yield* scrape(url))(series)
      if (last === value) return last
      yield* Effect.sleep("50 millis")
    }
    return last
  })

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: secrets.apiKey, maxRetries: 0 })

const messages = [{ role: "user" as const, content: "hello" }]

describe("upstream token usage", () => {
  it.live(
    "a passed-through streamed chat with include_usage counts its usage; the bytes stay as sent",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([
          { content: "Hello there", usage: usage(12, 5) },
          { content: "again", usage: usage(100, 100) }
        ])
        const gateway = yield* ObservedGateway.start({ upstreamBaseUrl: upstream.baseUrl })
        const body = JSON.stringify({
          model: "scripted-model",
          messages,
          stream: true,
          stream_options: { include_usage: true }
        })
        const received = yield* Effect.promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${secrets.apiKey}`, "content-type": "application/json" },
            body
          }).then((response) => response.text())
        )
        const sent = upstream.requests[0]
        if (sent === undefined) return assert.fail("the upstream got no request")
        assert.strictEqual(received, upstream.responseBytes(sent).toString("utf8"))
        assert.strictEqual(sent.body.toString("utf8"), body, "the request went on unchanged")
        assert.strictEqual(yield* waitForSeries(gateway.url, tokens("scripted-model", "input"), 12), 12)
        const metrics = yield* scrape(gateway.url)
        assert.strictEqual(metrics(tokens("scripted-model", "output")), 5)
        assert.strictEqual(metrics('mcpgate_upstream_requests_total{model="scripted-model",outcome="ok"}'), 1)

        // Without include_usage the upstream reports none: nothing is added, nothing is asked for.
        yield* Effect.promise(() =>
          client(gateway.url)
            .chat.completions.create({ model: "scripted-model", messages, stream: true })
            .then(async (stream) => {
              for await (const _ of stream) {
                // read to the end
              }
            })
        )
        assert.notProperty(upstream.chatBodies()[1], "stream_options")
        const after = yield* scrape(gateway.url)
        assert.strictEqual(after('mcpgate_upstream_requests_total{model="scripted-model",outcome="ok"}'), 2)
        assert.strictEqual(after(tokens("scripted-model", "input")), 12)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "a passed-through chat that is not streamed counts its usage under its model",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([{ content: "Hi", usage: usage(7, 3) }])
        const gateway = yield* ObservedGateway.start({ upstreamBaseUrl: upstream.baseUrl })
        const completion = yield* Effect.promise(() =>
          client(gateway.url).chat.completions.create({ model: "gpt-test-1", messages })
        )
        assert.strictEqual(completion.choices[0]?.message.content, "Hi")
        assert.strictEqual(yield* waitForSeries(gateway.url, tokens("gpt-test-1", "input"), 7), 7)
        const metrics = yield* scrape(gateway.url)
        assert.strictEqual(metrics(tokens("gpt-test-1", "output")), 3)
        assert.strictEqual(metrics('mcpgate_upstream_requests_total{model="gpt-test-1",outcome="ok"}'), 1)
        assert.isUndefined(metrics('mcpgate_upstream_requests_total{model="",outcome="ok"}'))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "passed-through Responses, streamed and not, count input and output tokens",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make(
          [
            { content: "streamed answer", usage: usage(30, 4) },
            { content: "plain answer", usage: usage(9, 2) }
          ],
          { responses: true }
        )
        const gateway = yield* ObservedGateway.start({ upstreamBaseUrl: upstream.baseUrl })
        const openai = client(gateway.url)
        yield* Effect.promise(async () => {
          const stream = await openai.responses.create({
            model: "responses-model",
            input: "hi",
            stream: true
          })
          for await (const _ of stream) {
            // read to the end
          }
        })
        const plain = yield* Effect.promise(() =>
          openai.responses.create({ model: "responses-model", input: "hi" })
        )
        assert.strictEqual(plain.output_text, "plain answer")
        assert.strictEqual(yield* waitForSeries(gateway.url, tokens("responses-model", "input"), 39), 39)
        assert.strictEqual((yield* scrape(gateway.url))(tokens("responses-model", "output")), 6)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "the streamed tool loop counts every upstream call; the client gets no usage chunk it did not ask for",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([
          { toolCalls: [{ id: "call_1", name: "t__echo", arguments: '{"text":"x"}' }], usage: usage(11, 7) },
          { content: "done", usage: usage(20, 3) },
          { toolCalls: [{ id: "call_2", name: "t__echo", arguments: '{"text":"y"}' }], usage: usage(5, 1) },
          { content: "done again", usage: usage(6, 2) }
        ])
        const gateway = yield* ObservedGateway.start({ upstreamBaseUrl: upstream.baseUrl })
        const text = yield* Effect.promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${secrets.apiKey}`, "content-type": "application/json" },
            body: JSON.stringify({ model: "loop-model", messages, stream: true, execute_mcp_tools: true })
          }).then((response) => response.text())
        )
        assert.include(text, "done")
        assert.notInclude(text, '"usage":{', "the client did not ask for usage")
        for (const body of upstream.chatBodies()) {
          assert.deepStrictEqual(body.stream_options, { include_usage: true })
        }
        const metrics = yield* scrape(gateway.url)
        assert.strictEqual(metrics(tokens("loop-model", "input")), 31)
        assert.strictEqual(metrics(tokens("loop-model", "output")), 10)

        // The Responses API translated to the same loop.
        yield* Effect.promise(async () => {
          const stream = await client(gateway.url).responses.create({
            model: "loop-model",
            input: "call a tool",
            stream: true,
            ...{ execute_mcp_tools: true }
          })
          for await (const _ of stream) {
            // read to the end
          }
        })
        const after = yield* scrape(gateway.url)
        assert.strictEqual(after(tokens("loop-model", "input")), 42)
        assert.strictEqual(after(tokens("loop-model", "output")), 13)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "model labels stay bounded: a name that is no sane model name counts as other",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make(() => ({ content: "ok", usage: usage(1, 1) }))
        const gateway = yield* ObservedGateway.start({ upstreamBaseUrl: upstream.baseUrl })
        const odd = `a model with spaces ${"x".repeat(200)}`
        yield* Effect.promise(() => client(gateway.url).chat.completions.create({ model: odd, messages }))
        yield* Effect.promise(() => client(gateway.url).models.list())
        assert.strictEqual(yield* waitForSeries(gateway.url, tokens("other", "input"), 1), 1)
        const metrics = yield* scrape(gateway.url)
        assert.strictEqual(metrics('mcpgate_upstream_requests_total{model="other",outcome="ok"}'), 1)
        // `GET /v1/models` names no model.
        assert.strictEqual(metrics('mcpgate_upstream_requests_total{model="",outcome="ok"}'), 1)
      }).pipe(Effect.scoped),
    30_000
  )
})
