/**
 * OTLP export: an OTLP/HTTP endpoint in the test receives what the gateway
 * exports while a chat runs two tool calls (one on a stdio server, one on an
 * HTTP MCP server), decodes it with the OpenTelemetry protobuf definitions
 * (`@opentelemetry/otlp-transformer`'s generated code) and checks the span
 * tree, the semantic-convention attributes, that the upstream and the HTTP MCP
 * server received the W3C `traceparent` of that trace, and that no secret is
 * anywhere in what was exported.
 */
import { createServer, type IncomingHttpHeaders } from "node:http"
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import { httpTestServer } from "@mcpgate/testing/HttpTestServer"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import OpenAI from "openai"
import * as ObservedGateway from "./support/ObservedGateway.ts"

const { secrets } = ObservedGateway

interface ProtoAnyValue {
  readonly stringValue?: string
  readonly intValue?: { toString(): string } | number
  readonly boolValue?: boolean
  readonly doubleValue?: number
}
interface ProtoSpan {
  readonly traceId: Uint8Array
  readonly spanId: Uint8Array
  readonly parentSpanId: Uint8Array | null
  readonly name: string
  readonly kind: number
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: ProtoAnyValue }>
}
interface ProtoTraces {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: {
      readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: ProtoAnyValue }>
    }
    readonly scopeSpans: ReadonlyArray<{ readonly spans: ReadonlyArray<ProtoSpan> }>
  }>
}
interface ProtoMetrics {
  readonly resourceMetrics: ReadonlyArray<{
    readonly scopeMetrics: ReadonlyArray<{ readonly metrics: ReadonlyArray<{ readonly name: string }> }>
  }>
}
interface Decoder<A> {
  decode(bytes: Uint8Array): A
}
interface OtlpRoot {
  readonly opentelemetry: {
    readonly proto: {
      readonly collector: {
        readonly trace: { readonly v1: { readonly ExportTraceServiceRequest: Decoder<ProtoTraces> } }
        readonly metrics: { readonly v1: { readonly ExportMetricsServiceRequest: Decoder<ProtoMetrics> } }
      }
    }
  }
}

// The OpenTelemetry project's protobufjs code generated from opentelemetry-proto.
const root = createRequire(import.meta.url)(
  "@opentelemetry/otlp-transformer/build/src/generated/root.js"
) as OtlpRoot
const { trace, metrics } = root.opentelemetry.proto.collector

// A root span has no parent id: protobufjs decodes the absent field as null.
const hex = (bytes: Uint8Array | null | undefined) =>
  bytes == null ? "" : Buffer.from(bytes).toString("hex")

interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  readonly kind: number
  readonly attributes: Record<string, string | number | boolean>
}

const attributeValue = (value: ProtoAnyValue): string | number | boolean =>
  value.stringValue ??
  value.boolValue ??
  value.doubleValue ??
  (value.intValue === undefined ? "" : Number(value.intValue.toString()))

/** An OTLP/HTTP receiver on 127.0.0.1 keeping every body it gets. */
const otlpReceiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{
        readonly url: string
        readonly bodies: Array<{ readonly path: string; readonly contentType: string; readonly body: Buffer }>
        readonly close: () => void
      }>((resolve) => {
        const bodies: Array<{ path: string; contentType: string; body: Buffer }> = []
        const server = createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => {
            bodies.push({
              path: request.url ?? "",
              contentType: request.headers["content-type"] ?? "",
              body: Buffer.concat(chunks)
            })
            response.writeHead(200, { "content-type": "application/x-protobuf" })
            response.end()
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resolve({ url: `http://127.0.0.1:${port}`, bodies, close: () => server.close() })
        })
      })
  ),
  (receiver) => Effect.sync(receiver.close)
)

const spansOf = (
  bodies: ReadonlyArray<{ readonly path: string; readonly body: Buffer }>
): ReadonlyArray<Span> =>
  bodies
    .filter((entry) => entry.path === "/v1/traces")
    .flatMap((entry) => trace.v1.ExportTraceServiceRequest.decode(entry.body).resourceSpans)
    .flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans))
    .map((span) => ({
      traceId: hex(span.traceId),
      spanId: hex(span.spanId),
      parentSpanId: hex(span.parentSpanId),
      name: span.name,
      kind: span.kind,
      attributes: Object.fromEntries(span.attributes.map((entry) => [entry.key, attributeValue(entry.value)]))
    }))

/** `traceparent: 00-<trace-id>-<parent-id>-<flags>` (W3C Trace Context §3.2). */
const parseTraceparent = (headers: IncomingHttpHeaders) => {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(String(headers.traceparent ?? ""))
  return match === null ? undefined : { traceId: match[1] ?? "", parentId: match[2] ?? "" }
}

/** The names of the metrics in every export received so far. */
const metricNamesOf = (bodies: ReadonlyArray<{ readonly path: string; readonly body: Uint8Array }>) =>
  bodies
    .filter((entry) => entry.path === "/v1/metrics")
    .flatMap((entry) => metrics.v1.ExportMetricsServiceRequest.decode(entry.body).resourceMetrics)
    .flatMap((resource) =>
      resource.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.name))
    )

// OTLP span kinds (opentelemetry-proto trace.proto `SpanKind`).
const SERVER = 2
const CLIENT = 3

describe("OTLP export", () => {
  it.live(
    "exports the span tree of a chat with two tool calls, passes traceparent on, and leaks no secret",
    () =>
      Effect.gen(function* () {
        const receiver = yield* otlpReceiver
        const mcpHeaders: Array<IncomingHttpHeaders> = []
        const http = yield* httpTestServer({ onRequest: (request) => mcpHeaders.push(request.headers) })
        const upstream = yield* ScriptedUpstream.make([
          {
            toolCalls: [
              { id: "call_1", name: "t__echo", arguments: '{"text":"stdio"}' },
              { id: "call_2", name: "h__echo", arguments: '{"text":"http"}' }
            ],
            usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }
          },
          { content: "done", usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 } }
        ])
        const gateway = yield* ObservedGateway.start({
          upstreamBaseUrl: upstream.baseUrl,
          servers: [Configs.stdioServer("t"), Configs.server("h", { url: `${http.base()}/mcp` })],
          otelEnv: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
            OTEL_BSP_SCHEDULE_DELAY: "200",
            OTEL_METRIC_EXPORT_INTERVAL: "300",
            OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test"
          }
        })

        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: secrets.apiKey, maxRetries: 0 })
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "scripted-model",
            messages: [{ role: "user", content: "call two tools" }],
            ...{ execute_mcp_tools: true }
          })
        )
        assert.strictEqual(completion.choices[0]?.message.content, "done")

        // The exporter sends every 200 ms: wait for the request's server span and both tool spans.
        const spans = yield* Effect.promise(async () => {
          for (let attempt = 0; attempt < 200; attempt++) {
            const all = spansOf(receiver.bodies)
            const done =
              all.some(
                (span) => span.kind === SERVER && span.attributes["url.path"] === "/v1/chat/completions"
              ) &&
              all.filter((span) => span.name === "tools/call echo").length === 2 &&
              // An export from before the chat has no tool calls yet: wait for one after it.
              metricNamesOf(receiver.bodies).includes("mcpgate_tool_calls_total")
            if (done) return all
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
          return spansOf(receiver.bodies)
        })
        const names = spans.map((span) => span.name)
        const request = spans.find(
          (span) => span.kind === SERVER && span.attributes["url.path"] === "/v1/chat/completions"
        )
        if (request === undefined) return assert.fail(`no server span for the chat in ${names.join(", ")}`)
        assert.strictEqual(request.name, "POST /v1/chat/completions")
        assert.strictEqual(request.attributes["http.request.method"], "POST")
        assert.strictEqual(request.attributes["http.response.status_code"], 200)
        assert.strictEqual(request.parentSpanId, "", "the chat request starts the trace")

        const inTrace = spans.filter((span) => span.traceId === request.traceId)
        const byId = new Map(inTrace.map((span) => [span.spanId, span]))
        const ancestors = (span: Span): ReadonlyArray<Span> => {
          const parent = byId.get(span.parentSpanId)
          return parent === undefined ? [] : [parent, ...ancestors(parent)]
        }
        const under = (span: Span, name: string) => ancestors(span).some((ancestor) => ancestor.name === name)

        // Two model calls (GenAI client spans), each with its HTTP client span below it.
        const chats = inTrace.filter((span) => span.name === "chat scripted-model")
        assert.strictEqual(chats.length, 2, names.join(", "))
        for (const chat of chats) {
          assert.strictEqual(chat.kind, CLIENT)
          assert.strictEqual(chat.attributes["gen_ai.operation.name"], "chat")
          assert.strictEqual(chat.attributes["gen_ai.request.model"], "scripted-model")
          assert.isTrue(ancestors(chat).includes(request))
        }
        assert.deepStrictEqual(
          chats.map((chat) => chat.attributes["gen_ai.usage.input_tokens"]).sort(),
          [11, 20]
        )
        const upstreamCalls = inTrace.filter(
          (span) =>
            span.kind === CLIENT && String(span.attributes["url.full"] ?? "").startsWith(upstream.baseUrl)
        )
        assert.strictEqual(upstreamCalls.length, 2)
        for (const call of upstreamCalls)
          assert.isTrue(chats.some((chat) => chat.spanId === call.parentSpanId))

        // One round ran both tools; each tool call is a span of that round.
        const round = inTrace.find((span) => span.name === "mcpgate.tool_loop.round")
        if (round === undefined) return assert.fail(`no round span in ${names.join(", ")}`)
        assert.strictEqual(round.attributes["mcpgate.tool_loop.round"], 0)
        assert.strictEqual(round.attributes["mcpgate.tool_loop.tool_calls"], 2)
        assert.isTrue(ancestors(round).includes(request))
        const tools = inTrace.filter((span) => span.name === "tools/call echo")
        assert.deepStrictEqual(tools.map((span) => span.attributes["mcpgate.mcp.server"]).sort(), ["h", "t"])
        for (const tool of tools) {
          assert.isTrue(under(tool, "mcpgate.tool_loop.round"))
          assert.strictEqual(tool.kind, CLIENT)
          assert.strictEqual(tool.attributes["mcp.method.name"], "tools/call")
          assert.strictEqual(tool.attributes["gen_ai.tool.name"], "echo")
          assert.strictEqual(tool.attributes["gen_ai.operation.name"], "execute_tool")
        }

        // The upstream got this trace's context from the HTTP client span that called it.
        const upstreamParents = upstream.requests.map((recorded) => parseTraceparent(recorded.headers))
        assert.strictEqual(upstreamParents.length, 2)
        for (const parent of upstreamParents) {
          assert.strictEqual(parent?.traceId, request.traceId)
          assert.isTrue(upstreamCalls.some((call) => call.spanId === parent?.parentId))
        }
        // The HTTP MCP server got it on the tools/call, from the tool call's span (or one below it).
        const mcpParents = mcpHeaders
          .map(parseTraceparent)
          .filter((parent) => parent?.traceId === request.traceId)
        assert.isAbove(mcpParents.length, 0, "the HTTP MCP server saw the chat's traceparent")
        const httpTool = tools.find((span) => span.attributes["mcpgate.mcp.server"] === "h")
        for (const parent of mcpParents) {
          const span = byId.get(parent?.parentId ?? "")
          assert.isTrue(
            span !== undefined && (span === httpTool || ancestors(span).includes(httpTool as Span))
          )
        }

        // Metrics go out too, under the same names as on /metrics.
        const metricNames = metricNamesOf(receiver.bodies)
        assert.include(metricNames, "mcpgate_tool_calls_total")
        assert.include(metricNames, "mcpgate_http_requests_total")

        // No secret in anything exported, raw or decoded.
        const decoded = JSON.stringify(spans)
        for (const entry of receiver.bodies) {
          assert.strictEqual(entry.contentType, "application/x-protobuf")
          for (const secret of Object.values(secrets))
            assert.notInclude(entry.body.toString("latin1"), secret)
        }
        for (const secret of Object.values(secrets)) assert.notInclude(decoded, secret)
      }).pipe(Effect.scoped),
    60_000
  )
  it.live(
    "puts the usage of streamed answers on the spans: each chat of the tool loop, and a passed-through chat",
    () =>
      Effect.gen(function* () {
        const receiver = yield* otlpReceiver
        const upstream = yield* ScriptedUpstream.make([
          {
            toolCalls: [{ id: "call_1", name: "t__echo", arguments: '{"text":"x"}' }],
            usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }
          },
          { content: "done", usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 } },
          { content: "passed", usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }
        ])
        const gateway = yield* ObservedGateway.start({
          upstreamBaseUrl: upstream.baseUrl,
          otelEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "200" }
        })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: secrets.apiKey, maxRetries: 0 })
        const readAll = (stream: AsyncIterable<unknown>) =>
          Effect.promise(async () => {
            for await (const _ of stream) {
              // to the end
            }
          })
        const messages = [{ role: "user" as const, content: "hi" }]
        yield* readAll(
          yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "scripted-model",
              messages,
              stream: true,
              ...{ execute_mcp_tools: true }
            })
          )
        )
        yield* readAll(
          yield* Effect.promise(() =>
            client.chat.completions.create({
              model: "scripted-model",
              messages,
              stream: true,
              stream_options: { include_usage: true }
            })
          )
        )
        const spans = yield* Effect.promise(async () => {
          for (let attempt = 0; attempt < 200; attempt++) {
            const all = spansOf(receiver.bodies)
            const servers = all.filter((span) => span.name === "POST /v1/chat/completions")
            if (
              servers.length === 2 &&
              all.filter((span) => span.name === "chat scripted-model").length === 2
            )
              return all
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
          return spansOf(receiver.bodies)
        })
        const chats = spans.filter((span) => span.name === "chat scripted-model")
        assert.deepStrictEqual(
          chats
            .map((chat) => [
              chat.attributes["gen_ai.usage.input_tokens"],
              chat.attributes["gen_ai.usage.output_tokens"]
            ])
            .sort(),
          [
            [11, 7],
            [20, 3]
          ],
          spans.map((span) => span.name).join(", ")
        )
        const passed = spans.find(
          (span) =>
            span.name === "POST /v1/chat/completions" && !chats.some((chat) => chat.traceId === span.traceId)
        )
        assert.strictEqual(passed?.attributes["gen_ai.usage.input_tokens"], 5)
        assert.strictEqual(passed?.attributes["gen_ai.usage.output_tokens"], 2)
        // The pass-through sends its server span's trace context, and the upstream key, not the client's.
        const forwarded = upstream.requests.at(-1)
        assert.strictEqual(parseTraceparent(forwarded?.headers ?? {})?.parentId, passed?.spanId)
        assert.strictEqual(forwarded?.headers.authorization, `Bearer ${secrets.upstreamKey}`)
      }).pipe(Effect.scoped),
    60_000
  )
})
