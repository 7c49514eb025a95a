/**
 * The direct path of `/mcp` (src/mcp/McpSessionTransport.ts): a POST of plain
 * JSON-RPC messages to a live session is answered without the SDK's web-standard
 * transport, and must answer as it does: the same event stream (priming event,
 * event ids kept for `Last-Event-ID`), batches on one stream that ends once every
 * request is answered, 202 for notifications alone, and requests cancelled when
 * the client drops the stream; params the SDK's schema refuses get the SDK's own
 * answer, and a call is cancelled when its session ends.
 */
import * as http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { Duration, Effect } from "effect"
import { mcpBackend } from "./support/McpBackend.ts"
import * as McpGateway from "./support/McpGateway.ts"

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  effect.pipe(
    Effect.timeoutOrElse({
      duration: Duration.seconds(5),
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

const setup = Effect.gen(function* () {
  const backend = yield* mcpBackend
  const gateway = yield* McpGateway.start({
    servers: [
      McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] }),
      McpGateway.server("b", { url: backend.url, transport: "streamable-http" })
    ]
  })
  return { backend, gateway }
})

const headers = (session: string | undefined, extra: Record<string, string> = {}) => ({
  accept: "application/json, text/event-stream",
  "content-type": "application/json",
  "mcp-protocol-version": "2025-11-25",
  ...(session === undefined ? {} : { "mcp-session-id": session }),
  ...extra
})

const post = (url: string, session: string | undefined, body: unknown) =>
  fetch(url, { method: "POST", headers: headers(session), body: JSON.stringify(body) })

/** An initialized session's id. */
const open = async (url: string) => {
  const init = await post(url, undefined, McpGateway.initializeMessage)
  const session = init.headers.get("mcp-session-id") ?? ""
  await init.text()
  const initialized = await post(url, session, { jsonrpc: "2.0", method: "notifications/initialized" })
  assert.strictEqual(initialized.status, 202)
  return session
}

const echo = (id: number, text: string) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "a__echo", arguments: { text } }
})

interface SseEvent {
  readonly id: string | undefined
  readonly retry: string | undefined
  readonly data: string
}

/** The events of an event stream's text. */
const eventsOf = (text: string): Array<SseEvent> =>
  text
    .split("\n\n")
    .filter((block) => block.trim() !== "" && !block.startsWith(":"))
    .map((block) => {
      const field = (name: string) =>
        block
          .split("\n")
          .find((line) => line.startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim()
      return { id: field("id"), retry: field("retry"), data: field("data") ?? "" }
    })

describe("/mcp direct path", () => {
  it.live(
    "a call's event stream is the SDK's, and a GET with its Last-Event-ID replays the answer",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup
        const url = gateway.mcpUrl
        const result = yield* McpGateway.promise(async () => {
          const session = await open(url)
          const answer = await post(url, session, echo(5, "kept"))
          const contentType = answer.headers.get("content-type")
          const sessionHeader = answer.headers.get("mcp-session-id")
          const events = eventsOf(await answer.text())
          // The client lost everything after the priming event: it resumes from there.
          const resumed = await fetch(url, {
            method: "GET",
            headers: {
              accept: "text/event-stream",
              "mcp-protocol-version": "2025-11-25",
              "mcp-session-id": session,
              "last-event-id": events[0]?.id ?? ""
            }
          })
          const reader = resumed.body?.getReader()
          let replay = ""
          while (reader !== undefined && !replay.includes('"result"')) {
            const chunk = await reader.read()
            if (chunk.done) break
            replay += new TextDecoder().decode(chunk.value)
          }
          await reader?.cancel()
          return { session, contentType, sessionHeader, events, status: resumed.status, replay }
        })
        assert.strictEqual(result.contentType, "text/event-stream")
        assert.strictEqual(result.sessionHeader, result.session)
        // The priming event (MCP 2025-11-25 "Transports › Resumability"): an id, the retry interval, no data.
        const [priming, message] = result.events
        assert.isDefined(priming?.id)
        assert.strictEqual(priming?.retry, "1000")
        assert.strictEqual(priming?.data, "")
        assert.isDefined(message?.id)
        assert.notStrictEqual(message?.id, priming?.id)
        assert.include(message?.data ?? "", '"kept"')
        assert.strictEqual(result.events.length, 2)
        assert.strictEqual(result.status, 200)
        const replayed = eventsOf(result.replay)
        assert.deepStrictEqual(
          replayed.map((event) => event.id),
          [message?.id]
        )
        assert.strictEqual(replayed[0]?.data, message?.data)
      }),
    30_000
  )

  it.live(
    "a batch is answered on one stream that ends once every request is; notifications alone get 202",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup
        const url = gateway.mcpUrl
        const result = yield* McpGateway.promise(async () => {
          const session = await open(url)
          const batch = await post(url, session, [
            echo(11, "one"),
            { jsonrpc: "2.0", method: "notifications/roots/list_changed" },
            echo(12, "two")
          ])
          // Read to its end: the stream must end by itself once both are answered.
          const events = eventsOf(await batch.text())
          const alone = await post(url, session, {
            jsonrpc: "2.0",
            method: "notifications/roots/list_changed"
          })
          return { status: batch.status, events, aloneStatus: alone.status, aloneBody: await alone.text() }
        })
        assert.strictEqual(result.status, 200)
        const answers = result.events
          .filter((event) => event.data !== "")
          .map(
            (event) => JSON.parse(event.data) as { id: number; result: { content: Array<{ text: string }> } }
          )
          .sort((a, b) => a.id - b.id)
        assert.deepStrictEqual(
          answers.map((answer) => [answer.id, answer.result.content[0]?.text]),
          [
            [11, "one"],
            [12, "two"]
          ]
        )
        assert.strictEqual(result.aloneStatus, 202)
        assert.strictEqual(result.aloneBody, "")
        const sessions = yield* gateway.endpoint.sessions
        assert.strictEqual(sessions[0]?.openRequests, 0)
      }),
    30_000
  )

  it.live(
    "a client that drops a batch's stream cancels what is unanswered; the session goes on",
    () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup
        const session = yield* McpGateway.promise(() => open(gateway.mcpUrl))
        const call = http.request(gateway.mcpUrl, { method: "POST", agent: false, headers: headers(session) })
        call.on("error", () => {})
        const firstChunk = new Promise<string>((resolve) =>
          call.on("response", (response) =>
            response.once("data", (chunk: Buffer) => resolve(chunk.toString()))
          )
        )
        call.end(
          JSON.stringify([
            echo(31, "answered"),
            { jsonrpc: "2.0", id: 32, method: "tools/call", params: { name: "b__slow", arguments: {} } }
          ])
        )
        yield* within(
          McpGateway.promise(() => backend.slowStarted()),
          "the backend to start the call"
        )
        // The stream is open (its priming event came) when the client goes away.
        assert.include(yield* McpGateway.promise(() => firstChunk), "id: ")
        call.destroy()
        yield* within(
          McpGateway.promise(() => backend.slowAborted()),
          "the backend to see the call cancelled"
        )
        yield* within(
          gateway.endpoint.awaitSessions((sessions) => sessions[0]?.openRequests === 0),
          "the dropped request to end"
        )
        const again = yield* McpGateway.promise(async () =>
          (await post(gateway.mcpUrl, session, echo(33, "still here"))).text()
        )
        assert.include(again, "still here")
      }),
    30_000
  )

  it.live(
    "tools/call params the SDK's schema refuses get the SDK's own error; extra keys are dropped as it drops them",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup
        const url = gateway.mcpUrl
        const answers = yield* McpGateway.promise(async () => {
          const session = await open(url)
          const answerOf = async (id: number, params: unknown) => {
            const response = await post(url, session, { jsonrpc: "2.0", id, method: "tools/call", params })
            const event = eventsOf(await response.text()).find((each) => each.data !== "")
            return JSON.parse(event?.data ?? "null") as {
              readonly id: number
              readonly result?: { readonly content: ReadonlyArray<{ readonly text: string }> }
              readonly error?: { readonly code: number; readonly message: string }
            }
          }
          return {
            numberName: await answerOf(41, { name: 5, arguments: {} }),
            listArguments: await answerOf(42, { name: "a__echo", arguments: ["x"] }),
            extraKey: await answerOf(43, { name: "a__echo", arguments: { text: "kept" }, colour: "red" }),
            plain: await answerOf(44, { name: "a__echo", arguments: { text: "plain" } })
          }
        })
        assert.strictEqual(answers.numberName.id, 41)
        // What the SDK's `Server` answers when its schema refuses a request: an internal error naming the field.
        assert.strictEqual(answers.numberName.error?.code, -32603)
        assert.include(answers.numberName.error?.message, "expected string")
        assert.strictEqual(answers.listArguments.error?.code, -32603)
        assert.include(answers.listArguments.error?.message, "expected record")
        assert.strictEqual(answers.extraKey.result?.content[0]?.text, "kept")
        assert.strictEqual(answers.plain.id, 44)
        assert.strictEqual(answers.plain.result?.content[0]?.text, "plain")
      }),
    30_000
  )

  it.live(
    "a session ended by DELETE during a call cancels the call upstream and ends its stream",
    () =>
      Effect.gen(function* () {
        const { backend, gateway } = yield* setup
        const url = gateway.mcpUrl
        const session = yield* McpGateway.promise(() => open(url))
        const call = http.request(url, { method: "POST", agent: false, headers: headers(session) })
        call.on("error", () => {})
        const body = new Promise<string>((resolve) =>
          call.on("response", (response) => {
            let text = ""
            response.on("data", (chunk: Buffer) => (text += chunk.toString()))
            response.on("end", () => resolve(text))
          })
        )
        call.end(
          JSON.stringify({
            jsonrpc: "2.0",
            id: 51,
            method: "tools/call",
            params: { name: "b__slow", arguments: {} }
          })
        )
        yield* within(
          McpGateway.promise(() => backend.slowStarted()),
          "the backend to start the call"
        )
        const deleted = yield* McpGateway.promise(() =>
          fetch(url, { method: "DELETE", headers: headers(session) }).then((response) => response.status)
        )
        assert.strictEqual(deleted, 200)
        yield* within(
          McpGateway.promise(() => backend.slowAborted()),
          "the backend to see the call cancelled"
        )
        // The stream ends without an answer, as the SDK sends none for a cancelled request.
        const text = yield* within(
          McpGateway.promise(() => body),
          "the call's stream to end"
        )
        assert.notInclude(text, '"id":51')
      }),
    30_000
  )
})
