import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import { APIError } from "openai"
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming
} from "openai/resources/chat/completions"
import type { ToolCallEvent } from "../src/openai/ToolLoop.ts"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

const messages = [{ role: "user" as const, content: "What is the weather in Paris and in Oslo?" }]
const usage1 = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
const usage2 = {
  prompt_tokens: 30,
  completion_tokens: 8,
  total_tokens: 38,
  completion_tokens_details: { reasoning_tokens: 3 }
}

const weatherTools = () =>
  InMemoryTools.make({
    weather__forecast: {
      description: "Forecast for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      run: (args) => ({ text: `sunny in ${(args as { city: string }).city}`, isError: false })
    }
  })

const twoRounds: ReadonlyArray<ScriptedUpstream.Turn> = [
  {
    content: "Let me check.",
    reasoning: "Two cities: call twice.",
    toolCalls: [
      { id: "call_paris", name: "weather__forecast", arguments: '{"city":"Paris"}' },
      { id: "call_oslo", name: "weather__forecast", arguments: '{"city":"Oslo"}' }
    ],
    usage: usage1
  },
  { content: "Sunny in both Paris and Oslo.", reasoning: "Both sunny.", usage: usage2 }
]

type McpCompletion = ChatCompletion & { mcp_tool_events: Array<ToolCallEvent> }
type McpDelta = ChatCompletionChunk.Choice.Delta & {
  tool_call_event?: ToolCallEvent
  reasoning_content?: string
}

const withMcp = <P extends object>(params: P): P => ({ ...params, execute_mcp_tools: true })

const complete = (gateway: TestGateway.TestGateway, params: ChatCompletionCreateParamsNonStreaming) =>
  TestGateway.promise(() => gateway.client.chat.completions.create(withMcp(params))).pipe(
    Effect.map((completion) => completion as McpCompletion)
  )

const streamed = (gateway: TestGateway.TestGateway, params: ChatCompletionCreateParamsStreaming) =>
  TestGateway.promise(async () => {
    const chunks: Array<ChatCompletionChunk> = []
    const stream = await gateway.client.chat.completions.create(withMcp(params))
    for await (const chunk of stream) chunks.push(chunk)
    return chunks
  })

const deltas = (chunks: ReadonlyArray<ChatCompletionChunk>) =>
  chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta as McpDelta))

const finishReasons = (chunks: ReadonlyArray<ChatCompletionChunk>) =>
  chunks
    .flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason))
    .filter((reason) => reason !== null)

/** The round-2 request must carry the assistant turn and one tool message per call, in call order. */
const assertSecondRound = (body: Record<string, unknown> | undefined) => {
  assert.isDefined(body)
  const sent = body?.messages as Array<Record<string, unknown>>
  assert.strictEqual(sent.length, 4)
  assert.deepStrictEqual(sent[0], messages[0])
  assert.deepStrictEqual(sent[1], {
    role: "assistant",
    content: "Let me check.",
    reasoning_content: "Two cities: call twice.",
    tool_calls: [
      {
        id: "call_paris",
        type: "function",
        function: { name: "weather__forecast", arguments: '{"city":"Paris"}' }
      },
      {
        id: "call_oslo",
        type: "function",
        function: { name: "weather__forecast", arguments: '{"city":"Oslo"}' }
      }
    ]
  })
  assert.deepStrictEqual(sent[2], { role: "tool", tool_call_id: "call_paris", content: "sunny in Paris" })
  assert.deepStrictEqual(sent[3], { role: "tool", tool_call_id: "call_oslo", content: "sunny in Oslo" })
}

describe("ToolLoop, non-streaming", () => {
  it.live("runs two rounds with parallel calls, sums usage, reports events", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make(twoRounds)
      // Each call waits until the other one started: only concurrent calls can finish.
      const tools = InMemoryTools.make({
        weather__forecast: {
          run: async (args) => {
            const city = (args as { city: string }).city
            await Promise.race([
              new Promise((resolve) => setTimeout(resolve, 2000)),
              (async () => {
                while (tools.calls.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
              })()
            ])
            return { text: `sunny in ${city}`, isError: tools.calls.length < 2 }
          }
        }
      })
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const completion = yield* complete(gateway, { model: "m", messages })

      assert.strictEqual(completion.choices[0]?.message.content, "Sunny in both Paris and Oslo.")
      assert.strictEqual(completion.choices[0]?.finish_reason, "stop")
      const final = completion.choices[0]?.message as { reasoning_content?: string } | undefined
      assert.strictEqual(final?.reasoning_content, "Both sunny.")
      assert.deepStrictEqual(completion.usage as unknown, {
        prompt_tokens: 40,
        completion_tokens: 13,
        total_tokens: 53,
        completion_tokens_details: { reasoning_tokens: 3 }
      })
      assert.deepStrictEqual(completion.mcp_tool_events.map((event) => [event.id, event.status]).sort(), [
        ["call_oslo", "completed"],
        ["call_oslo", "started"],
        ["call_paris", "completed"],
        ["call_paris", "started"]
      ])
      const done = completion.mcp_tool_events.find(
        (event) => event.id === "call_paris" && event.status === "completed"
      )
      assert.strictEqual(done?.result, "sunny in Paris")
      assert.strictEqual(done?.arguments, '{"city":"Paris"}')
      assert.isNumber(done?.duration_ms)

      const bodies = upstream.chatBodies()
      assert.strictEqual(bodies.length, 2)
      for (const body of bodies) {
        assert.notProperty(body, "execute_mcp_tools")
        assert.deepStrictEqual(body.tools, [
          {
            type: "function",
            function: {
              name: "weather__forecast",
              parameters: { type: "object", properties: {} }
            }
          }
        ])
      }
      assertSecondRound(bodies[1])
      assert.deepStrictEqual(tools.completed, ["weather__forecast", "weather__forecast"])
    })
  )

  it.live("a client tool ends the loop and comes back as a standard tool_calls answer", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "get_location", arguments: "{}" }] }
      ])
      const tools = weatherTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const clientTool = {
        type: "function" as const,
        function: { name: "get_location", parameters: { type: "object", properties: {} } }
      }
      const completion = yield* complete(gateway, { model: "m", messages, tools: [clientTool] })
      assert.strictEqual(completion.choices[0]?.finish_reason, "tool_calls")
      assert.deepStrictEqual(completion.choices[0]?.message.tool_calls, [
        { id: "call_1", type: "function", function: { name: "get_location", arguments: "{}" } }
      ])
      assert.deepStrictEqual(completion.mcp_tool_events, [])
      assert.strictEqual(upstream.chatBodies().length, 1)
      const offered = upstream.chatBodies()[0]?.tools as Array<{ function: { name: string } }>
      assert.deepStrictEqual(
        offered.map((tool) => tool.function.name),
        ["get_location", "weather__forecast"]
      )
    })
  )

  it.live(
    "a mixed turn: the MCP call runs at once, the client gets only its own call, the model later sees the whole turn",
    () =>
      Effect.gen(function* () {
        const mixed: ScriptedUpstream.Turn = {
          content: "Checking.",
          toolCalls: [
            { id: "call_mcp", name: "weather__forecast", arguments: '{"city":"Rome"}' },
            { id: "call_client", name: "get_location", arguments: "{}" }
          ]
        }
        const upstream = yield* ScriptedUpstream.make([
          mixed,
          { content: "Rome is sunny, and you are in Rome." }
        ])
        const tools = weatherTools()
        const gateway = yield* TestGateway.start({
          upstream: { baseUrl: upstream.baseUrl },
          tools: tools.layer
        })
        const clientTool = {
          type: "function" as const,
          function: { name: "get_location", parameters: { type: "object", properties: {} } }
        }
        const first = yield* complete(gateway, { model: "m", messages, tools: [clientTool] })
        const message = first.choices[0]?.message
        assert.strictEqual(first.choices[0]?.finish_reason, "tool_calls")
        assert.deepStrictEqual(message?.tool_calls, [
          { id: "call_client", type: "function", function: { name: "get_location", arguments: "{}" } }
        ])
        assert.deepStrictEqual(tools.calls, [{ name: "weather__forecast", args: { city: "Rome" } }])
        assert.deepStrictEqual(
          first.mcp_tool_events.map((event) => [event.id, event.status]),
          [
            ["call_mcp", "started"],
            ["call_mcp", "completed"]
          ]
        )

        // A standard client answers the calls it saw, and only those.
        const second = yield* complete(gateway, {
          model: "m",
          tools: [clientTool],
          messages: [
            ...messages,
            { role: "assistant", content: "Checking.", tool_calls: message?.tool_calls ?? [] },
            { role: "tool", tool_call_id: "call_client", content: "Rome" }
          ]
        })
        assert.strictEqual(second.choices[0]?.message.content, "Rome is sunny, and you are in Rome.")
        assert.strictEqual(tools.calls.length, 1, "the MCP call ran once")
        const sent = upstream.chatBodies()[1]?.messages as Array<Record<string, unknown>>
        assert.deepStrictEqual(sent.slice(1), [
          {
            role: "assistant",
            content: "Checking.",
            tool_calls: [
              {
                id: "call_mcp",
                type: "function",
                function: { name: "weather__forecast", arguments: '{"city":"Rome"}' }
              },
              { id: "call_client", type: "function", function: { name: "get_location", arguments: "{}" } }
            ]
          },
          { role: "tool", tool_call_id: "call_client", content: "Rome" },
          { role: "tool", tool_call_id: "call_mcp", content: "sunny in Rome" }
        ])
        assert.deepStrictEqual(second.mcp_tool_events, [])
      })
  )

  it.live("a client that sends back MCP calls it saw without results gets them run first", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "Rome is sunny." }])
      const tools = weatherTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const second = yield* complete(gateway, {
        model: "m",
        messages: [
          ...messages,
          {
            role: "assistant",
            content: null,
            tool_calls: [
              {
                id: "call_old",
                type: "function",
                function: { name: "weather__forecast", arguments: '{"city":"Rome"}' }
              }
            ]
          }
        ]
      })
      assert.strictEqual(second.choices[0]?.message.content, "Rome is sunny.")
      const sent = upstream.chatBodies()[0]?.messages as Array<Record<string, unknown>>
      assert.deepStrictEqual(sent.at(-1), {
        role: "tool",
        tool_call_id: "call_old",
        content: "sunny in Rome"
      })
    })
  )

  it.live("stops after maxToolCalls rounds with a final tool_choice none call", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make((body, index) =>
        body.tool_choice === "none"
          ? { content: "I give up on tools." }
          : {
              toolCalls: [
                { id: `call_${index}_a`, name: "weather__forecast", arguments: '{"city":"Lyon"}' },
                { id: `call_${index}_b`, name: "weather__forecast", arguments: '{"city":"Nice"}' }
              ]
            }
      )
      const tools = weatherTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer,
        maxToolCalls: 3
      })
      const completion = yield* complete(gateway, { model: "m", messages })
      assert.strictEqual(completion.choices[0]?.message.content, "I give up on tools.")
      const bodies = upstream.chatBodies()
      // Three rounds (six calls: rounds are counted, not calls), then the final call.
      assert.strictEqual(bodies.length, 4)
      assert.deepStrictEqual(
        bodies.map((body) => body.tool_choice),
        [undefined, undefined, undefined, "none"]
      )
      assert.strictEqual(tools.calls.length, 6)
      assert.strictEqual((bodies[3]?.messages as Array<unknown> | undefined)?.length, 1 + 3 * 3)
    })
  )

  it.live("tool errors reach the model as the tool's own text, clearly marked", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        {
          toolCalls: [
            { id: "call_err", name: "search__query", arguments: '{"q":"x"}' },
            { id: "call_login", name: "notion__search", arguments: '{"q":"x"}' },
            { id: "call_bad_args", name: "search__query", arguments: '{"q":' }
          ]
        },
        { content: "Sorry." }
      ])
      const tools = InMemoryTools.make({
        search__query: { run: () => ({ text: "rate limit exceeded, retry in 30 s", isError: true }) },
        notion__search: { needsLogin: "notion" }
      })
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const completion = yield* complete(gateway, { model: "m", messages })
      const sent = upstream.chatBodies()[1]?.messages as Array<{ content: string; tool_call_id?: string }>
      const contentOf = (id: string) => sent.find((message) => message.tool_call_id === id)?.content ?? ""
      assert.strictEqual(
        contentOf("call_err"),
        "Error from tool search__query: rate limit exceeded, retry in 30 s"
      )
      assert.notInclude(contentOf("call_err"), "None")
      assert.include(contentOf("call_login"), "mcpgate login notion")
      assert.include(contentOf("call_login"), "admin UI")
      assert.include(contentOf("call_bad_args"), "not a JSON object")
      assert.strictEqual(tools.calls.length, 1)
      const failed = completion.mcp_tool_events
        .filter((event) => event.status === "failed")
        .map((event) => event.id)
      assert.deepStrictEqual(failed.sort(), ["call_bad_args", "call_err", "call_login"])
      const errorEvent = completion.mcp_tool_events.find((e) => e.id === "call_err" && e.status === "failed")
      assert.strictEqual(errorEvent?.result, "rate limit exceeded, retry in 30 s")
    })
  )

  it.live("the client's tool wins over an MCP tool of the same name", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "weather__forecast", arguments: '{"city":"Bern"}' }] }
      ])
      const tools = weatherTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const mine = {
        type: "function" as const,
        function: {
          name: "weather__forecast",
          description: "the client's own",
          parameters: { type: "object" }
        }
      }
      const completion = yield* complete(gateway, { model: "m", messages, tools: [mine] })
      assert.strictEqual(completion.choices[0]?.finish_reason, "tool_calls")
      assert.deepStrictEqual(upstream.chatBodies()[0]?.tools, [mine])
      assert.deepStrictEqual(tools.calls, [])
    })
  )

  it.live('a forced tool_choice applies to the first turn only, then "auto"', () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "weather__forecast", arguments: '{"city":"Kyiv"}' }] },
        { content: "Done." }
      ])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer
      })
      yield* complete(gateway, { model: "m", messages, tool_choice: "required" })
      assert.deepStrictEqual(
        upstream.chatBodies().map((body) => body.tool_choice),
        ["required", "auto"]
      )
    })
  )

  it.live("a client that disconnects interrupts the running tool call (non-streaming)", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_slow", name: "slow__tool", arguments: "{}" }] },
        { content: "never reached" }
      ])
      const tools = InMemoryTools.make({ slow__tool: { run: InMemoryTools.never } })
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const controller = new AbortController()
      const request = gateway.client.chat.completions.create(withMcp({ model: "m", messages }), {
        signal: controller.signal
      })
      yield* Effect.promise(() => tools.started("slow__tool"))
      controller.abort()
      yield* Effect.promise(() =>
        request.then(
          () => undefined,
          () => undefined
        )
      )
      yield* Effect.promise(() => tools.whenInterrupted("slow__tool"))
      assert.deepStrictEqual(tools.completed, [])
      assert.strictEqual(upstream.chatBodies().length, 1)
    })
  )

  it.live("an upstream error in the first turn keeps its status", () =>
    Effect.gen(function* () {
      const body = {
        error: { message: "context too long", type: "invalid_request_error", code: "context_length" }
      }
      const upstream = yield* ScriptedUpstream.make([
        { error: { status: 400, body } },
        { error: { status: 400, body } }
      ])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer
      })
      for (const stream of [false, true]) {
        const error = yield* TestGateway.promise(() =>
          gateway.client.chat.completions.create(withMcp({ model: "m", messages, stream }))
        ).pipe(Effect.flip)
        assert.instanceOf(error, APIError)
        if (error instanceof APIError) {
          assert.strictEqual(error.status, 400)
          assert.include(error.message, "context too long")
        }
      }
    })
  )
})

describe("ToolLoop, streaming", () => {
  it.live("streams two rounds: events instead of MCP tool calls, one finish, summed usage, one [DONE]", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make(twoRounds)
      const tools = weatherTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const chunks = yield* streamed(gateway, {
        model: "m",
        messages,
        stream: true,
        stream_options: { include_usage: true }
      })
      const all = deltas(chunks)
      assert.strictEqual(
        all.map((delta) => delta.content ?? "").join(""),
        "Let me check.Sunny in both Paris and Oslo."
      )
      assert.strictEqual(
        all.map((delta) => delta.reasoning_content ?? "").join(""),
        "Two cities: call twice.Both sunny."
      )
      assert.isFalse(
        all.some((delta) => delta.tool_calls !== undefined),
        "MCP tool calls must not reach the client"
      )
      const events = all.flatMap((delta) => (delta.tool_call_event ? [delta.tool_call_event] : []))
      assert.deepStrictEqual(
        events.filter((event) => event.status === "started").map((event) => event.id),
        ["call_paris", "call_oslo"]
      )
      const completed = events.filter((event) => event.status === "completed")
      assert.deepStrictEqual(completed.map((event) => [event.id, event.result]).sort(), [
        ["call_oslo", "sunny in Oslo"],
        ["call_paris", "sunny in Paris"]
      ])
      assert.deepStrictEqual(finishReasons(chunks), ["stop"])
      assert.strictEqual(chunks.at(-1)?.choices.length, 0)
      assert.deepStrictEqual(chunks.at(-1)?.usage as unknown, {
        prompt_tokens: 40,
        completion_tokens: 13,
        total_tokens: 53,
        completion_tokens_details: { reasoning_tokens: 3 }
      })
      assert.strictEqual(chunks.filter((chunk) => chunk.usage).length, 1)

      const bodies = upstream.chatBodies()
      assert.strictEqual(bodies.length, 2)
      for (const body of bodies) assert.notProperty(body, "execute_mcp_tools")
      assertSecondRound(bodies[1])
    })
  )

  it.live("sends [DONE] exactly once, at the very end", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make(twoRounds)
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer
      })
      const response = yield* TestGateway.promise(() =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: "m", messages, stream: true, execute_mcp_tools: true })
        })
      )
      const text = yield* TestGateway.promise(() => response.text())
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
      assert.strictEqual(text.split("data: [DONE]").length - 1, 1)
      assert.isTrue(text.endsWith("data: [DONE]\n\n"))
      // Without include_usage, no usage chunk is made up.
      assert.notInclude(text, '"usage":{')
    })
  )

  it.live("a client tool in a streamed turn reaches the client as tool_calls deltas", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        {
          content: "Where are you?",
          toolCalls: [{ id: "call_loc", name: "get_location", arguments: '{"precise":true}' }]
        }
      ])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer
      })
      const chunks = yield* streamed(gateway, {
        model: "m",
        messages,
        stream: true,
        tools: [{ type: "function", function: { name: "get_location", parameters: { type: "object" } } }]
      })
      const calls = deltas(chunks).flatMap((delta) => delta.tool_calls ?? [])
      assert.deepStrictEqual(
        calls.map((call) => [call.id, call.function?.name, call.function?.arguments]),
        [["call_loc", "get_location", '{"precise":true}']]
      )
      assert.deepStrictEqual(finishReasons(chunks), ["tool_calls"])
      assert.strictEqual(upstream.chatBodies().length, 1)
    })
  )

  it.live("a streamed mixed turn: MCP events, then only the client's call, one tool_calls finish", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        {
          content: "Checking.",
          toolCalls: [
            { id: "call_mcp", name: "weather__forecast", arguments: '{"city":"Rome"}' },
            { id: "call_client", name: "get_location", arguments: "{}" }
          ]
        }
      ])
      const tools = weatherTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const chunks = yield* streamed(gateway, {
        model: "m",
        messages,
        stream: true,
        tools: [{ type: "function", function: { name: "get_location", parameters: { type: "object" } } }]
      })
      const all = deltas(chunks)
      assert.strictEqual(all.map((delta) => delta.content ?? "").join(""), "Checking.")
      const calls = all.flatMap((delta) => delta.tool_calls ?? [])
      assert.deepStrictEqual(
        calls.map((call) => call.id),
        ["call_client"]
      )
      const events = all.flatMap((delta) => (delta.tool_call_event ? [delta.tool_call_event] : []))
      assert.deepStrictEqual(
        events.map((event) => [event.id, event.status]),
        [
          ["call_mcp", "started"],
          ["call_mcp", "completed"]
        ]
      )
      assert.deepStrictEqual(finishReasons(chunks), ["tool_calls"])
      assert.deepStrictEqual(tools.calls, [{ name: "weather__forecast", args: { city: "Rome" } }])
    })
  )

  it.live("after maxToolCalls streamed rounds, the final call has tool_choice none", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make((body, index) =>
        body.tool_choice === "none"
          ? { content: "Final words." }
          : { toolCalls: [{ id: `call_${index}`, name: "weather__forecast", arguments: '{"city":"Bonn"}' }] }
      )
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer,
        maxToolCalls: 2
      })
      const chunks = yield* streamed(gateway, { model: "m", messages, stream: true })
      assert.strictEqual(
        deltas(chunks)
          .map((delta) => delta.content ?? "")
          .join(""),
        "Final words."
      )
      assert.deepStrictEqual(finishReasons(chunks), ["stop"])
      assert.deepStrictEqual(
        upstream.chatBodies().map((body) => body.tool_choice),
        [undefined, undefined, "none"]
      )
    })
  )

  it.live("a client that disconnects interrupts the running tool call", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_slow", name: "slow__tool", arguments: "{}" }] },
        { content: "never reached" }
      ])
      const tools = InMemoryTools.make({ slow__tool: { run: InMemoryTools.never } })
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const controller = new AbortController()
      const seen = yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create(
          withMcp({ model: "m", messages, stream: true as const }),
          { signal: controller.signal }
        )
        for await (const chunk of stream) {
          const event = (chunk.choices[0]?.delta as McpDelta | undefined)?.tool_call_event
          if (event?.status === "started") {
            controller.abort()
            return event
          }
        }
        return undefined
      }).pipe(Effect.catch(() => Effect.succeed(undefined)))
      assert.strictEqual(seen?.id, "call_slow")
      yield* Effect.promise(() => tools.whenInterrupted("slow__tool"))
      assert.deepStrictEqual(tools.interrupted, ["slow__tool"])
      assert.deepStrictEqual(tools.completed, [])
      assert.strictEqual(upstream.chatBodies().length, 1)
    })
  )

  it.live("an upstream failure after the first turn becomes an error event in the stream", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "weather__forecast", arguments: '{"city":"Riga"}' }] },
        { error: { status: 503, body: { error: { message: "model overloaded", type: "server_error" } } } }
      ])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer
      })
      const chunks: Array<ChatCompletionChunk> = []
      const error = yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create(
          withMcp({ model: "m", messages, stream: true as const })
        )
        for await (const chunk of stream) chunks.push(chunk)
      }).pipe(Effect.flip)
      assert.instanceOf(error, APIError)
      assert.include(String((error as Error).message), "model overloaded")
      const events = deltas(chunks).flatMap((delta) =>
        delta.tool_call_event ? [delta.tool_call_event.status] : []
      )
      assert.deepStrictEqual(events, ["started", "completed"])
      assert.deepStrictEqual(finishReasons(chunks), [])
    })
  )

  it.live("a client that disconnects aborts the upstream request in flight", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "weather__forecast", arguments: '{"city":"Graz"}' }] },
        { content: "this answer hangs after its first chunk", hang: true }
      ])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: weatherTools().layer
      })
      const controller = new AbortController()
      yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create(
          withMcp({ model: "m", messages, stream: true as const }),
          { signal: controller.signal }
        )
        for await (const chunk of stream) {
          const event = (chunk.choices[0]?.delta as McpDelta | undefined)?.tool_call_event
          // The second round has started once the call completed and a content chunk follows.
          if (
            event === undefined &&
            chunk.choices[0]?.delta.role === "assistant" &&
            upstream.requests.length === 2
          ) {
            controller.abort()
          }
        }
      }).pipe(Effect.catch(() => Effect.void))
      const closed = yield* upstream.closedEarly
      assert.strictEqual(closed, upstream.requests[1])
    })
  )
})
