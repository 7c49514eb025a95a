/**
 * `/v1/responses` with the official `openai` client (`responses.create` and
 * `responses.stream`): passed through to an upstream with its own Responses
 * API, translated for a chat-only one, and with `mcp` tools run by the
 * gateway's tool loop; `previous_response_id` and `GET /v1/responses/{id}`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import { APIError } from "openai"
import type { ResponseStreamEvent } from "openai/resources/responses/responses"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

const usage = { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17 }
const weather = () =>
  InMemoryTools.make({
    weather__forecast: {
      description: "Forecast for a city",
      parameters: { type: "object", properties: { city: { type: "string" } } },
      run: (args) => ({ text: `sunny in ${(args as { city: string }).city}`, isError: false })
    },
    notion__search: { description: "Search Notion" }
  })
const mcpTool = { type: "mcp" as const, server_label: "weather", require_approval: "never" as const }

const paths = (upstream: ScriptedUpstream.ScriptedUpstream) =>
  upstream.requests.map((request) => request.path)

const start = (script: ScriptedUpstream.Script, responses: boolean, mode?: "native" | "translate") =>
  Effect.gen(function* () {
    const upstream = yield* ScriptedUpstream.make(script, { responses })
    const tools = weather()
    const gateway = yield* TestGateway.start({
      upstream: { baseUrl: upstream.baseUrl, ...(mode === undefined ? {} : { responses: mode }) },
      tools: tools.layer
    })
    return { upstream, gateway, tools }
  })

const collect = (
  gateway: TestGateway.TestGateway,
  params: Parameters<TestGateway.TestGateway["client"]["responses"]["stream"]>[0]
) =>
  TestGateway.promise(async () => {
    const stream = gateway.client.responses.stream(params)
    const events: Array<ResponseStreamEvent> = []
    for await (const event of stream) events.push(event)
    return { events, final: await stream.finalResponse() }
  })

describe("Responses API, upstream with its own", () => {
  it.live("auto passes create and stream through unchanged; chat completions are never called", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* start(
        [{ content: "Native hello.", usage }, { content: "Native stream." }],
        true
      )
      const response = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "hi", temperature: 0.5 }).asResponse()
      )
      const received = new Uint8Array(yield* TestGateway.promise(() => response.arrayBuffer()))
      const request = upstream.requests[0]
      assert.isTrue(
        Buffer.from(received).equals(
          request === undefined ? Buffer.alloc(0) : upstream.responseBytes(request)
        )
      )
      assert.isTrue(Buffer.from(gateway.sentBodies[0] ?? []).equals(request?.body ?? Buffer.alloc(0)))
      const { final, events } = yield* collect(gateway, { model: "m", input: "again" })
      assert.strictEqual(final.output_text, "Native stream.")
      assert.strictEqual(events.at(-1)?.type, "response.completed")
      assert.deepStrictEqual(paths(upstream), ["/v1/responses", "/v1/responses"])
    })
  )

  it.live('"translate" uses chat completions even when the upstream has the Responses API', () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* start([{ content: "Translated." }], true, "translate")
      const response = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "hi" })
      )
      assert.strictEqual(response.output_text, "Translated.")
      assert.deepStrictEqual(paths(upstream), ["/v1/chat/completions"])
    })
  )

  it.live("with mcp tools the gateway runs the loop (over chat completions) even so", () =>
    Effect.gen(function* () {
      const { upstream, gateway, tools } = yield* start(
        [
          { toolCalls: [{ id: "call_w", name: "weather__forecast", arguments: '{"city":"Lima"}' }] },
          { content: "Sunny in Lima." }
        ],
        true
      )
      const response = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "Weather in Lima?", tools: [mcpTool] })
      )
      assert.strictEqual(response.output_text, "Sunny in Lima.")
      assert.deepStrictEqual(tools.calls, [{ name: "weather__forecast", args: { city: "Lima" } }])
      assert.deepStrictEqual(paths(upstream), ["/v1/chat/completions", "/v1/chat/completions"])
    })
  )
})

describe("Responses API, chat-only upstream (translated)", () => {
  it.live(
    "auto finds out once that there is no Responses API, then translates; instructions, tools, usage",
    () =>
      Effect.gen(function* () {
        const { upstream, gateway } = yield* start(
          [
            { content: "Bonjour.", reasoning: "French it is.", usage },
            { toolCalls: [{ id: "call_t", name: "get_time", arguments: '{"zone":"CET"}' }] }
          ],
          false
        )
        const first = yield* TestGateway.promise(() =>
          gateway.client.responses.create({
            model: "m",
            instructions: "Answer in French.",
            input: [{ role: "user", content: [{ type: "input_text", text: "Hello" }] }],
            max_output_tokens: 50
          })
        )
        assert.strictEqual(first.output_text, "Bonjour.")
        assert.strictEqual(first.status, "completed")
        assert.match(first.id, /^resp_/)
        assert.deepStrictEqual(
          first.output.map((item) => item.type),
          ["reasoning", "message"]
        )
        assert.deepStrictEqual(first.usage, {
          input_tokens: 11,
          input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
          output_tokens: 6,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 17
        })
        const chat = upstream.chatBodies()[0]
        assert.deepStrictEqual(chat?.messages, [
          { role: "system", content: "Answer in French." },
          { role: "user", content: "Hello" }
        ])
        assert.strictEqual(chat?.max_tokens, 50)

        const second = yield* TestGateway.promise(() =>
          gateway.client.responses.create({
            model: "m",
            input: "What time is it?",
            tools: [{ type: "function", name: "get_time", parameters: { type: "object" }, strict: false }]
          })
        )
        const call = second.output.find((item) => item.type === "function_call")
        assert.deepStrictEqual(
          call && { name: call.name, call_id: call.call_id, arguments: call.arguments },
          { name: "get_time", call_id: "call_t", arguments: '{"zone":"CET"}' }
        )
        assert.deepStrictEqual(upstream.chatBodies()[1]?.tools, [
          { type: "function", function: { name: "get_time", parameters: { type: "object" }, strict: false } }
        ])
        // Probed once: the second request went straight to chat completions.
        assert.deepStrictEqual(paths(upstream), [
          "/v1/responses",
          "/v1/chat/completions",
          "/v1/chat/completions"
        ])
      })
  )

  it.live("after a failed translated request, auto finds out again", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* start(
        [
          { error: { status: 500, body: { error: { message: "model crashed", type: "server_error" } } } },
          { content: "Back again." }
        ],
        false
      )
      const failed = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "hi" })
      ).pipe(Effect.flip)
      assert.strictEqual((failed as APIError).status, 500)
      const response = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "hi" })
      )
      assert.strictEqual(response.output_text, "Back again.")
      assert.deepStrictEqual(paths(upstream), [
        "/v1/responses",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/chat/completions"
      ])
    })
  )

  it.live("responses.stream: created, text deltas, reasoning, completed with usage", () =>
    Effect.gen(function* () {
      const { gateway } = yield* start(
        [{ content: "Streamed answer.", reasoning: "Think.", usage }],
        false,
        "translate"
      )
      const { events, final } = yield* collect(gateway, { model: "m", input: "hi" })
      const types = events.map((event) => event.type)
      assert.strictEqual(types[0], "response.created")
      assert.strictEqual(types.at(-1), "response.completed")
      assert.include(types, "response.output_text.delta")
      assert.include(types, "response.reasoning_text.delta")
      assert.include(types, "response.content_part.added")
      assert.strictEqual(final.output_text, "Streamed answer.")
      assert.strictEqual(final.usage?.total_tokens, 17)
      const sequence = events.map((event) => event.sequence_number)
      assert.deepStrictEqual(
        sequence,
        sequence.map((_, index) => index)
      )
    })
  )

  it.live(
    "previous_response_id continues what the gateway kept; GET returns it; store: false keeps nothing",
    () =>
      Effect.gen(function* () {
        const { upstream, gateway } = yield* start(
          [
            { toolCalls: [{ id: "call_t", name: "get_time", arguments: "{}" }] },
            { content: "It is noon." },
            { content: "unused" }
          ],
          false,
          "translate"
        )
        const tools = [
          { type: "function" as const, name: "get_time", parameters: { type: "object" }, strict: false }
        ]
        const first = yield* TestGateway.promise(() =>
          gateway.client.responses.create({ model: "m", instructions: "Be brief.", input: "Time?", tools })
        )
        const second = yield* TestGateway.promise(() =>
          gateway.client.responses.create({
            model: "m",
            previous_response_id: first.id,
            input: [{ type: "function_call_output", call_id: "call_t", output: "12:00" }],
            tools
          })
        )
        assert.strictEqual(second.output_text, "It is noon.")
        assert.deepStrictEqual(upstream.chatBodies()[1]?.messages, [
          { role: "user", content: "Time?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_t", type: "function", function: { name: "get_time", arguments: "{}" } }]
          },
          { role: "tool", tool_call_id: "call_t", content: "12:00" }
        ])
        const kept = yield* TestGateway.promise(() => gateway.client.responses.retrieve(second.id))
        assert.strictEqual(kept.output_text, "It is noon.")
        yield* TestGateway.promise(() => gateway.client.responses.delete(first.id))
        const gone = yield* TestGateway.promise(() => gateway.client.responses.retrieve(first.id)).pipe(
          Effect.flip
        )
        // Not kept any more: asked of the upstream, which has no such route.
        assert.strictEqual((gone as APIError).status, 404)

        const unstored = yield* TestGateway.promise(() =>
          gateway.client.responses.create({ model: "m", input: "x", store: false })
        )
        const error = yield* TestGateway.promise(() =>
          gateway.client.responses.create({ model: "m", previous_response_id: unstored.id, input: "y" })
        ).pipe(Effect.flip)
        assert.instanceOf(error, APIError)
        assert.strictEqual((error as APIError).status, 400)
        assert.strictEqual((error as APIError).code, "previous_response_not_found")
      })
  )

  it.live("what cannot be translated is a 400 that says so", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* start([], false, "translate")
      const error = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "x", tools: [{ type: "web_search" }] })
      ).pipe(Effect.flip)
      assert.strictEqual((error as APIError).status, 400)
      assert.include((error as APIError).message, 'tools of type "web_search" cannot be translated')
      assert.strictEqual(upstream.requests.length, 0)
    })
  )
})

describe("Responses API with mcp tools", () => {
  const script: ReadonlyArray<ScriptedUpstream.Turn> = [
    {
      content: "Let me look.",
      toolCalls: [{ id: "call_w", name: "weather__forecast", arguments: '{"city":"Quito"}' }],
      usage
    },
    { content: "Quito: sunny.", usage }
  ]

  it.live("create: mcp_list_tools, mcp_call with its output, the answer; usage over both calls", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* start(script, false)
      const response = yield* TestGateway.promise(() =>
        gateway.client.responses.create({ model: "m", input: "Weather in Quito?", tools: [mcpTool] })
      )
      assert.deepStrictEqual(
        response.output.map((item) => item.type),
        ["mcp_list_tools", "message", "mcp_call", "message"]
      )
      const listing = response.output[0]
      assert.strictEqual(listing?.type === "mcp_list_tools" && listing.server_label, "weather")
      assert.deepStrictEqual(
        listing?.type === "mcp_list_tools" ? listing.tools.map((tool) => tool.name) : [],
        ["forecast"]
      )
      const call = response.output[2]
      assert.deepStrictEqual(
        call?.type === "mcp_call" && {
          server_label: call.server_label,
          name: call.name,
          arguments: call.arguments,
          output: call.output,
          status: call.status
        },
        {
          server_label: "weather",
          name: "forecast",
          arguments: '{"city":"Quito"}',
          output: "sunny in Quito",
          status: "completed"
        }
      )
      assert.strictEqual(response.output_text, "Let me look.Quito: sunny.")
      assert.strictEqual(response.usage?.total_tokens, 34)
      // Only the named server's tools were offered; the `mcp` entry never went upstream.
      const offered = upstream.chatBodies()[0]?.tools as Array<{ function: { name: string } }>
      assert.deepStrictEqual(
        offered.map((tool) => tool.function.name),
        ["weather__forecast"]
      )
    })
  )

  it.live("stream: the response.mcp_* events as OpenAI's hosted MCP tool sends them", () =>
    Effect.gen(function* () {
      const { gateway } = yield* start(script, false)
      const { events, final } = yield* collect(gateway, {
        model: "m",
        input: "Weather in Quito?",
        tools: [mcpTool]
      })
      const types = events.map((event) => event.type)
      const mcp = types.filter(
        (type) => type.startsWith("response.mcp") || type.startsWith("response.output_item")
      )
      assert.deepStrictEqual(mcp.slice(0, 4), [
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done"
      ])
      const callEvents = types.filter((type) => type.startsWith("response.mcp_call"))
      assert.deepStrictEqual(callEvents, [
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed"
      ])
      assert.deepStrictEqual(
        final.output.map((item) => item.type),
        ["mcp_list_tools", "message", "mcp_call", "message"]
      )
      const call = final.output.find((item) => item.type === "mcp_call")
      assert.strictEqual(call?.type === "mcp_call" && call.output, "sunny in Quito")
      assert.strictEqual(final.output_text, "Let me look.Quito: sunny.")
      assert.strictEqual(final.usage?.total_tokens, 34)
    })
  )

  it.live("an unknown server_label is a 400 that names the configured servers", () =>
    Effect.gen(function* () {
      const { gateway } = yield* start([], false)
      const error = yield* TestGateway.promise(() =>
        gateway.client.responses.create({
          model: "m",
          input: "x",
          tools: [{ type: "mcp", server_label: "jira", require_approval: "never" }]
        })
      ).pipe(Effect.flip)
      assert.strictEqual((error as APIError).status, 400)
      assert.include((error as APIError).message, 'no MCP server named "jira"')
    })
  )
})
