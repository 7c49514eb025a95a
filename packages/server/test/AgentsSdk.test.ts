/**
 * The OpenAI Agents SDK (`@openai/agents`), unchanged, through the gateway: an
 * agent with a function tool of its own and MCP tools, one scripted model turn
 * that calls both, then the answer (docs/gateway.md#mixed-turns). The SDK runs
 * its own tool and sends the conversation back; the gateway ran the MCP call
 * once and puts the whole turn in front of the model.
 */

import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import {
  Agent,
  hostedMcpTool,
  OpenAIChatCompletionsModel,
  OpenAIResponsesModel,
  run,
  setTracingDisabled,
  tool
} from "@openai/agents"
import { Effect } from "effect"
import OpenAI from "openai"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

setTracingDisabled(true)

const mixedTurn: ReadonlyArray<ScriptedUpstream.Turn> = [
  {
    toolCalls: [
      { id: "call_weather", name: "weather__forecast", arguments: '{"city":"Rome"}' },
      { id: "call_where", name: "get_location", arguments: "{}" }
    ]
  },
  { content: "You are in Rome, and it is sunny there." }
]

const setup = Effect.gen(function* () {
  const upstream = yield* ScriptedUpstream.make(mixedTurn)
  const tools = InMemoryTools.make({
    weather__forecast: {
      description: "Forecast for a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
      run: (args) => ({ text: `sunny in ${(args as { city: string }).city}`, isError: false })
    }
  })
  const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: tools.layer })
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "client-key", maxRetries: 0 })
  const located: Array<string> = []
  const getLocation = tool({
    name: "get_location",
    description: "Where the user is",
    parameters: { type: "object", properties: {}, required: [], additionalProperties: false },
    strict: true,
    execute: async () => {
      located.push("asked")
      return "Rome"
    }
  })
  return { upstream, tools, client, getLocation, located }
})

/** The second model call must see the whole turn: both calls, both results. */
const assertWholeTurn = (upstream: ScriptedUpstream.ScriptedUpstream) => {
  const messages = upstream.chatBodies()[1]?.messages as Array<Record<string, unknown>>
  const assistant = messages.find((message) => message.role === "assistant")
  const ids = (assistant?.tool_calls as Array<{ id: string }> | undefined)?.map((call) => call.id)
  assert.deepStrictEqual(ids?.sort(), ["call_weather", "call_where"])
  const results = Object.fromEntries(
    messages
      .filter((message) => message.role === "tool")
      .map((message) => [message.tool_call_id, message.content])
  )
  assert.deepStrictEqual(results, { call_weather: "sunny in Rome", call_where: "Rome" })
}

describe("OpenAI Agents SDK through the gateway", () => {
  it.live(
    "Responses model with a hosted MCP tool and its own function tool: one mixed turn, then the answer",
    () =>
      Effect.gen(function* () {
        const { upstream, tools, client, getLocation, located } = yield* setup
        const agent = new Agent({
          name: "assistant",
          instructions: "Answer briefly.",
          model: new OpenAIResponsesModel(client, "scripted-model"),
          tools: [getLocation, hostedMcpTool({ serverLabel: "weather", requireApproval: "never" })]
        })
        const result = yield* TestGateway.promise(() => run(agent, "What is the weather where I am?"))
        assert.strictEqual(result.finalOutput, "You are in Rome, and it is sunny there.")
        assert.deepStrictEqual(located, ["asked"])
        assert.deepStrictEqual(tools.calls, [{ name: "weather__forecast", args: { city: "Rome" } }])
        assertWholeTurn(upstream)
      })
  )

  it.live("Responses model, streamed run: the same turn, the same answer", () =>
    Effect.gen(function* () {
      const { upstream, tools, client, getLocation } = yield* setup
      const agent = new Agent({
        name: "assistant",
        model: new OpenAIResponsesModel(client, "scripted-model"),
        tools: [getLocation, hostedMcpTool({ serverLabel: "weather", requireApproval: "never" })]
      })
      const text = yield* TestGateway.promise(async () => {
        const streamed = await run(agent, "What is the weather where I am?", { stream: true })
        await streamed.completed
        return streamed.finalOutput
      })
      assert.strictEqual(text, "You are in Rome, and it is sunny there.")
      assert.strictEqual(tools.calls.length, 1)
      assertWholeTurn(upstream)
    })
  )

  it.live("Chat Completions model with execute_mcp_tools: the SDK sees only its own call", () =>
    Effect.gen(function* () {
      const { upstream, tools, client, getLocation, located } = yield* setup
      const agent = new Agent({
        name: "assistant",
        model: new OpenAIChatCompletionsModel(client, "scripted-model"),
        modelSettings: { providerData: { execute_mcp_tools: true } },
        tools: [getLocation]
      })
      const result = yield* TestGateway.promise(() => run(agent, "What is the weather where I am?"))
      assert.strictEqual(result.finalOutput, "You are in Rome, and it is sunny there.")
      assert.deepStrictEqual(located, ["asked"])
      assert.strictEqual(tools.calls.length, 1)
      assertWholeTurn(upstream)
    })
  )
})
