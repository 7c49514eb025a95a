import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import { maxBodyBytes } from "../src/openai/OpenAiApi.ts"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

interface ErrorJson {
  readonly error: { readonly message: string; readonly type: string; readonly code?: string }
}

const post = (gateway: TestGateway.TestGateway, body: string | Uint8Array) =>
  TestGateway.promise(async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body
    })
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      json: (await response.json()) as ErrorJson
    }
  })

const messages = [{ role: "user" as const, content: "hi" }]

/** After any bad request, a good one must still work. */
const assertStillServing = (gateway: TestGateway.TestGateway) =>
  Effect.gen(function* () {
    const completion = yield* TestGateway.promise(() =>
      gateway.client.chat.completions.create({ model: "m", messages })
    )
    assert.strictEqual(completion.choices[0]?.message.content, "still here")
  })

const setup = Effect.gen(function* () {
  const upstream = yield* ScriptedUpstream.make(() => ({ content: "still here" }))
  const gateway = yield* TestGateway.start({
    upstream: { baseUrl: upstream.baseUrl },
    tools: InMemoryTools.make({}).layer
  })
  return { upstream, gateway }
})

describe("OpenAiApi request validation", () => {
  it.live("malformed JSON is a 400 invalid_json error", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const response = yield* post(gateway, '{"model": "m", "messages": [')
      assert.strictEqual(response.status, 400)
      assert.match(response.contentType ?? "", /^application\/json/)
      assert.deepStrictEqual(response.json.error, {
        message: "the request body is not valid JSON",
        type: "invalid_request_error",
        code: "invalid_json"
      })
      assert.strictEqual(upstream.requests.length, 0)
      yield* assertStillServing(gateway)
    })
  )

  it.live("a body without model or messages is a 400 naming the field", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      for (const [body, field] of [
        [{ messages }, "model"],
        [{ model: "m", messages: "hi" }, "messages"],
        [[1, 2], ""],
        [{ model: "m", messages, execute_mcp_tools: "yes" }, "execute_mcp_tools"]
      ] as const) {
        const response = yield* post(gateway, JSON.stringify(body))
        assert.strictEqual(response.status, 400)
        assert.strictEqual(response.json.error.type, "invalid_request_error")
        assert.strictEqual(response.json.error.code, "invalid_body")
        assert.include(response.json.error.message, field)
      }
      assert.strictEqual(upstream.requests.length, 0)
      yield* assertStillServing(gateway)
    })
  )

  it.live("a body over the size limit is a 413 JSON error", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const big = JSON.stringify({
        model: "m",
        messages: [{ role: "user", content: "x".repeat(maxBodyBytes) }]
      })
      const response = yield* post(gateway, big)
      assert.strictEqual(response.status, 413)
      assert.strictEqual(response.json.error.code, "body_too_large")
      assert.strictEqual(upstream.requests.length, 0)
      yield* assertStillServing(gateway)
    })
  )

  it.live('"n" other than 1 is refused with execute_mcp_tools', () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const response = yield* post(
        gateway,
        JSON.stringify({ model: "m", messages, n: 2, execute_mcp_tools: true })
      )
      assert.strictEqual(response.status, 400)
      assert.strictEqual(response.json.error.code, "unsupported_n")
      assert.strictEqual(upstream.requests.length, 0)
    })
  )

  it.live("a body just under the limit is forwarded", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const filler = "y".repeat(maxBodyBytes - 200)
      const completion = yield* TestGateway.promise(() =>
        gateway.client.chat.completions.create({ model: "m", messages: [{ role: "user", content: filler }] })
      )
      assert.strictEqual(completion.choices[0]?.message.content, "still here")
      assert.strictEqual(upstream.requests[0]?.body.length, gateway.sentBodies[0]?.length)
    })
  )
})
