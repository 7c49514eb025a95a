import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { ToolCallError } from "@mcpgate/transport/Errors"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Duration, Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { errorText } from "../src/mcp/McpToolServer.ts"
import { mcpBackend, pixelPng } from "./support/McpBackend.ts"
import * as McpGateway from "./support/McpGateway.ts"

const servers = (backendUrl: string) => [
  McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] }),
  McpGateway.server("b", { url: backendUrl, transport: "streamable-http" })
]

const setup = (options: Omit<McpGateway.McpGatewayOptions, "servers"> = {}) =>
  Effect.gen(function* () {
    const backend = yield* mcpBackend
    const gateway = yield* McpGateway.start({ servers: servers(backend.url), ...options })
    return { backend, gateway }
  })

const textOf = (result: CallToolResult): string =>
  result.content.map((block) => (block.type === "text" ? block.text : `[${block.type}]`)).join("\n")

const call = (connected: McpGateway.ConnectedClient, name: string, args: Record<string, unknown> = {}) =>
  McpGateway.promise(() => connected.client.callTool({ name, arguments: args }) as Promise<CallToolResult>)

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  effect.pipe(
    Effect.timeoutOrElse({
      duration: Duration.seconds(5),
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

const listToolsBody = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} })

describe("McpEndpoint", () => {
  it.live(
    "lists every server's tools under public names, with their schemas, and passes results through",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const connected = yield* McpGateway.connect(gateway)
        const { tools } = yield* McpGateway.promise(() => connected.client.listTools())
        assert.includeMembers(
          tools.map((tool) => tool.name),
          ["a__echo", "a__slow", "b__add", "b__divide", "b__pixel", "b__slow"]
        )
        const add = tools.find((tool) => tool.name === "b__add")
        assert.deepStrictEqual(add, {
          name: "b__add",
          title: "Add two numbers",
          description: "Adds a and b",
          inputSchema: {
            type: "object",
            properties: { a: { type: "number" }, b: { type: "number" } },
            required: ["a", "b"]
          },
          outputSchema: { type: "object", properties: { sum: { type: "number" } }, required: ["sum"] },
          annotations: { readOnlyHint: true, idempotentHint: true }
        })

        // stdio and streamable-HTTP servers alike; the SDK client validates `structuredContent`
        // against the output schema it got from the list.
        const echo = yield* call(connected, "a__echo", { text: "hi" })
        assert.deepStrictEqual(echo, { content: [{ type: "text", text: "hi" }] })
        const sum = yield* call(connected, "b__add", { a: 2, b: 3 })
        assert.deepStrictEqual(sum, { content: [{ type: "text", text: "5" }], structuredContent: { sum: 5 } })
        const divide = yield* call(connected, "b__divide", { a: 1, b: 0 })
        assert.deepStrictEqual(divide, {
          content: [{ type: "text", text: "cannot divide by zero" }],
          isError: true
        })
        const pixel = yield* call(connected, "b__pixel")
        assert.deepStrictEqual(pixel.content, [{ type: "image", data: pixelPng, mimeType: "image/png" }])
        const fail = yield* call(connected, "a__fail")
        assert.deepStrictEqual(fail, { content: [], isError: true })
      }),
    15_000
  )

  it.live(
    "a call the gateway cannot carry out is an isError result that says why",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const connected = yield* McpGateway.connect(gateway)
        const unknown = yield* call(connected, "b__nope")
        assert.isTrue(unknown.isError)
        assert.include(textOf(unknown), 'unknown tool "b__nope"')

        yield* gateway.manager.disconnect("a")
        const away = yield* call(connected, "a__echo", { text: "hi" })
        assert.isTrue(away.isError)
        assert.include(textOf(away), 'server "a" is not connected')
        // The other server is untouched.
        const sum = yield* call(connected, "b__add", { a: 1, b: 1 })
        assert.deepStrictEqual(sum.structuredContent, { sum: 2 })
      }),
    15_000
  )

  it("a server that needs login says how to log in", () => {
    const error = new ToolCallError({
      server: "notion",
      tool: "search",
      reason: "needs_auth",
      message: 'server "notion" needs authorization'
    })
    assert.strictEqual(
      errorText(error, "http://127.0.0.1:8808/admin"),
      "notion needs login: run `mcpgate login notion` or use the admin UI (http://127.0.0.1:8808/admin), then call the tool again"
    )
  })

  it.live(
    "tells every listening session when the tool list changes",
    () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup()
        const first = yield* McpGateway.connect(gateway, "first")
        const second = yield* McpGateway.connect(gateway, "second")
        yield* within(
          gateway.endpoint.awaitSessions(
            (sessions) => sessions.length === 2 && sessions.every((session) => session.listening)
          ),
          "both clients to listen"
        )
        yield* McpGateway.promise(() =>
          backend.addTool({ name: "multiply", description: "Multiplies", inputSchema: { type: "object" } })
        )
        yield* first.nextListChanged
        yield* second.nextListChanged
        const { tools } = yield* McpGateway.promise(() => first.client.listTools())
        assert.include(
          tools.map((tool) => tool.name),
          "b__multiply"
        )
        const result = yield* call(second, "b__multiply")
        assert.strictEqual(textOf(result), "called multiply")

        // A server going away changes the list too.
        yield* gateway.manager.disconnect("a")
        yield* first.nextListChanged
        const after = yield* McpGateway.promise(() => first.client.listTools())
        assert.isFalse(after.tools.some((tool) => tool.name.startsWith("a__")))
      }),
    15_000
  )

  it.live(
    "cancelling a call interrupts the upstream call",
    () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup()
        const connected = yield* McpGateway.connect(gateway)
        yield* within(
          gateway.endpoint.awaitSessions((sessions) => sessions[0]?.listening === true),
          "the client to listen"
        )
        const controller = new AbortController()
        const pending = connected.client.callTool({ name: "b__slow", arguments: {} }, undefined, {
          signal: controller.signal
        })
        pending.catch(() => {})
        yield* within(
          McpGateway.promise(() => backend.slowStarted()),
          "the backend to start the call"
        )
        controller.abort("changed my mind")
        // The backend's handler sees its own signal abort: the gateway sent notifications/cancelled upstream.
        yield* within(
          McpGateway.promise(() => backend.slowAborted()),
          "the backend to see the cancellation"
        )
        const exit = yield* Effect.exit(McpGateway.promise(() => pending))
        assert.isTrue(Exit.isFailure(exit))
        // The cancelled request's event stream is closed: only the GET stream stays open.
        yield* within(
          gateway.endpoint.awaitSessions((sessions) => sessions[0]?.openRequests === 1),
          "the cancelled request to end"
        )
        const echo = yield* call(connected, "a__echo", { text: "still here" })
        assert.strictEqual(textOf(echo), "still here")
      }),
    15_000
  )

  it.live(
    "sessions are independent; DELETE ends one and its id then gets 404",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const first = yield* McpGateway.connect(gateway, "first")
        const second = yield* McpGateway.connect(gateway, "second")
        const [one, two] = yield* Effect.all(
          [call(first, "b__add", { a: 1, b: 2 }), call(second, "b__add", { a: 10, b: 20 })],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(one?.structuredContent, { sum: 3 })
        assert.deepStrictEqual(two?.structuredContent, { sum: 30 })
        const sessions = yield* gateway.endpoint.sessions
        assert.strictEqual(sessions.length, 2)
        assert.sameMembers(
          sessions.map((session) => session.clientInfo?.name),
          ["first", "second"]
        )
        const firstId = first.transport.sessionId
        assert.isString(firstId)
        assert.notStrictEqual(firstId, second.transport.sessionId)

        yield* McpGateway.promise(() => first.transport.terminateSession())
        const left = yield* gateway.endpoint.sessions
        assert.deepStrictEqual(
          left.map((session) => session.clientInfo?.name),
          ["second"]
        )
        const gone = yield* McpGateway.request(gateway, {
          method: "POST",
          body: listToolsBody,
          headers: { "mcp-session-id": firstId ?? "" }
        })
        assert.strictEqual(gone.status, 404)
        assert.deepStrictEqual(McpGateway.jsonRpcErrorOf(gone), {
          code: -32001,
          message: "Session not found"
        })
        const stillThere = yield* call(second, "a__echo", { text: "ok" })
        assert.strictEqual(textOf(stillThere), "ok")
      }),
    15_000
  )

  it.live(
    "answers requests outside a session as the SDK's transport does",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const noSessionGet = yield* McpGateway.request(gateway, {
          method: "GET",
          headers: { accept: "text/event-stream" }
        })
        assert.strictEqual(noSessionGet.status, 400)
        assert.strictEqual(McpGateway.jsonRpcErrorOf(noSessionGet).code, -32000)
        const noSessionPost = yield* McpGateway.request(gateway, { method: "POST", body: listToolsBody })
        assert.strictEqual(noSessionPost.status, 400)
        assert.include(McpGateway.jsonRpcErrorOf(noSessionPost).message, "Mcp-Session-Id")
        const unknownGet = yield* McpGateway.request(gateway, {
          method: "GET",
          headers: { accept: "text/event-stream", "mcp-session-id": "no-such-session" }
        })
        assert.strictEqual(unknownGet.status, 404)
        const notJson = yield* McpGateway.request(gateway, { method: "POST", body: '{"jsonrpc": "2.0",' })
        assert.strictEqual(notJson.status, 400)
        assert.strictEqual(McpGateway.jsonRpcErrorOf(notJson).code, -32700)
        const put = yield* McpGateway.request(gateway, { method: "PUT", body: listToolsBody })
        assert.strictEqual(put.status, 405)
        assert.strictEqual(put.headers.get("allow"), "GET, POST, DELETE")
        // An initialize the SDK refuses (no event-stream in Accept) leaves no session behind.
        const refused = yield* McpGateway.request(gateway, {
          method: "POST",
          body: JSON.stringify(McpGateway.initializeMessage),
          headers: { accept: "application/json" }
        })
        assert.strictEqual(refused.status, 406)
        assert.deepStrictEqual(yield* gateway.endpoint.sessions, [])
      }),
    15_000
  )

  it.live(
    "refuses browser origins other than loopback and the public URL (DNS rebinding)",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ endpoint: { publicUrl: "https://gateway.example.com/" } })
        const initialize = (origin: string) =>
          McpGateway.request(gateway, {
            method: "POST",
            body: JSON.stringify(McpGateway.initializeMessage),
            headers: { origin }
          })
        for (const origin of ["https://evil.example", "null", "http://127.0.0.1.evil.example"]) {
          const refused = yield* initialize(origin)
          assert.strictEqual(refused.status, 403, origin)
          assert.strictEqual(McpGateway.jsonRpcErrorOf(refused).code, -32000)
        }
        assert.deepStrictEqual(yield* gateway.endpoint.sessions, [])
        for (const origin of [
          "http://localhost:5173",
          "http://127.0.0.1:6274",
          "https://gateway.example.com"
        ]) {
          const accepted = yield* initialize(origin)
          assert.strictEqual(accepted.status, 200, origin)
          assert.isString(accepted.headers.get("mcp-session-id"))
        }
        assert.strictEqual((yield* gateway.endpoint.sessions).length, 3)
      }),
    15_000
  )

  it.effect(
    "closes sessions left idle, but not one whose client is listening",
    () =>
      Effect.gen(function* () {
        // The default idle timeout: 30 minutes, passed on the test clock. Idle sessions stay
        // whole meanwhile here (McpSessionRevive.test.ts covers those reduced to their record).
        const { gateway } = yield* setup({ endpoint: { dormantAfter: "1 hour" } })
        const listening = yield* McpGateway.connect(gateway, "listening")
        yield* within(
          gateway.endpoint.awaitSessions((sessions) => sessions[0]?.listening === true),
          "the first client to listen"
        )
        const leaving = yield* McpGateway.connect(gateway, "leaving")
        const leavingId = leaving.transport.sessionId ?? ""
        // Closing the client drops its event stream without DELETE: the session is left idle.
        yield* McpGateway.promise(() => leaving.client.close())
        yield* within(
          gateway.endpoint.awaitSessions((sessions) =>
            sessions.some((session) => session.id === leavingId && session.openRequests === 0)
          ),
          "the leaving client's requests to end"
        )
        yield* TestClock.adjust("29 minutes")
        assert.lengthOf(yield* gateway.endpoint.sessions, 2)
        yield* TestClock.adjust("1 minute")
        const left = yield* within(
          gateway.endpoint.awaitSessions((sessions) => !sessions.some((session) => session.id === leavingId)),
          "the idle session to close"
        )
        // The listening session has sent nothing for longer than the idle timeout, and stays.
        assert.deepStrictEqual(
          left.map((session) => session.clientInfo?.name),
          ["listening"]
        )
        const gone = yield* McpGateway.request(gateway, {
          method: "POST",
          body: listToolsBody,
          headers: { "mcp-session-id": leavingId }
        })
        assert.strictEqual(gone.status, 404)
        const echo = yield* call(listening, "a__echo", { text: "awake" })
        assert.strictEqual(textOf(echo), "awake")
      }),
    15_000
  )

  it.live(
    "shutting down interrupts calls in progress and closes the sessions",
    () =>
      Effect.gen(function* () {
        const backend = yield* mcpBackend
        const gatewayScope = yield* Scope.make()
        const gateway = yield* McpGateway.start({ servers: servers(backend.url) }).pipe(
          Scope.provide(gatewayScope)
        )
        const connected = yield* McpGateway.connect(gateway)
        yield* within(
          gateway.endpoint.awaitSessions((sessions) => sessions[0]?.listening === true),
          "the client to listen"
        )
        // The SDK client keeps this promise pending after the stream ends; it is not awaited.
        connected.client.callTool({ name: "b__slow", arguments: {} }).catch(() => {})
        yield* within(
          McpGateway.promise(() => backend.slowStarted()),
          "the backend to start the call"
        )
        // Prompt, although a call and the client's event stream are open: the HTTP server's
        // graceful shutdown would otherwise wait for them.
        yield* within(Scope.close(gatewayScope, Exit.void), "the gateway to shut down")
        yield* within(
          McpGateway.promise(() => backend.slowAborted()),
          "the upstream call to be cancelled"
        )
        const after = yield* Effect.exit(McpGateway.request(gateway, { method: "POST", body: listToolsBody }))
        assert.isTrue(Exit.isFailure(after))
      }),
    15_000
  )

  it.live(
    "is built on its first use: no sessions before, and shut down before it, it refuses new ones",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        assert.deepStrictEqual(yield* gateway.endpoint.sessions, [])
        yield* gateway.endpoint.shutdown
        const refused = yield* McpGateway.request(gateway, {
          method: "POST",
          body: JSON.stringify(McpGateway.initializeMessage)
        })
        assert.strictEqual(refused.status, 503)
        assert.match(McpGateway.jsonRpcErrorOf(refused).message, /shutting down/)
        assert.deepStrictEqual(yield* gateway.endpoint.sessions, [])
      }),
    15_000
  )

  it.live(
    "serves the builtin tools like any server",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({
          builtins: {
            fetch: { enabled: true, allowPrivateNetwork: false },
            webSearch: { enabled: false, provider: "duckduckgo" }
          }
        })
        const connected = yield* McpGateway.connect(gateway)
        const { tools } = yield* McpGateway.promise(() => connected.client.listTools())
        const names = tools.map((tool) => tool.name)
        assert.include(names, "builtin__fetch")
        assert.notInclude(names, "builtin__web_search")
        const refused = yield* call(connected, "builtin__fetch", { url: "http://127.0.0.1:9/" })
        assert.isTrue(refused.isError)
        assert.match(textOf(refused), /127\.0\.0\.1/)
      }),
    15_000
  )
})
