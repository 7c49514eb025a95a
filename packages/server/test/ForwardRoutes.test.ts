/**
 * Every other `/v1/*` route goes to the upstream byte for byte, both ways,
 * streamed answers and uploads included (docs/gateway.md#other-routes).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

const bytesEqual = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

const setup = Effect.gen(function* () {
  const upstream = yield* ScriptedUpstream.make([])
  const gateway = yield* TestGateway.start({
    upstream: { baseUrl: upstream.baseUrl },
    tools: InMemoryTools.make({}).layer
  })
  return { upstream, gateway }
})

const written = (upstream: ScriptedUpstream.ScriptedUpstream, index: number) => {
  const request = upstream.requests[index]
  return request === undefined ? new Uint8Array() : upstream.responseBytes(request)
}

const fetchBytes = (url: string, init?: RequestInit) =>
  TestGateway.promise(async () => {
    const response = await fetch(url, init)
    return { response, bytes: new Uint8Array(await response.arrayBuffer()) }
  })

describe("Other /v1 routes", () => {
  it.live("embeddings through the openai client: the request and the answer unchanged", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const response = yield* TestGateway.promise(() =>
        gateway.client.embeddings.create({ model: "embed", input: ["a", "b"] }).asResponse()
      )
      const received = new Uint8Array(yield* TestGateway.promise(() => response.arrayBuffer()))
      const request = upstream.requests[0]
      assert.strictEqual(request?.path, "/v1/embeddings")
      assert.strictEqual(request?.method, "POST")
      assert.isTrue(bytesEqual(request?.body ?? new Uint8Array(), gateway.sentBodies[0] ?? new Uint8Array()))
      assert.isTrue(bytesEqual(written(upstream, 0), received))
      assert.strictEqual(response.headers.get("x-scripted"), "echo")
      // The client's key for the gateway never reaches the upstream.
      assert.isUndefined(request?.headers.authorization)
    })
  )

  it.live("a streamed legacy completion comes back byte for byte", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const chunks: Array<string> = []
      const stream = yield* TestGateway.promise(() =>
        gateway.client.completions.create({ model: "m", prompt: "tell", stream: true })
      )
      yield* TestGateway.promise(async () => {
        for await (const chunk of stream) chunks.push(chunk.choices[0]?.text ?? "")
      })
      assert.strictEqual(chunks.join(""), "Once upon a time")
      const { response, bytes } = yield* fetchBytes(`${gateway.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "m", prompt: "tell", stream: true })
      })
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
      assert.isTrue(bytesEqual(written(upstream, 1), bytes))
    })
  )

  it.live("an upload (multipart, streamed on), GET models/{id} with a query, and DELETE files/{id}", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const boundary = "----mcpgate-test"
      const audio = Buffer.alloc(300_000, 7)
      const body = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`
        ),
        audio,
        Buffer.from(`\r\n--${boundary}--\r\n`)
      ])
      const contentType = `multipart/form-data; boundary=${boundary}`
      const upload = yield* fetchBytes(`${gateway.url}/v1/audio/transcriptions`, {
        method: "POST",
        headers: { "content-type": contentType },
        body
      })
      assert.strictEqual(upload.response.status, 200)
      const echo = JSON.parse(Buffer.from(upload.bytes).toString("utf8")) as Record<string, unknown>
      assert.strictEqual(echo.contentType, contentType)
      assert.strictEqual(echo.bodyLength, body.length)
      assert.isTrue(bytesEqual(upstream.requests[0]?.body ?? new Uint8Array(), body))

      const model = yield* fetchBytes(`${gateway.url}/v1/models/scripted-model?detail=1`)
      assert.strictEqual(model.response.status, 200)
      const modelEcho = JSON.parse(Buffer.from(model.bytes).toString("utf8")) as Record<string, unknown>
      assert.deepStrictEqual([modelEcho.method, modelEcho.url], ["GET", "/v1/models/scripted-model?detail=1"])

      const removed = yield* fetchBytes(`${gateway.url}/v1/files/file-1`, { method: "DELETE" })
      const removedEcho = JSON.parse(Buffer.from(removed.bytes).toString("utf8")) as Record<string, unknown>
      assert.deepStrictEqual([removedEcho.method, removedEcho.url], ["DELETE", "/v1/files/file-1"])
    })
  )

  it.live("an upstream 404 passes through; /v1/mcp/<unknown> stays the gateway's own 404", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup
      const missing = yield* fetchBytes(`${gateway.url}/v1/no-such-route`)
      assert.strictEqual(missing.response.status, 404)
      assert.strictEqual(upstream.requests.length, 1)
      const mcp = yield* fetchBytes(`${gateway.url}/v1/mcp/nothing`)
      assert.strictEqual(mcp.response.status, 404)
      assert.strictEqual(upstream.requests.length, 1)
    })
  )
})
