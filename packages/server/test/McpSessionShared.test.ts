/**
 * Two gateway instances sharing their session records and stream events, as
 * replicas on one store do (docs/store.md#mcp-sessions): a session opened on one
 * continues on the other, `/mcp/<server>` included (with a new connection to the
 * server); a stream is resumed on the other with `Last-Event-ID`; tool list
 * changes reach the `GET` stream on the instance that holds it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as McpEventStore from "@mcpgate/core/McpEventStore"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { Effect } from "effect"
import * as McpSessionRecords from "../src/mcp/McpSessionRecords.ts"
import * as McpGateway from "./support/McpGateway.ts"

const headers = {
  accept: "application/json, text/event-stream",
  "content-type": "application/json",
  "mcp-protocol-version": "2025-11-25"
}

/** Reads an event stream until `done` holds for what came so far; then lets it go. */
const readUntil = async (response: Response, done: (text: string) => boolean): Promise<string> => {
  const reader = response.body?.getReader()
  if (reader === undefined) return ""
  const decoder = new TextDecoder()
  let text = ""
  while (!done(text)) {
    const chunk = await reader.read()
    if (chunk.done) break
    text += decoder.decode(chunk.value, { stream: true })
  }
  await reader.cancel().catch(() => undefined)
  return text
}

const post = (url: string, session: string | undefined, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: { ...headers, ...(session === undefined ? {} : { "mcp-session-id": session }) },
    body: JSON.stringify(body)
  })

/** Opens an initialized session at `url`; its id. */
const open = async (url: string) => {
  const opened = await post(url, undefined, McpGateway.initializeMessage)
  await opened.text()
  const session = opened.headers.get("mcp-session-id") ?? ""
  assert.notStrictEqual(session, "", `initialize answered ${opened.status}`)
  const initialized = await post(url, session, { jsonrpc: "2.0", method: "notifications/initialized" })
  assert.strictEqual(initialized.status, 202, await initialized.text())
  return session
}

const call = async (url: string, session: string, id: number, name: string, args: object) => {
  const response = await post(url, session, {
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name, arguments: args }
  })
  return { status: response.status, text: await readUntil(response, (text) => text.includes('"result"')) }
}

/** Two instances over the same records and events, each with its own stdio server `a`. */
const twoInstances = Effect.gen(function* () {
  const sessionRecords = yield* McpSessionRecords.makeMemory
  const eventStore = yield* McpEventStore.makeMemory()
  const start = McpGateway.start({
    servers: [McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] })],
    endpoint: { sessionRecords, eventStore }
  })
  return [yield* start, yield* start] as const
})

describe("/mcp sessions shared by two instances", () => {
  it.live(
    "a session opened on one instance continues on the other, /mcp and /mcp/<server>",
    () =>
      Effect.gen(function* () {
        const [first, second] = yield* twoInstances
        yield* McpGateway.promise(async () => {
          const session = await open(first.mcpUrl)
          const answer = await call(second.mcpUrl, session, 2, "a__echo", { text: "on the second" })
          assert.strictEqual(answer.status, 200, answer.text)
          assert.include(answer.text, "on the second")
          const tools = await post(second.mcpUrl, session, { jsonrpc: "2.0", id: 3, method: "tools/list" })
          assert.include(await tools.text(), "a__echo")

          const relayed = await open(`${first.url}/mcp/a`)
          const again = await call(`${second.url}/mcp/a`, relayed, 2, "echo", { text: "relayed" })
          assert.strictEqual(again.status, 200, again.text)
          assert.include(again.text, "relayed")
          // A relay session is not an aggregated one, on either instance.
          const wrongPath = await post(second.mcpUrl, relayed, {
            jsonrpc: "2.0",
            id: 4,
            method: "tools/list"
          })
          assert.strictEqual(wrongPath.status, 404)
        })
      }),
    30_000
  )

  it.live(
    "a stream answered on one instance is resumed on the other with Last-Event-ID",
    () =>
      Effect.gen(function* () {
        const [first, second] = yield* twoInstances
        yield* McpGateway.promise(async () => {
          const session = await open(first.mcpUrl)
          const answered = await call(first.mcpUrl, session, 2, "a__echo", { text: "to replay" })
          const primingId = /^id: (.+)$/m.exec(answered.text)?.[1] ?? ""
          assert.notStrictEqual(primingId, "")
          const resumed = await fetch(second.mcpUrl, {
            method: "GET",
            headers: {
              ...headers,
              accept: "text/event-stream",
              "mcp-session-id": session,
              "last-event-id": primingId
            }
          })
          assert.strictEqual(resumed.status, 200)
          const replay = await readUntil(resumed, (text) => text.includes("to replay"))
          assert.include(replay, "to replay")
        })
      }),
    30_000
  )

  it.live(
    "tool list changes reach the GET stream on the instance that holds it",
    () =>
      Effect.gen(function* () {
        const [first, second] = yield* twoInstances
        yield* McpGateway.promise(async () => {
          const session = await open(first.mcpUrl)
          const listening = await fetch(second.mcpUrl, {
            method: "GET",
            headers: { ...headers, accept: "text/event-stream", "mcp-session-id": session }
          })
          assert.strictEqual(listening.status, 200)
          const heard = readUntil(listening, (text) => text.includes("notifications/tools/list_changed"))
          // The second instance's own server `a` gains a tool: its aggregate changes.
          const added = await call(second.mcpUrl, session, 2, "a__add_tool", { name: "extra" })
          assert.strictEqual(added.status, 200, added.text)
          assert.include(await heard, "notifications/tools/list_changed")
        })
      }),
    30_000
  )
})
