/**
 * Small idle `/mcp` sessions (docs/gateway.md#mcp-endpoint): a session with no
 * open request drops its live objects and keeps only its record; the next
 * request of the caller that opened it rebuilds it under the same id. Another
 * caller still gets 404, and DELETE forgets the record.
 */
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { Duration, Effect } from "effect"
import * as McpGateway from "./support/McpGateway.ts"

const keys = ["key-of-alice", "key-of-bob"] as const

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  effect.pipe(
    Effect.timeoutOrElse({
      duration: Duration.seconds(5),
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

const withKey = (key: string, headers: Record<string, string> = {}) => ({
  authorization: `Bearer ${key}`,
  "mcp-protocol-version": "2025-11-25",
  ...headers
})

const post = (gateway: McpGateway.McpGateway, key: string, session: string, body: unknown) =>
  McpGateway.request(gateway, {
    method: "POST",
    body: JSON.stringify(body),
    headers: withKey(key, { "mcp-session-id": session })
  })

const echo = (gateway: McpGateway.McpGateway, key: string, session: string, text: string) =>
  post(gateway, key, session, {
    jsonrpc: "2.0",
    id: 5,
    method: "tools/call",
    params: { name: "a__echo", arguments: { text } }
  })

const start = McpGateway.start({
  servers: [McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] })],
  apiKeys: keys,
  endpoint: { dormantAfter: "100 millis" }
})

/** Opens a session as alice, initialized; its id. */
const open = (gateway: McpGateway.McpGateway) =>
  Effect.gen(function* () {
    const response = yield* McpGateway.request(gateway, {
      method: "POST",
      body: JSON.stringify(McpGateway.initializeMessage),
      headers: withKey(keys[0])
    })
    assert.strictEqual(response.status, 200, response.text)
    const id = response.headers.get("mcp-session-id") ?? ""
    assert.notStrictEqual(id, "")
    const initialized = yield* post(gateway, keys[0], id, {
      jsonrpc: "2.0",
      method: "notifications/initialized"
    })
    assert.strictEqual(initialized.status, 202, initialized.text)
    return id
  })

const dormant = (gateway: McpGateway.McpGateway) =>
  within(
    gateway.endpoint.awaitSessions((sessions) => sessions.length === 0),
    "the idle session to keep only its record"
  )

describe("idle /mcp sessions kept as records", () => {
  it.live(
    "a session reduced to its record answers tools/call afterwards, under the same id",
    () =>
      Effect.gen(function* () {
        const gateway = yield* start
        const id = yield* open(gateway)
        yield* dormant(gateway)
        const answer = yield* echo(gateway, keys[0], id, "still here")
        assert.strictEqual(answer.status, 200, answer.text)
        assert.include(answer.text, "still here")
        assert.notInclude(answer.text, '"error"')
        assert.strictEqual(answer.headers.get("mcp-session-id"), id)
        // Rebuilt as it was opened: the client's name is known again.
        const [session] = yield* gateway.endpoint.sessions
        assert.strictEqual(session?.id, id)
        assert.strictEqual(session?.clientInfo?.name, "raw-client")
        // And again after a second rest.
        yield* dormant(gateway)
        const tools = yield* post(gateway, keys[0], id, { jsonrpc: "2.0", id: 6, method: "tools/list" })
        assert.strictEqual(tools.status, 200, tools.text)
        assert.include(tools.text, "a__echo")
      }),
    20_000
  )

  it.live(
    "another key's request for a session kept as a record is answered 404",
    () =>
      Effect.gen(function* () {
        const gateway = yield* start
        const id = yield* open(gateway)
        yield* dormant(gateway)
        const stolen = yield* echo(gateway, keys[1], id, "not yours")
        assert.strictEqual(stolen.status, 404, stolen.text)
        assert.deepStrictEqual(McpGateway.jsonRpcErrorOf(stolen), {
          code: -32001,
          message: "Session not found"
        })
        // Not rebuilt for the wrong caller, and still alice's.
        assert.lengthOf(yield* gateway.endpoint.sessions, 0)
        assert.strictEqual((yield* echo(gateway, keys[0], id, "mine")).status, 200)
      }),
    20_000
  )

  it.live(
    "DELETE of a session kept as a record forgets it",
    () =>
      Effect.gen(function* () {
        const gateway = yield* start
        const id = yield* open(gateway)
        yield* dormant(gateway)
        const ended = yield* McpGateway.request(gateway, {
          method: "DELETE",
          headers: withKey(keys[0], { "mcp-session-id": id })
        })
        assert.strictEqual(ended.status, 200, ended.text)
        const gone = yield* echo(gateway, keys[0], id, "gone")
        assert.strictEqual(gone.status, 404, gone.text)
        assert.lengthOf(yield* gateway.endpoint.sessions, 0)
      }),
    20_000
  )
})
