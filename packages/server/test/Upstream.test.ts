import { createServer, request } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Redacted } from "effect"
import { APIError } from "openai"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

const noTools = InMemoryTools.make({}).layer
const messages = [{ role: "user" as const, content: "Hello there" }]
const usage = { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 }

const bytesEqual = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0

describe("Upstream pass-through (no execute_mcp_tools)", () => {
  it.live("forwards a completion byte for byte, both ways", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "General Kenobi!", usage }])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      const response = yield* TestGateway.promise(() =>
        gateway.client.chat.completions.create({ model: "m", messages, temperature: 0.25 }).asResponse()
      )
      const received = new Uint8Array(yield* TestGateway.promise(() => response.arrayBuffer()))
      const [request] = upstream.requests
      assert.isDefined(request)
      if (request === undefined) return
      const sent = gateway.sentBodies[0]
      assert.isDefined(sent)
      assert.isTrue(bytesEqual(request.body, sent ?? new Uint8Array()), "request body changed on the way")
      assert.isTrue(bytesEqual(upstream.responseBytes(request), received), "response body changed on the way")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("x-request-id"), "chatcmpl-scripted-1")
      assert.strictEqual(response.headers.get("content-type"), "application/json")
    })
  )

  it.live("forwards a streamed completion byte for byte", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { content: "Streaming works, chunk by chunk.", reasoning: "think first", usage }
      ])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      const response = yield* TestGateway.promise(() =>
        gateway.client.chat.completions
          .create({ model: "m", messages, stream: true, stream_options: { include_usage: true } })
          .asResponse()
      )
      const received = new Uint8Array(yield* TestGateway.promise(() => response.arrayBuffer()))
      const request = upstream.requests[0]
      assert.isDefined(request)
      if (request === undefined) return
      assert.isTrue(bytesEqual(upstream.responseBytes(request), received), "stream bytes changed on the way")
      assert.isTrue(bytesEqual(request.body, gateway.sentBodies[0] ?? new Uint8Array()))
      assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
      const text = Buffer.from(received).toString("utf8")
      assert.include(text, '"reasoning_content":"think "')
      assert.strictEqual(text.split("data: [DONE]").length - 1, 1)
    })
  )

  it.live("the openai client reads a streamed pass-through", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "one two three four" }])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      const text = yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create({ model: "m", messages, stream: true })
        let text = ""
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
        return text
      })
      assert.strictEqual(text, "one two three four")
    })
  )

  it.live("passes an upstream 4xx through with its status and body", () =>
    Effect.gen(function* () {
      const errorBody = {
        error: {
          message: "model 'nope' does not exist",
          type: "invalid_request_error",
          param: "model",
          code: null
        }
      }
      const upstream = yield* ScriptedUpstream.make([
        { error: { status: 404, body: errorBody } },
        { error: { status: 404, body: errorBody } }
      ])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      const response = yield* TestGateway.promise(() =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "nope", messages })
        })
      )
      const received = new Uint8Array(yield* TestGateway.promise(() => response.arrayBuffer()))
      assert.strictEqual(response.status, 404)
      const request = upstream.requests[0]
      assert.isTrue(request !== undefined && bytesEqual(upstream.responseBytes(request), received))

      const error = yield* TestGateway.promise(() =>
        gateway.client.chat.completions.create({ model: "nope", messages })
      ).pipe(Effect.flip)
      assert.instanceOf(error, APIError)
      if (error instanceof APIError) {
        assert.strictEqual(error.status, 404)
        assert.include(error.message, "model 'nope' does not exist")
      }
    })
  )

  it.live("sends the configured upstream key, never the client's", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "ok" }])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: upstream.baseUrl, apiKey: Redacted.make("upstream-secret") },
        tools: noTools
      })
      yield* TestGateway.promise(() => gateway.client.chat.completions.create({ model: "m", messages }))
      const models = yield* TestGateway.promise(() => gateway.client.models.list())
      assert.deepStrictEqual(
        models.data.map((model) => model.id),
        ["scripted-model"]
      )
      for (const request of upstream.requests) {
        assert.strictEqual(request.headers.authorization, "Bearer upstream-secret")
      }
      assert.strictEqual(upstream.requests.length, 2)
    })
  )

  it.live("without an upstream key, the client's Authorization is not forwarded", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "ok" }])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      yield* TestGateway.promise(() => gateway.client.chat.completions.create({ model: "m", messages }))
      assert.isUndefined(upstream.requests[0]?.headers.authorization)
    })
  )

  it.live("GET /v1/models passes the upstream's answer through", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([])
      const gateway = yield* TestGateway.start({
        upstream: { baseUrl: `${upstream.baseUrl}/` },
        tools: noTools
      })
      const response = yield* TestGateway.promise(() => fetch(`${gateway.url}/v1/models`))
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("x-scripted"), "models")
      const body = yield* TestGateway.promise(() => response.text())
      const request = upstream.requests[0]
      assert.isTrue(request !== undefined && upstream.responseBytes(request).toString("utf8") === body)
    })
  )

  it.live("an unreachable upstream is a 502 that names the URL", () =>
    Effect.gen(function* () {
      const port = yield* ScriptedUpstream.closedPort
      const baseUrl = `http://127.0.0.1:${port}/v1`
      const gateway = yield* TestGateway.start({ upstream: { baseUrl }, tools: noTools })
      const response = yield* TestGateway.promise(() =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: "m", messages })
        })
      )
      assert.strictEqual(response.status, 502)
      const body = (yield* TestGateway.promise(() => response.json())) as {
        error: { message: string; type: string; code: string }
      }
      assert.strictEqual(body.error.type, "upstream_error")
      assert.strictEqual(body.error.code, "upstream_unreachable")
      assert.strictEqual(
        body.error.message,
        `upstream http://127.0.0.1:${port}/v1/chat/completions is unreachable: ECONNREFUSED`
      )
      const models = yield* TestGateway.promise(() => fetch(`${gateway.url}/v1/models`))
      assert.strictEqual(models.status, 502)
      const error = yield* TestGateway.promise(() =>
        gateway.client.chat.completions.create({ model: "m", messages })
      ).pipe(Effect.flip)
      assert.instanceOf(error, APIError)
      if (error instanceof APIError) assert.strictEqual(error.status, 502)
    })
  )

  it.live("without server.upstream every route answers 503 saying how to configure it", () =>
    Effect.gen(function* () {
      const gateway = yield* TestGateway.start({ upstream: undefined, tools: noTools })
      for (const path of ["/v1/models", "/v1/chat/completions"]) {
        const response = yield* TestGateway.promise(() =>
          path === "/v1/models"
            ? fetch(`${gateway.url}${path}`)
            : fetch(`${gateway.url}${path}`, {
                method: "POST",
                body: JSON.stringify({ model: "m", messages })
              })
        )
        assert.strictEqual(response.status, 503)
        const body = (yield* TestGateway.promise(() => response.json())) as {
          error: { message: string; code: string }
        }
        assert.strictEqual(body.error.code, "upstream_not_configured")
        assert.include(body.error.message, "server.upstream")
      }
    })
  )

  it.live("a client that aborts a streamed pass-through closes the upstream request", () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([
        { content: "a long answer that never ends", hang: true }
      ])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      const controller = new AbortController()
      const first = yield* TestGateway.promise(async () => {
        const stream = await gateway.client.chat.completions.create(
          { model: "m", messages, stream: true },
          { signal: controller.signal }
        )
        for await (const chunk of stream) {
          controller.abort()
          return chunk
        }
        return undefined
      }).pipe(Effect.catch(() => Effect.succeed(undefined)))
      assert.isTrue(controller.signal.aborted)
      void first
      const closed = yield* upstream.closedEarly
      assert.strictEqual(closed.path, "/v1/chat/completions")
    })
  )

  it.live(
    "an upstream that breaks off mid-answer cuts the client's connection: no short body passes as whole",
    () =>
      Effect.gen(function* () {
        // Half of a promised 1000-byte answer, then the connection is gone.
        const broken = createServer((_req, res) => {
          res.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
          res.write("x".repeat(500), () => res.destroy())
        })
        yield* Effect.acquireRelease(
          Effect.promise(() => new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve))),
          () => Effect.promise(() => new Promise<void>((resolve) => broken.close(() => resolve())))
        )
        const port = (broken.address() as AddressInfo).port
        const gateway = yield* TestGateway.start({
          upstream: { baseUrl: `http://127.0.0.1:${port}/v1` },
          tools: noTools
        })
        const outcome = yield* TestGateway.promise(
          () =>
            new Promise<{ status: number; bytes: number; ended: boolean; aborted: boolean }>((resolve) => {
              const url = new URL(`${gateway.url}/v1/chat/completions`)
              const req = request(
                url,
                { method: "POST", headers: { "content-type": "application/json" } },
                (res) => {
                  let bytes = 0
                  let ended = false
                  res.on("data", (chunk: Buffer) => (bytes += chunk.length))
                  res.on("end", () => (ended = true))
                  res.on("close", () =>
                    resolve({
                      status: res.statusCode ?? 0,
                      bytes,
                      ended,
                      aborted: res.errored !== null || !res.complete
                    })
                  )
                }
              )
              req.on("error", () => resolve({ status: 0, bytes: 0, ended: false, aborted: true }))
              req.end(JSON.stringify({ model: "m", messages }))
            })
        )
        assert.strictEqual(outcome.status, 200)
        assert.isTrue(outcome.bytes < 1000)
        assert.isTrue(outcome.aborted, "the client saw a complete answer")
        // The gateway serves on (its own 404 for an unknown /v1/mcp route).
        const next = yield* TestGateway.promise(() => fetch(`${gateway.url}/v1/mcp/unknown`))
        assert.strictEqual(next.status, 404)
      })
  )

  it.live('"execute_mcp_tools": false is removed, the rest forwarded as is', () =>
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make([{ content: "plain" }])
      const gateway = yield* TestGateway.start({ upstream: { baseUrl: upstream.baseUrl }, tools: noTools })
      const params = { model: "m", messages, seed: 7, execute_mcp_tools: false }
      const completion = yield* TestGateway.promise(() => gateway.client.chat.completions.create(params))
      assert.strictEqual(completion.choices[0]?.message.content, "plain")
      assert.deepStrictEqual(upstream.chatBodies()[0], { model: "m", messages, seed: 7 })
    })
  )
})
