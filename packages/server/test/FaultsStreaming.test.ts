/**
 * Faults in the middle of a stream, through the whole gateway (`Gateway.layer`):
 * an MCP server killed while its tool call runs under a streamed chat (stdio
 * and HTTP), and a client whose connection is reset (TCP RST) while the
 * gateway streams to it. The stream must end properly, the work behind a
 * dead client must stop, and the gateway must go on serving.
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import type { ServerConfig } from "@mcpgate/core/Config"
import * as Configs from "@mcpgate/testing/Configs"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Duration, Effect } from "effect"
import * as FaultGateway from "./support/FaultGateway.ts"
import * as FaultMcpServer from "./support/FaultMcpServer.ts"

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The model: calls `tool` with `args` (with `laterArgs` in later chats); once it has
 * a tool result, answers in text. Without tools (pass-through) it streams slowly.
 */
const callThenAnswer = (tool: string, args: string, laterArgs = args): ScriptedUpstream.Script => {
  let calls = 0
  return (body) => {
    const messages = Array.isArray(body.messages) ? body.messages : []
    const last: unknown = messages.at(-1)
    if (isRecord(last) && last.role === "tool") return { content: "answered after the tool" }
    if (body.tools === undefined) return { content: "x".repeat(400), chunkDelayMs: 50 }
    return { toolCalls: [{ id: "call_1", name: tool, arguments: calls++ === 0 ? args : laterArgs }] }
  }
}

const setup = (servers: ReadonlyArray<ServerConfig>, script: ScriptedUpstream.Script) =>
  Effect.gen(function* () {
    const upstream = yield* ScriptedUpstream.make(script)
    const home = yield* FaultGateway.tempHome
    const config = Configs.gateway(servers, {
      server: { host: "127.0.0.1", port: 0, upstream: { baseUrl: upstream.baseUrl } }
    })
    const gateway = yield* FaultGateway.start(config, home)
    for (const server of servers) {
      yield* FaultGateway.eventually(
        async () => ((await gateway.serverState(server.name)).state === "connected" ? true : undefined),
        `${server.name} to connect`
      )
    }
    return { upstream, gateway }
  })

const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: "scripted",
  messages: [{ role: "user", content: "go" }],
  stream: true,
  execute_mcp_tools: true,
  ...extra
})

/** Streams a chat; `onText` sees everything received so far after each read. */
const streamChat = (url: string, body: unknown, onText: (soFar: string) => void) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    const reader = response.body?.getReader()
    const decoder = new TextDecoder()
    let text = ""
    for (;;) {
      const chunk = await reader?.read()
      if (chunk === undefined || chunk.done) break
      text += decoder.decode(chunk.value, { stream: true })
      onText(text)
    }
    return { status: response.status, text }
  })

interface Parsed {
  readonly events: ReadonlyArray<{ readonly id: string; readonly status: string; readonly result?: string }>
  readonly content: string
  readonly done: number
  readonly errors: number
  readonly doneLast: boolean
}

const parseStream = (text: string): Parsed => {
  const payloads = text
    .split("\n\n")
    .map((block) => block.replace(/^data: /, ""))
    .filter((payload) => payload !== "")
  const events: Array<Parsed["events"][number]> = []
  let content = ""
  let errors = 0
  for (const payload of payloads) {
    if (payload === "[DONE]") continue
    const chunk = JSON.parse(payload) as {
      error?: unknown
      choices?: ReadonlyArray<{ delta?: { content?: string; tool_call_event?: Parsed["events"][number] } }>
    }
    if (chunk.error !== undefined) errors++
    const delta = chunk.choices?.[0]?.delta
    if (typeof delta?.content === "string") content += delta.content
    if (delta?.tool_call_event !== undefined) events.push(delta.tool_call_event)
  }
  return {
    events,
    content,
    errors,
    done: payloads.filter((payload) => payload === "[DONE]").length,
    doneLast: payloads.at(-1) === "[DONE]"
  }
}

/** Asserts a stream that lost its tool mid-call and still ended properly. */
const assertEndedAfterFailure = (parsed: Parsed, upstream: ScriptedUpstream.ScriptedUpstream) => {
  assert.deepStrictEqual(
    parsed.events.map((event) => [event.id, event.status]),
    [
      ["call_1", "started"],
      ["call_1", "failed"]
    ]
  )
  assert.match(
    parsed.events[1]?.result ?? "",
    /not connected|disconnect|closed|exited|terminated|fetch failed/i
  )
  assert.strictEqual(parsed.content, "answered after the tool")
  assert.strictEqual(parsed.errors, 0)
  assert.strictEqual(parsed.done, 1)
  assert.isTrue(parsed.doneLast)
  // The model heard about the failure as the tool's answer.
  const second = upstream.chatBodies()[1] as { messages: ReadonlyArray<{ role: string; content: unknown }> }
  const toolMessage = second.messages.find((message) => message.role === "tool")
  assert.match(String(toolMessage?.content), /^Error/)
}

describe("an MCP server killed mid-stream", () => {
  it.live(
    "stdio: the running call fails at once, the stream ends with the model's answer, the server comes back",
    () =>
      Effect.gen(function* () {
        const { upstream, gateway } = yield* setup(
          [Configs.stdioServer("stdio")],
          callThenAnswer("stdio__slow", '{"ms": 60000}')
        )
        const { pid } = yield* Effect.promise(() => gateway.serverState("stdio"))
        if (pid === undefined) return yield* Effect.die("no pid for the stdio server")
        let killedAt = 0
        const { status, text } = yield* streamChat(gateway.url, chatBody(), (soFar) => {
          if (killedAt === 0 && soFar.includes('"status":"started"')) {
            killedAt = Date.now()
            process.kill(pid, "SIGKILL")
          }
        })
        assert.strictEqual(status, 200)
        assert.isAbove(killedAt, 0, "the call started")
        assert.isBelow(Date.now() - killedAt, 5000, "the failure was noticed at once, not at a timeout")
        assertEndedAfterFailure(parseStream(text), upstream)

        yield* FaultGateway.eventually(async () => {
          const now = await gateway.serverState("stdio")
          return now.state === "connected" && now.pid !== pid ? true : undefined
        }, "the stdio server to be restarted")
        const echo = yield* Effect.promise(() => gateway.execute("stdio__echo", { text: "back" }))
        assert.deepStrictEqual(echo.json, { tool_name: "stdio__echo", content: "back", is_error: false })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "HTTP: its connections dropped while the call's event stream is open; the chat ends, the server is used again once back",
    () =>
      Effect.gen(function* () {
        const fault = yield* FaultMcpServer.start
        const { upstream, gateway } = yield* setup(
          [Configs.server("remote", { transport: "streamable-http", url: fault.url })],
          callThenAnswer("remote__slow", '{"ms": 60000}')
        )
        let killed: Promise<void> | undefined
        let killedAt = 0
        const { status, text } = yield* streamChat(gateway.url, chatBody(), (soFar) => {
          if (killed === undefined && soFar.includes('"status":"started"')) {
            killedAt = Date.now()
            // Only once the server itself is inside the call.
            killed = fault.whenStarted(1).then(() => fault.kill())
          }
        })
        assert.strictEqual(status, 200)
        assert.isBelow(Date.now() - killedAt, 5000, "the failure was noticed at once, not at a timeout")
        assertEndedAfterFailure(parseStream(text), upstream)

        yield* Effect.promise(() => killed ?? Promise.resolve())
        yield* Effect.promise(() => fault.restart())
        const echo = yield* FaultGateway.eventually(
          async () => {
            const reply = await gateway.execute("remote__echo", { text: "back" })
            return reply.status === 200 ? reply : undefined
          },
          "the HTTP server to be used again",
          20_000
        )
        assert.deepStrictEqual(echo.json, { tool_name: "remote__echo", content: "back", is_error: false })
      }).pipe(Effect.scoped),
    30_000
  )
})

/**
 * Sends a chat request on a raw socket and resets the connection (TCP RST, not a
 * polite close) as soon as `marker` has arrived (and `ready`, when given, has
 * resolved). Returns what was received.
 */
const resetWhen = (url: string, body: unknown, marker: string, ready?: () => Promise<void>) =>
  Effect.promise(
    () =>
      new Promise<string>((resolve, reject) => {
        const port = Number(new URL(url).port)
        const payload = JSON.stringify(body)
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.write(
            `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`
          )
        })
        let received = ""
        let seen = false
        socket.setEncoding("utf8")
        socket.on("data", (chunk: string) => {
          received += chunk
          if (!seen && received.includes(marker)) {
            seen = true
            const reset = () => {
              socket.resetAndDestroy()
              resolve(received)
            }
            if (ready === undefined) reset()
            else ready().then(reset, reject)
          }
        })
        socket.on("error", reject)
        socket.on("close", () => reject(new Error(`closed before ${marker} arrived: ${received}`)))
      })
  )

describe("a connection reset while streaming to the client", () => {
  it.live(
    "during a tool call: the call is cancelled on the MCP server, the loop stops, the gateway serves on",
    () =>
      Effect.gen(function* () {
        const fault = yield* FaultMcpServer.start
        const { upstream, gateway } = yield* setup(
          [Configs.server("remote", { transport: "streamable-http", url: fault.url })],
          callThenAnswer("remote__slow", '{"ms": 60000}', '{"ms": 1}')
        )
        // Reset once the call has reached the MCP server: "started" is said just before it is sent.
        yield* resetWhen(gateway.url, chatBody(), '"status":"started"', () => fault.whenStarted(1))
        yield* Effect.promise(() => fault.whenCancelled(1)).pipe(
          Effect.timeoutOrElse({
            duration: Duration.seconds(5),
            orElse: () => Effect.die("the tool call was not cancelled after the reset")
          })
        )

        // The next chat runs whole; the reset one never got a second model turn.
        const next = yield* streamChat(gateway.url, chatBody(), () => undefined)
        assert.strictEqual(next.status, 200)
        const bodies = upstream.chatBodies() as ReadonlyArray<{ messages: ReadonlyArray<{ role: string }> }>
        assert.deepStrictEqual(
          bodies.map((body) => body.messages.some((message) => message.role === "tool")),
          [false, false, true]
        )
        assert.strictEqual(fault.counts.started, 2)
        const health = yield* Effect.promise(() => gateway.request("/health"))
        assert.strictEqual(health.status, 200)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("during a pass-through stream: the upstream request is closed, the gateway serves on", () =>
    Effect.gen(function* () {
      const { upstream, gateway } = yield* setup([], callThenAnswer("none", "{}"))
      yield* resetWhen(gateway.url, { model: "scripted", messages: [], stream: true }, "data: ")
      const closed = yield* upstream.closedEarly.pipe(
        Effect.timeoutOrElse({
          duration: Duration.seconds(5),
          orElse: () => Effect.die("the upstream request stayed open after the reset")
        })
      )
      assert.strictEqual(closed.path, "/v1/chat/completions")
      const models = yield* Effect.promise(() => gateway.request("/v1/models"))
      assert.strictEqual(models.status, 200)
    }).pipe(Effect.scoped)
  )
})
