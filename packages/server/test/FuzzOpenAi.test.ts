/**
 * Fuzzing the gateway's HTTP surface (`Gateway.layer`, real sockets): OpenAI
 * request bodies (raw bytes, any JSON, chat-shaped documents with wrong types),
 * what the model answers inside the tool loop (tool calls with made-up names,
 * ids and arguments), tool names on `/v1/mcp/execute` and `/mcp`, and JSON-RPC
 * bodies on `/mcp`. No input may produce a 500 (the gateway's "internal error"
 * for a defect) or take it down; the status says what went wrong.
 *
 * Fixed seed and bounded runs in the normal suite; a longer run on demand:
 *   FUZZ_RUNS=5000 node_modules/.bin/vitest run --config vitest.workspace.ts packages/server/test/FuzzOpenAi.test.ts
 */
import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as FaultGateway from "./support/FaultGateway.ts"
import * as FaultMcpServer from "./support/FaultMcpServer.ts"

const longRun = process.env.FUZZ_RUNS !== undefined
const params = (normal: number) => ({
  seed: Number(process.env.FUZZ_SEED ?? 20_260_703),
  numRuns: longRun ? Number(process.env.FUZZ_RUNS) : normal
})
const timeout = longRun ? 24 * 60 * 60_000 : 20_000

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The model's next answers, set by each run (the loop asks once per round). */
const model: { turns: Array<ScriptedUpstream.Turn> } = { turns: [] }

const script: ScriptedUpstream.Script = (body) => {
  const next = model.turns.shift()
  if (next !== undefined) return next
  return { content: body.tools === undefined ? "plain" : "done" }
}

/** One gateway for the whole file: a real MCP server (`remote__echo`, `remote__slow`) and the scripted model. */
const setup = Effect.gen(function* () {
  const mcp = yield* FaultMcpServer.start
  const upstream = yield* ScriptedUpstream.make(script)
  const home = yield* FaultGateway.tempHome
  const config = Configs.gateway([Configs.server("remote", { transport: "streamable-http", url: mcp.url })], {
    maxToolCalls: 3,
    server: { host: "127.0.0.1", port: 0, upstream: { baseUrl: upstream.baseUrl } }
  })
  const gateway = yield* FaultGateway.start(config, home)
  yield* FaultGateway.eventually(
    async () => ((await gateway.serverState("remote")).state === "connected" ? true : undefined),
    "the MCP server to connect"
  )
  return gateway
})

const post = (
  gateway: FaultGateway.FaultGateway,
  path: string,
  body: string,
  headers: Record<string, string> = {}
) =>
  gateway.request(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body })

/** Not a defect: any status but 500, and an error status comes with the JSON error shape. */
const assertHandled = (reply: FaultGateway.Reply, what: string) => {
  assert.notStrictEqual(reply.status, 500, `${what} → 500: ${reply.text.slice(0, 500)}`)
  assert.isBelow(reply.status, 600, what)
  if (reply.status >= 400 && reply.status !== 404) {
    const error = isRecord(reply.json) && isRecord(reply.json.error) ? reply.json.error : undefined
    assert.isDefined(error, `${what} → ${reply.status} without {error}: ${reply.text.slice(0, 300)}`)
    assert.isString(error?.message, what)
  }
}

/** A streamed answer is well formed: `data:` events of JSON, one final [DONE]. */
const assertStream = (text: string, what: string) => {
  const payloads = text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => block.replace(/^data: /, ""))
  assert.strictEqual(payloads.at(-1), "[DONE]", `${what}: ${text.slice(-300)}`)
  assert.strictEqual(payloads.filter((payload) => payload === "[DONE]").length, 1, what)
  for (const payload of payloads.slice(0, -1)) JSON.parse(payload)
}

/**
 * Text from the Basic Multilingual Plane only where the scripted model repeats it:
 * it splits its answers at arbitrary UTF-16 offsets, which would cut a surrogate pair.
 */
const bmpText = (maxLength: number) =>
  fc.string({ unit: fc.nat({ max: 0xd7ff }).map((code) => String.fromCharCode(code)), maxLength })

const toolName = fc.oneof(
  fc.constantFrom(
    "remote__echo",
    "remote__slow",
    "remote_echo",
    "remote__",
    "__echo",
    "REMOTE__ECHO",
    "remote__echo ",
    "remote__echo\u0000",
    "builtin__fetch",
    "",
    "a".repeat(300),
    "constructor",
    "__proto__",
    "toString"
  ),
  fc.string({ maxLength: 20 }),
  bmpText(10)
)
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 30 }),
  fc.constantFrom("{", "[]", "null", '{"text": 1}', '{"text": "hi"}', '{"ms": -1}', '{"ms": 1e309}')
)
const message = fc.oneof(
  fc.record(
    {
      role: fc.oneof(
        fc.constantFrom("user", "assistant", "system", "tool", "developer"),
        fc.string({ maxLength: 6 })
      ),
      content: fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null), fc.jsonValue({ maxDepth: 2 })),
      tool_call_id: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()),
      tool_calls: fc.oneof(
        fc.array(
          fc.record(
            {
              id: fc.oneof(fc.string({ maxLength: 6 }), fc.integer()),
              type: fc.constantFrom("function", "other"),
              function: fc.oneof(
                fc.record({ name: toolName, arguments: fc.oneof(jsonish.map(String), fc.jsonValue()) }),
                fc.jsonValue({ maxDepth: 1 })
              )
            },
            { requiredKeys: [] }
          ),
          { maxLength: 3 }
        ),
        fc.jsonValue({ maxDepth: 1 })
      )
    },
    { requiredKeys: [] }
  ),
  fc.jsonValue({ maxDepth: 2 })
)
const chatRequest = fc.record(
  {
    model: fc.oneof(fc.constant("fuzz-model"), fc.jsonValue({ maxDepth: 1 })),
    messages: fc.oneof(fc.array(message, { maxLength: 5 }), fc.jsonValue({ maxDepth: 1 })),
    execute_mcp_tools: fc.oneof(fc.boolean(), fc.constantFrom("yes", 1, null)),
    stream: fc.oneof(fc.boolean(), fc.constantFrom("true", 1, null)),
    stream_options: fc.oneof(
      fc.record({ include_usage: fc.oneof(fc.boolean(), fc.string()) }),
      fc.jsonValue()
    ),
    tools: fc.oneof(
      fc.array(
        fc.record({
          type: fc.constantFrom("function", "web_search", ""),
          function: fc.record(
            { name: toolName, parameters: fc.jsonValue({ maxDepth: 2 }) },
            { requiredKeys: [] }
          )
        }),
        { maxLength: 3 }
      ),
      fc.jsonValue({ maxDepth: 1 })
    ),
    tool_choice: fc.oneof(
      fc.constantFrom("auto", "none", "required"),
      fc.record({ type: fc.constant("function"), function: fc.record({ name: toolName }) }),
      fc.jsonValue({ maxDepth: 1 })
    ),
    n: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.string())
  },
  { requiredKeys: [] }
)
const rawBody = fc.oneof(
  { weight: 4, arbitrary: chatRequest.map((body) => JSON.stringify(body)) },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", "{", '{"model": "m", "messages": []', "\uFEFF{}", "null", "[]")
  }
)

describe("fuzzing the gateway's HTTP surface", () => {
  it.live(
    "chat request bodies: never a 500; streams well formed",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(rawBody, async (body) => {
              model.turns = []
              const reply = await post(gateway, "/v1/chat/completions", body)
              assertHandled(reply, `chat ${body.slice(0, 200)}`)
              if (reply.status === 200 && reply.text.startsWith("data: "))
                assertStream(reply.text, body.slice(0, 200))
            }),
            params(150)
          )
        )
        assert.strictEqual((yield* Effect.promise(() => gateway.request("/health"))).status, 200)
      }).pipe(Effect.scoped),
    timeout
  )

  const toolCall = fc.record({
    id: fc.oneof(fc.constantFrom("call_1", "call_1", ""), fc.string({ maxLength: 6 })),
    name: toolName,
    arguments: jsonish.map((value) => (typeof value === "string" ? value : JSON.stringify(value)))
  })
  const turn: fc.Arbitrary<ScriptedUpstream.Turn> = fc.record(
    {
      content: bmpText(20),
      reasoning: fc.string({ maxLength: 10 }),
      toolCalls: fc.array(toolCall, { maxLength: 3 }),
      finishReason: fc.constantFrom("stop", "tool_calls", "length", "content_filter", "weird")
    },
    { requiredKeys: [] }
  )

  it.live(
    "what the model answers in the tool loop (made-up tools, ids, arguments): never a 500, every call ends",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(turn, { minLength: 1, maxLength: 5 }),
              fc.boolean(),
              async (turns, stream) => {
                // `slow` may be called: keep it short so a run stays fast.
                model.turns = turns.map((t) => ({
                  ...t,
                  ...(t.toolCalls === undefined
                    ? {}
                    : {
                        toolCalls: t.toolCalls.map((call) =>
                          call.name === "remote__slow" ? { ...call, arguments: '{"ms": 1}' } : call
                        )
                      })
                }))
                const body = JSON.stringify({
                  model: "fuzz-model",
                  messages: [{ role: "user", content: "go" }],
                  execute_mcp_tools: true,
                  stream
                })
                const reply = await post(gateway, "/v1/chat/completions", body)
                const what = JSON.stringify(turns).slice(0, 400)
                assertHandled(reply, what)
                assert.strictEqual(reply.status, 200, `${what}: ${reply.text.slice(0, 300)}`)
                if (stream) {
                  assertStream(reply.text, what)
                  return
                }
                const events =
                  isRecord(reply.json) && Array.isArray(reply.json.mcp_tool_events)
                    ? reply.json.mcp_tool_events
                    : []
                const started = events.filter((event) => isRecord(event) && event.status === "started").length
                const ended = events.filter((event) => isRecord(event) && event.status !== "started").length
                assert.strictEqual(started, ended, `every call ends: ${reply.text.slice(0, 300)}`)
              }
            ),
            params(120)
          )
        )
        model.turns = []
      }).pipe(Effect.scoped),
    timeout
  )

  it.live(
    "tool names and arguments on /v1/mcp/execute and /mcp, and any JSON-RPC body on /mcp: never a 500",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        const mcpHeaders = {
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-11-25"
        }
        const initialize = yield* Effect.promise(() =>
          fetch(`${gateway.url}/mcp`, {
            method: "POST",
            headers: { "content-type": "application/json", ...mcpHeaders },
            body: JSON.stringify({
              jsonrpc: "2.0",
              id: 0,
              method: "initialize",
              params: {
                protocolVersion: "2025-11-25",
                capabilities: {},
                clientInfo: { name: "fuzz", version: "1" }
              }
            })
          })
        )
        yield* Effect.promise(() => initialize.text())
        const session = initialize.headers.get("mcp-session-id") ?? ""
        assert.notStrictEqual(session, "")
        const withSession = { ...mcpHeaders, "mcp-session-id": session }
        yield* Effect.promise(() =>
          post(
            gateway,
            "/mcp",
            JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
            withSession
          )
        )

        const rpc = fc.oneof(
          fc.record({
            jsonrpc: fc.constant("2.0"),
            id: fc.oneof(fc.integer(), fc.string({ maxLength: 5 })),
            method: fc.constant("tools/call"),
            params: fc
              .record(
                {
                  name: fc.oneof(toolName, fc.jsonValue({ maxDepth: 1 })),
                  arguments: fc.jsonValue({ maxDepth: 2 })
                },
                { requiredKeys: [] }
              )
              .map((params) =>
                params.name === "remote__slow" ? { ...params, arguments: { ms: 1 } } : params
              )
          }),
          fc.record(
            {
              jsonrpc: fc.oneof(fc.constant("2.0"), fc.string({ maxLength: 3 })),
              id: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)),
              method: fc.oneof(
                fc.constantFrom(
                  "tools/list",
                  "tools/call",
                  "ping",
                  "initialize",
                  "resources/list",
                  "notifications/cancelled"
                ),
                fc.string({ maxLength: 10 })
              ),
              params: fc.jsonValue({ maxDepth: 2 })
            },
            { requiredKeys: [] }
          ),
          fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 })
        )
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              toolName,
              fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ text: fc.string(), ms: fc.constant(1) })),
              rpc,
              fc.boolean(),
              async (name, generatedArgs, message, useSession) => {
                // `slow` without `ms` sleeps a minute: keep every run fast.
                const args = name === "remote__slow" ? { ms: 1 } : generatedArgs
                const execute = await post(
                  gateway,
                  "/v1/mcp/execute",
                  JSON.stringify({ tool_name: name, arguments: args })
                )
                assertHandled(execute, `execute ${JSON.stringify(name)}`)
                assert.include([200, 400, 404, 502, 503, 504], execute.status, execute.text.slice(0, 200))
                const call = await post(
                  gateway,
                  "/mcp",
                  JSON.stringify({
                    jsonrpc: "2.0",
                    id: 1,
                    method: "tools/call",
                    params: { name, arguments: args }
                  }),
                  withSession
                )
                assertHandled(call, `/mcp tools/call ${JSON.stringify(name)}`)
                const any = await post(
                  gateway,
                  "/mcp",
                  JSON.stringify(message),
                  useSession ? withSession : mcpHeaders
                )
                assertHandled(any, `/mcp ${JSON.stringify(message).slice(0, 200)}`)
              }
            ),
            params(150)
          )
        )
        // The session still works after all that.
        const list = yield* Effect.promise(() =>
          post(gateway, "/mcp", JSON.stringify({ jsonrpc: "2.0", id: 99, method: "tools/list" }), withSession)
        )
        assert.strictEqual(list.status, 200)
        assert.include(list.text, "remote__echo")
      }).pipe(Effect.scoped),
    timeout
  )
})
