/**
 * `/mcp` sessions belong to the API key that opened them, each key has its own
 * cap, and a client that drops a `tools/call` stream cancels the call upstream.
 */
import * as http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { Duration, Effect } from "effect"
import { mcpBackend } from "./support/McpBackend.ts"
import * as McpGateway from "./support/McpGateway.ts"

const servers = (backendUrl: string) => [
  McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] }),
  McpGateway.server("b", { url: backendUrl, transport: "streamable-http" })
]

const keys = ["key-of-alice", "key-of-bob"] as const

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  effect.pipe(
    Effect.timeoutOrElse({
      duration: Duration.seconds(5),
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

const setup = (endpoint: McpGateway.McpGatewayOptions["endpoint"] = {}) =>
  Effect.gen(function* () {
    const backend = yield* mcpBackend
    const gateway = yield* McpGateway.start({ servers: servers(backend.url), apiKeys: keys, endpoint })
    return { backend, gateway }
  })

const withKey = (key: string, headers: Record<string, string> = {}) => ({
  authorization: `Bearer ${key}`,
  "mcp-protocol-version": "2025-11-25",
  ...headers
})

/** Opens a session with `key`; its id. */
const open = (gateway: McpGateway.McpGateway, key: string) =>
  Effect.gen(function* () {
    const response = yield* McpGateway.request(gateway, {
      method: "POST",
      body: JSON.stringify(McpGateway.initializeMessage),
      headers: withKey(key)
    })
    assert.strictEqual(response.status, 200, response.text)
    const id = response.headers.get("mcp-session-id")
    if (id === null) return yield* Effect.die(new Error("no session id"))
    return id
  })

const listTools = (gateway: McpGateway.McpGateway, key: string, session: string) =>
  McpGateway.request(gateway, {
    method: "POST",
    body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} }),
    headers: withKey(key, { "mcp-session-id": session })
  })

describe("/mcp sessions and API keys", () => {
  it.live(
    "a session answers only the key that opened it",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const alice = yield* open(gateway, keys[0])
        assert.strictEqual((yield* listTools(gateway, keys[0], alice)).status, 200)
        const stolen = yield* listTools(gateway, keys[1], alice)
        assert.strictEqual(stolen.status, 404, stolen.text)
        assert.deepStrictEqual(McpGateway.jsonRpcErrorOf(stolen), {
          code: -32001,
          message: "Session not found"
        })
        assert.notInclude(stolen.text, "tools")
        const ended = yield* McpGateway.request(gateway, {
          method: "DELETE",
          headers: withKey(keys[1], { "mcp-session-id": alice })
        })
        assert.strictEqual(ended.status, 404)
        // Still Alice's.
        assert.strictEqual((yield* gateway.endpoint.sessions).length, 1)
        assert.strictEqual((yield* listTools(gateway, keys[0], alice)).status, 200)
      }),
    15_000
  )

  it.live(
    "each key has its own cap: its oldest idle session makes room, one key cannot lock out another",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ maxSessionsPerKey: 2 })
        const first = yield* open(gateway, keys[0])
        const second = yield* open(gateway, keys[0])
        const third = yield* open(gateway, keys[0])
        // The oldest idle one of that key was closed for the new one.
        assert.strictEqual((yield* listTools(gateway, keys[0], first)).status, 404)
        assert.strictEqual((yield* listTools(gateway, keys[0], second)).status, 200)
        assert.strictEqual((yield* listTools(gateway, keys[0], third)).status, 200)
        // Bob is not affected by Alice's sessions.
        const bob = yield* open(gateway, keys[1])
        assert.strictEqual((yield* listTools(gateway, keys[1], bob)).status, 200)
        assert.strictEqual((yield* gateway.endpoint.sessions).length, 3)
      }),
    15_000
  )

  it.live(
    "when every session of a key is in use, a new one is refused with a clear error",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ maxSessionsPerKey: 2 })
        const listening: Array<http.ClientRequest> = []
        try {
          for (let index = 0; index < 2; index++) {
            const id = yield* open(gateway, keys[0])
            // An open GET event stream keeps a session in use.
            const stream = http.get(gateway.mcpUrl, {
              agent: false,
              headers: withKey(keys[0], { "mcp-session-id": id, accept: "text/event-stream" })
            })
            stream.on("error", () => {})
            listening.push(stream)
          }
          yield* within(
            gateway.endpoint.awaitSessions(
              (sessions) => sessions.length === 2 && sessions.every((session) => session.listening)
            ),
            "both sessions to listen"
          )
          const refused = yield* McpGateway.request(gateway, {
            method: "POST",
            body: JSON.stringify(McpGateway.initializeMessage),
            headers: withKey(keys[0])
          })
          assert.strictEqual(refused.status, 429, refused.text)
          const error = McpGateway.jsonRpcErrorOf(refused)
          assert.include(error.message, "at most 2")
          assert.include(error.message, "API key")
          assert.strictEqual((yield* gateway.endpoint.sessions).length, 2)
          yield* open(gateway, keys[1])
        } finally {
          for (const request of listening) request.destroy()
        }
      }),
    15_000
  )

  it.live(
    "a client that drops its tools/call stream cancels the call at the MCP server",
    () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup()
        const session = yield* open(gateway, keys[0])
        const call = http.request(gateway.mcpUrl, {
          method: "POST",
          agent: false,
          headers: withKey(keys[0], {
            "mcp-session-id": session,
            "content-type": "application/json",
            accept: "application/json, text/event-stream"
          })
        })
        call.on("error", () => {})
        call.end(
          JSON.stringify({
            jsonrpc: "2.0",
            id: 7,
            method: "tools/call",
            params: { name: "b__slow", arguments: {} }
          })
        )
        yield* within(
          McpGateway.promise(() => backend.slowStarted()),
          "the backend to start the call"
        )
        // The client goes away: no notifications/cancelled, just a closed connection.
        call.destroy()
        yield* within(
          McpGateway.promise(() => backend.slowAborted()),
          "the backend to see the call cancelled"
        )
        yield* within(
          gateway.endpoint.awaitSessions((sessions) => sessions[0]?.openRequests === 0),
          "the dropped request to end"
        )
        assert.strictEqual((yield* listTools(gateway, keys[0], session)).status, 200)
      }),
    15_000
  )
})
