/**
 * The tool loop's bounds and per-request choices: `mcp` tools in `tools`,
 * `maxToolResultChars`, `maxTools` with tool search, keep-alive comments while
 * tools run, a cut-off upstream stream, and usage counted once per upstream call.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ConfigFile from "@mcpgate/core/ConfigFile"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import { APIError } from "openai"
import type { ChatCompletion } from "openai/resources/chat/completions"
import * as Gateway from "../src/Gateway.ts"
import type { ToolCallEvent } from "../src/openai/ToolLoop.ts"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

const messages = [{ role: "user" as const, content: "Go." }]
type McpCompletion = ChatCompletion & { mcp_tool_events: Array<ToolCallEvent> }

const manyTools = () =>
  InMemoryTools.make(
    {
      weather__forecast: {
        description: "Weather forecast for a city",
        annotations: { readOnlyHint: true },
        run: (args) => ({ text: `sunny in ${(args as { city?: string }).city}`, isError: false })
      },
      weather__set_alert: { description: "Set a weather alert" },
      notion__search: { description: "Search Notion pages" },
      notion__create_page: { description: "Create a Notion page" },
      mail__send: { description: "Send an email" }
    },
    ["calendar"]
  )

const offeredNames = (body: Record<string, unknown> | undefined) =>
  ((body?.tools ?? []) as Array<{ function: { name: string } }>).map((tool) => tool.function.name)

interface ChatReply {
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string | null } }>
  readonly error?: { readonly code: string; readonly type: string; readonly message: string }
}

const postJson = (gateway: TestGateway.TestGateway, body: unknown) =>
  TestGateway.promise(async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, json: (await response.json()) as ChatReply }
  })

describe("MCP tools per request (chat completions)", () => {
  it.live("an mcp tool gets exactly that server's allowed tools; the mcp entry never goes upstream", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "weather__forecast", arguments: '{"city":"Oslo"}' }] },
        { content: "Sunny." }
      ])
      const tools = manyTools()
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer
      })
      const mine = { type: "function", function: { name: "mine", parameters: { type: "object" } } }
      const { status, json } = yield* postJson(gateway, {
        model: "m",
        messages,
        tools: [
          mine,
          { type: "mcp", server_label: "weather", allowed_tools: ["forecast"], require_approval: "never" }
        ]
      })
      assert.strictEqual(status, 200)
      assert.strictEqual(json.choices[0]?.message.content, "Sunny.")
      assert.deepStrictEqual(offeredNames(upstream.chatBodies()[0]), ["mine", "weather__forecast"])
      assert.deepStrictEqual(tools.calls, [{ name: "weather__forecast", args: { city: "Oslo" } }])
      // Read-only filter, and two servers.
      yield* postJson(gateway, {
        model: "m",
        messages,
        tools: [
          { type: "mcp", server_label: "weather", allowed_tools: { read_only: true } },
          { type: "mcp", server_label: "notion" }
        ]
      })
      assert.deepStrictEqual(offeredNames(upstream.chatBodies()[2]), [
        "weather__forecast",
        "notion__search",
        "notion__create_page"
      ])
    })
  )

  it.live("what the gateway cannot honour is a 400 that says why, and nothing reaches the upstream", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: manyTools().layer
      })
      const cases: ReadonlyArray<readonly [Record<string, unknown>, string, string]> = [
        [
          { type: "mcp", server_label: "jira" },
          "mcp_server_not_found",
          "weather, notion, mail, calendar, builtin"
        ],
        [
          { type: "mcp", server_label: "weather", server_url: "https://mcp.example.com" },
          "mcp_server_url_unsupported",
          "server_url"
        ],
        [
          { type: "mcp", server_label: "weather", require_approval: "always" },
          "mcp_approval_unsupported",
          '"never"'
        ],
        [{ type: "mcp", server_label: "weather", allowed_tools: ["nope"] }, "mcp_tool_not_found", "forecast"],
        [
          { type: "mcp", server_label: "weather", headers: { a: "b" } },
          "mcp_credentials_unsupported",
          "headers"
        ],
        [{ type: "mcp" }, "invalid_mcp_tool", "server_label"]
      ]
      for (const [tool, code, says] of cases) {
        const { status, json } = yield* postJson(gateway, { model: "m", messages, tools: [tool] })
        assert.strictEqual(status, 400, code)
        assert.strictEqual(json.error?.code, code)
        assert.strictEqual(json.error?.type, "invalid_request_error")
        assert.include(json.error?.message, says)
      }
      // `builtin` and a configured server without tools are known labels.
      const calendar = yield* postJson(gateway, {
        model: "m",
        messages,
        tools: [{ type: "mcp", server_label: "calendar" }]
      })
      assert.notStrictEqual(calendar.json.error?.code, "mcp_server_not_found")
      assert.strictEqual(upstream.chatBodies().length, 1)
    })
  )
})

describe("maxToolResultChars", () => {
  it.live("a long result reaches the model cut with a note; events carry at most 4000 characters", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        {
          toolCalls: [
            { id: "call_page", name: "web__read", arguments: "{}" },
            { id: "call_big", name: "big__dump", arguments: "{}" }
          ]
        },
        { content: "Read it." }
      ])
      const tools = InMemoryTools.make({
        web__read: { run: () => ({ text: "a".repeat(250), isError: false }) },
        big__dump: { run: () => ({ text: "b".repeat(10_000), isError: false }) }
      })
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer,
        maxToolResultChars: 100,
        serverMaxToolResultChars: { big: 9000 }
      })
      const completion = (yield* TestGateway.promise(() =>
        gateway.client.chat.completions.create({ model: "m", messages, ...{ execute_mcp_tools: true } })
      )) as McpCompletion
      const sent = upstream.chatBodies()[1]?.messages as Array<{ tool_call_id?: string; content: string }>
      const page = sent.find((message) => message.tool_call_id === "call_page")?.content ?? ""
      assert.isTrue(page.startsWith(`${"a".repeat(100)}\n\n[mcpgate:`), page)
      assert.include(page, "150 of 250 characters were left out")
      assert.notInclude(page, "a".repeat(101))
      const big = sent.find((message) => message.tool_call_id === "call_big")?.content ?? ""
      assert.include(big, "1000 of 10000 characters were left out (maxToolResultChars is 9000)")
      const done = completion.mcp_tool_events.find(
        (event) => event.id === "call_big" && event.status === "completed"
      )
      assert.strictEqual(done?.result?.length, 4000)
      assert.strictEqual(done?.result_truncated, true)
      const small = completion.mcp_tool_events.find((e) => e.id === "call_page" && e.status === "completed")
      assert.strictEqual(small?.result, "a".repeat(250))
      assert.isUndefined(small?.result_truncated)
    })
  )
})

describe("the settings, from the config file", () => {
  it.effect("maxToolResultChars (top level and per server), maxTools, toolSearch, upstream.responses", () =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.parse(
        JSON.stringify({
          maxToolResultChars: 5000,
          maxTools: 40,
          toolSearch: false,
          mcpServers: { docs: { url: "https://docs.example.com/mcp", maxToolResultChars: 20000 } },
          server: { upstream: { baseUrl: "http://127.0.0.1:11434/v1", responses: "translate" } }
        }),
        "mcpgate.json"
      )
      const options = Gateway.toolLoopOptions(config)
      assert.strictEqual(options.maxToolResultChars, 5000)
      assert.deepStrictEqual(options.serverMaxToolResultChars, { docs: 20000 })
      assert.strictEqual(options.maxTools, 40)
      assert.strictEqual(options.toolSearch, false)
      assert.strictEqual(config.server.upstream?.responses, "translate")
      const wrong = yield* Effect.flip(ConfigFile.parse('{ "toolSearch": "always" }', "mcpgate.json"))
      assert.include(wrong.message, "toolSearch")
    })
  )
})

describe("maxTools and tool search", () => {
  it.live(
    "over maxTools the model gets builtin__search_tools; what it finds is offered from the next round",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([
          {
            toolCalls: [
              { id: "call_s", name: "builtin__search_tools", arguments: '{"query":"weather forecast"}' }
            ]
          },
          { toolCalls: [{ id: "call_f", name: "weather__forecast", arguments: '{"city":"Bergen"}' }] },
          { content: "Rain, surely." }
        ])
        const tools = manyTools()
        const gateway = yield* TestGateway.start({
          upstream: { baseUrl: upstream.baseUrl },
          tools: tools.layer,
          maxTools: 3
        })
        const { status, json } = yield* postJson(gateway, { model: "m", messages, execute_mcp_tools: true })
        assert.strictEqual(status, 200)
        assert.strictEqual(json.choices[0]?.message.content, "Rain, surely.")
        const bodies = upstream.chatBodies()
        assert.deepStrictEqual(offeredNames(bodies[0]), ["builtin__search_tools"])
        assert.deepStrictEqual(offeredNames(bodies[1]).slice(0, 2), [
          "builtin__search_tools",
          "weather__forecast"
        ])
        assert.isAtMost(offeredNames(bodies[1]).length, 3)
        const found = ((bodies[1]?.messages ?? []) as Array<{ tool_call_id?: string; content: string }>).find(
          (message) => message.tool_call_id === "call_s"
        )
        assert.include(found?.content, "weather__forecast")
        assert.deepStrictEqual(tools.calls, [{ name: "weather__forecast", args: { city: "Bergen" } }])
      })
  )

  it.live("with toolSearch false, too many tools is a 400 saying how to narrow the request", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: manyTools().layer,
        maxTools: 3,
        toolSearch: false
      })
      const { status, json } = yield* postJson(gateway, { model: "m", messages, execute_mcp_tools: true })
      assert.strictEqual(status, 400)
      assert.strictEqual(json.error?.code, "too_many_tools")
      assert.include(json.error?.message, "5 tools, more than maxTools (3)")
      assert.include(json.error?.message, "allowed_tools")
      assert.strictEqual(upstream.requests.length, 0)
      // Narrowed, it runs.
      const narrowed = yield* postJson(gateway, {
        model: "m",
        messages,
        tools: [{ type: "mcp", server_label: "notion" }]
      })
      assert.notStrictEqual(narrowed.json.error?.code, "too_many_tools")
    })
  )
})

describe("streams", () => {
  it.live("a keep-alive comment goes out while a tool runs", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { toolCalls: [{ id: "call_1", name: "slow__wait", arguments: "{}" }] },
        { content: "Done waiting." }
      ])
      let seen = (): boolean => false
      const tools = InMemoryTools.make({
        // The tool ends only once the client has seen a keep-alive: no timing assumption.
        slow__wait: {
          run: async () => {
            while (!seen()) await new Promise((resolve) => setTimeout(resolve, 5))
            return { text: "waited", isError: false }
          }
        }
      })
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: tools.layer,
        keepAlive: "20 millis"
      })
      const text = yield* TestGateway.promise(async () => {
        const response = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: "m", messages, stream: true, execute_mcp_tools: true })
        })
        const reader = response.body?.getReader()
        const decoder = new TextDecoder()
        let soFar = ""
        seen = () => soFar.includes(": keep-alive\n\n")
        for (;;) {
          const chunk = await reader?.read()
          if (chunk === undefined || chunk.done) return soFar
          soFar += decoder.decode(chunk.value, { stream: true })
        }
      })
      assert.include(text, ": keep-alive\n\n")
      assert.include(text, '"content":"ng."')
      assert.isTrue(text.endsWith("data: [DONE]\n\n"))
    })
  )

  it.live("an upstream stream that stops without finish_reason or [DONE] is an error, not an end", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "Half an ans", truncate: true }])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: manyTools().layer
      })
      const error = yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create({
          model: "m",
          messages,
          stream: true,
          ...{ execute_mcp_tools: true }
        })
        for await (const _chunk of stream) {
          // read to the end
        }
      }).pipe(Effect.flip)
      assert.instanceOf(error, APIError)
      assert.include(String((error as Error).message), "ended before the answer was complete")
    })
  )

  it.live("usage counts each upstream call once (continuous usage stats: the last, not the sum)", () =>
    Effect.gen(function* () {
      const usage = { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 }
      const upstream = yield* ScriptedUpstream.make([
        {
          content: "Looking it up.",
          toolCalls: [{ id: "call_1", name: "weather__forecast", arguments: '{"city":"Oslo"}' }],
          usage,
          continuousUsage: true
        },
        { content: "Sunny in Oslo, as forecast.", usage, continuousUsage: true }
      ])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl },
        tools: manyTools().layer
      })
      const chunks = yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create({
          model: "m",
          messages,
          stream: true,
          stream_options: { include_usage: true },
          ...{ execute_mcp_tools: true }
        })
        const all = []
        for await (const chunk of stream) all.push(chunk)
        return all
      })
      const usages = chunks.flatMap((chunk) => (chunk.usage ? [chunk.usage] : []))
      assert.deepStrictEqual(usages as unknown, [
        { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 }
      ])
    })
  )
})
