/**
 * Resumable event streams (`Last-Event-ID`) on `/mcp` and `/mcp/<server>`: a
 * client whose `GET` stream broke comes back with the last event id it saw and
 * is sent what it missed, here a `tools/list_changed` sent while it was away.
 */
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { conformanceServer } from "@mcpgate/testing/ConformanceServer"
import { Effect } from "effect"
import * as McpGateway from "./support/McpGateway.ts"

const baseHeaders = {
  accept: "application/json, text/event-stream",
  "content-type": "application/json"
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
    headers: {
      ...baseHeaders,
      "mcp-protocol-version": "2025-11-25",
      ...(session === undefined ? {} : { "mcp-session-id": session })
    },
    body: JSON.stringify(body)
  })

const listen = (url: string, session: string, lastEventId?: string) =>
  fetch(url, {
    method: "GET",
    headers: {
      accept: "text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      "mcp-session-id": session,
      ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId })
    }
  })

const callTool = async (url: string, session: string, id: number, params: object) =>
  readUntil(await post(url, session, { jsonrpc: "2.0", id, method: "tools/call", params }), (text) =>
    text.includes('"result"')
  )

/**
 * Opens a session and listens; the tool list changes (an event with an id comes);
 * the stream breaks; the list changes again; the client resumes from the id it saw.
 */
const resumeAfterListChange = (url: string, addTool: string) =>
  McpGateway.promise(async () => {
    const init = await post(url, undefined, McpGateway.initializeMessage)
    const session = init.headers.get("mcp-session-id") ?? ""
    await readUntil(init, (text) => text.includes('"result"'))
    await (await post(url, session, { jsonrpc: "2.0", method: "notifications/initialized" })).text()
    const listening = listen(url, session).then((response) =>
      readUntil(response, (text) => /^id: .+$/m.test(text) && text.includes("list_changed"))
    )
    await callTool(url, session, 2, { name: addTool, arguments: { name: "one" } })
    const lastEventId = /^id: (.+)$/m.exec(await listening)?.[1] ?? ""
    // The stream is gone; meanwhile the list changes again.
    await callTool(url, session, 3, { name: addTool, arguments: { name: "two" } })
    const resumed = await listen(url, session, lastEventId)
    const replay = await readUntil(resumed, (text) => text.includes("notifications/tools/list_changed"))
    return { status: resumed.status, lastEventId, replay }
  })

describe("resumable streams", () => {
  it.live(
    "/mcp/<server> replays what a client missed on its GET stream",
    () =>
      Effect.gen(function* () {
        const upstream = yield* conformanceServer()
        const gateway = yield* McpGateway.start({
          servers: [McpGateway.server("conf", { url: upstream.url, transport: "streamable-http" })]
        })
        const result = yield* resumeAfterListChange(`${gateway.url}/mcp/conf`, "test_add_tool")
        assert.notStrictEqual(result.lastEventId, "")
        assert.strictEqual(result.status, 200)
        assert.include(result.replay, "notifications/tools/list_changed")
      }),
    30_000
  )

  it.live(
    "/mcp replays what a client missed on its GET stream",
    () =>
      Effect.gen(function* () {
        const gateway = yield* McpGateway.start({
          servers: [McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] })]
        })
        const result = yield* resumeAfterListChange(gateway.mcpUrl, "a__add_tool")
        assert.notStrictEqual(result.lastEventId, "")
        assert.strictEqual(result.status, 200)
        assert.include(result.replay, "notifications/tools/list_changed")
      }),
    30_000
  )

  it.live(
    "an event id the gateway does not know is refused, not answered with a stream missing events",
    () =>
      Effect.gen(function* () {
        const gateway = yield* McpGateway.start({
          servers: [McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] })]
        })
        const status = yield* McpGateway.promise(async () => {
          const init = await post(gateway.mcpUrl, undefined, McpGateway.initializeMessage)
          const session = init.headers.get("mcp-session-id") ?? ""
          await readUntil(init, (text) => text.includes('"result"'))
          const resumed = await listen(gateway.mcpUrl, session, "no-such-event")
          await resumed.body?.cancel()
          return resumed.status
        })
        assert.strictEqual(status, 400)
      }),
    30_000
  )
})
