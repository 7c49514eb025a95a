/**
 * The soak's clients: chat with `execute_mcp_tools` (plain and streamed), plain
 * pass-through chat, `POST /v1/mcp/execute`, and `tools/call` on `/mcp` over a
 * session per worker, spoken as raw JSON-RPC over HTTP like any MCP client.
 *
 * Each request returns what went wrong, attributed to a part: `stdio` (the server
 * the soak kills on purpose), `protected` (the OAuth server whose tokens expire
 * every few seconds: refreshing must hide that) or `gateway` (a wrong answer, a
 * 5xx, a timeout: never explained by an injected fault).
 */
import { echoTool, whoamiText, whoamiTool } from "./Fixtures.ts"

export type Part = "stdio" | "protected" | "gateway"

export interface Failure {
  readonly part: Part
  readonly detail: string
}

export const kinds = [
  "chat",
  "execute-protected",
  "mcp-stdio",
  "chat-stream",
  "execute-stdio",
  "mcp-protected",
  "chat-plain"
] as const
export type Kind = (typeof kinds)[number]

export interface Client {
  readonly url: string
  readonly timeoutMs: number
  /** Every response body the gateway sent (for the token scan). */
  readonly seen: (text: string, where: string) => void
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const partOfTool = (name: string): Part =>
  name.startsWith("stdio__") ? "stdio" : name.startsWith("protected__") ? "protected" : "gateway"

const clip = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text)

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** What a tool must answer: echo gives its text back, whoami names the token's user. */
const expectedResult = (name: string, args: string): string | undefined => {
  if (name === whoamiTool) return whoamiText
  if (name === echoTool) {
    const parsed = parseJson(args)
    return isRecord(parsed) && typeof parsed.text === "string" ? parsed.text : undefined
  }
  return undefined
}

/** Checks the tool-call events of one chat: every call ended, and ended right. */
const checkEvents = (events: ReadonlyArray<unknown>): Array<Failure> => {
  const failures: Array<Failure> = []
  const started = new Set<string>()
  const ended = new Set<string>()
  for (const event of events) {
    if (!isRecord(event) || typeof event.id !== "string" || typeof event.name !== "string") {
      failures.push({ part: "gateway", detail: `malformed tool_call_event ${clip(JSON.stringify(event))}` })
      continue
    }
    if (event.status === "started") {
      started.add(event.id)
      continue
    }
    ended.add(event.id)
    const result = typeof event.result === "string" ? event.result : ""
    if (event.status === "failed") {
      failures.push({ part: partOfTool(event.name), detail: `${event.name} failed: ${clip(result)}` })
    } else if (event.status === "completed") {
      const expected = expectedResult(event.name, typeof event.arguments === "string" ? event.arguments : "")
      if (result !== expected) {
        failures.push({
          part: "gateway",
          detail: `${event.name} answered ${clip(JSON.stringify(result))}, expected ${JSON.stringify(expected)}`
        })
      }
    } else {
      failures.push({ part: "gateway", detail: `unknown event status ${String(event.status)}` })
    }
  }
  for (const id of started) {
    if (!ended.has(id)) failures.push({ part: "gateway", detail: `tool call ${id} started and never ended` })
  }
  return failures
}

const post = (client: Client, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${client.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(client.timeoutMs)
  })

const chatBody = (extra: Record<string, unknown>) => ({
  model: "soak-model",
  messages: [{ role: "user", content: "Use the tools you have, then say done." }],
  ...extra
})

const chat = async (client: Client): Promise<Array<Failure>> => {
  const response = await post(client, "/v1/chat/completions", chatBody({ execute_mcp_tools: true }))
  const text = await response.text()
  client.seen(text, "chat response")
  if (response.status !== 200)
    return [{ part: "gateway", detail: `chat: HTTP ${response.status} ${clip(text)}` }]
  const json = parseJson(text)
  if (!isRecord(json)) return [{ part: "gateway", detail: `chat: not JSON: ${clip(text)}` }]
  const failures = checkEvents(Array.isArray(json.mcp_tool_events) ? json.mcp_tool_events : [])
  const choice: unknown = Array.isArray(json.choices) ? json.choices[0] : undefined
  const content = isRecord(choice) && isRecord(choice.message) ? choice.message.content : undefined
  if (content !== "done")
    failures.push({ part: "gateway", detail: `chat: final answer ${clip(String(content))}` })
  return failures
}

/** Reads an SSE body into its `data:` payloads (events split on blank lines). */
const ssePayloads = (text: string): Array<string> =>
  text
    .split(/\r?\n\r?\n/)
    .flatMap((block) =>
      block
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
    )
    .filter((payload) => payload !== "")

const chatStream = async (client: Client): Promise<Array<Failure>> => {
  const response = await post(
    client,
    "/v1/chat/completions",
    chatBody({ execute_mcp_tools: true, stream: true, stream_options: { include_usage: true } })
  )
  const text = await response.text()
  client.seen(text, "streamed chat response")
  if (response.status !== 200) {
    return [{ part: "gateway", detail: `chat-stream: HTTP ${response.status} ${clip(text)}` }]
  }
  const payloads = ssePayloads(text)
  const failures: Array<Failure> = []
  if (payloads.at(-1) !== "[DONE]") failures.push({ part: "gateway", detail: "chat-stream: no final [DONE]" })
  if (payloads.filter((payload) => payload === "[DONE]").length > 1) {
    failures.push({ part: "gateway", detail: "chat-stream: [DONE] more than once" })
  }
  const events: Array<unknown> = []
  let content = ""
  let finishes = 0
  for (const payload of payloads) {
    if (payload === "[DONE]") continue
    const chunk = parseJson(payload)
    if (!isRecord(chunk)) {
      failures.push({ part: "gateway", detail: `chat-stream: a chunk is not JSON: ${clip(payload)}` })
      continue
    }
    if (chunk.error !== undefined) {
      failures.push({
        part: "gateway",
        detail: `chat-stream: error event ${clip(JSON.stringify(chunk.error))}`
      })
    }
    const choice: unknown = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
    if (!isRecord(choice)) continue
    if (typeof choice.finish_reason === "string") finishes++
    const delta = choice.delta
    if (!isRecord(delta)) continue
    if (typeof delta.content === "string") content += delta.content
    if (delta.tool_call_event !== undefined) events.push(delta.tool_call_event)
  }
  failures.push(...checkEvents(events))
  if (content !== "done")
    failures.push({ part: "gateway", detail: `chat-stream: final answer ${clip(content)}` })
  if (finishes !== 1)
    failures.push({ part: "gateway", detail: `chat-stream: ${finishes} finish_reason chunks` })
  return failures
}

const chatPlain = async (client: Client): Promise<Array<Failure>> => {
  const response = await post(client, "/v1/chat/completions", chatBody({}))
  const text = await response.text()
  client.seen(text, "pass-through chat response")
  const json = parseJson(text)
  const choice: unknown = isRecord(json) && Array.isArray(json.choices) ? json.choices[0] : undefined
  const content = isRecord(choice) && isRecord(choice.message) ? choice.message.content : undefined
  return response.status === 200 && content === "plain"
    ? []
    : [{ part: "gateway", detail: `chat-plain: HTTP ${response.status} ${clip(text)}` }]
}

let echoCounter = 0
const echoArguments = () => ({ text: `soak echo ${++echoCounter}` })

/** Statuses `/v1/mcp/execute` gives when the server is away (docs/gateway.md#plain-json-tool-routes: 502/503/504), not a bug. */
const awayStatuses = new Set([502, 503, 504])

const execute = async (client: Client, tool: string): Promise<Array<Failure>> => {
  const args = tool === echoTool ? echoArguments() : {}
  const response = await post(client, "/v1/mcp/execute", { tool_name: tool, arguments: args })
  const text = await response.text()
  client.seen(text, "execute response")
  const part = partOfTool(tool)
  if (response.status !== 200) {
    return [
      {
        part: awayStatuses.has(response.status) ? part : "gateway",
        detail: `execute ${tool}: HTTP ${response.status} ${clip(text)}`
      }
    ]
  }
  const json = parseJson(text)
  if (!isRecord(json)) return [{ part: "gateway", detail: `execute ${tool}: not JSON ${clip(text)}` }]
  if (json.is_error !== false) return [{ part, detail: `execute ${tool}: is_error ${clip(text)}` }]
  const expected = expectedResult(tool, JSON.stringify(args))
  return json.content === expected
    ? []
    : [{ part: "gateway", detail: `execute ${tool}: answered ${clip(String(json.content))}` }]
}

/** One client session on the gateway's `/mcp` (streamable HTTP, protocol 2025-11-25). */
export class McpSession {
  readonly #client: Client
  #sessionId: string | undefined
  #nextId = 1

  constructor(client: Client) {
    this.#client = client
  }

  async #request(
    message: Record<string, unknown>
  ): Promise<{ status: number; text: string; reply: unknown; headers: Headers }> {
    const response = await post(this.#client, "/mcp", message, {
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25",
      ...(this.#sessionId === undefined ? {} : { "mcp-session-id": this.#sessionId })
    })
    const text = await response.text()
    this.#client.seen(text, "/mcp response")
    const id = message.id
    const bodies = (response.headers.get("content-type") ?? "").includes("text/event-stream")
      ? ssePayloads(text).map(parseJson)
      : [parseJson(text)]
    const reply = bodies.find((body) => isRecord(body) && body.id === id)
    return { status: response.status, text, reply, headers: response.headers }
  }

  async #open(): Promise<Failure | undefined> {
    const initialize = await this.#request({
      jsonrpc: "2.0",
      id: this.#nextId++,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "mcpgate-soak", version: "1.0.0" }
      }
    })
    const sessionId = initialize.headers.get("mcp-session-id")
    if (initialize.status !== 200 || sessionId === null) {
      return {
        part: "gateway",
        detail: `/mcp initialize: HTTP ${initialize.status} ${clip(initialize.text)}`
      }
    }
    this.#sessionId = sessionId
    const initialized = await post(
      this.#client,
      "/mcp",
      { jsonrpc: "2.0", method: "notifications/initialized" },
      {
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        "mcp-session-id": sessionId
      }
    )
    await initialized.body?.cancel()
    return initialized.status === 202
      ? undefined
      : { part: "gateway", detail: `/mcp notifications/initialized: HTTP ${initialized.status}` }
  }

  async call(tool: string): Promise<Array<Failure>> {
    if (this.#sessionId === undefined) {
      const failure = await this.#open()
      if (failure !== undefined) return [failure]
    }
    const args = tool === echoTool ? echoArguments() : {}
    const { status, text, reply } = await this.#request({
      jsonrpc: "2.0",
      id: this.#nextId++,
      method: "tools/call",
      params: { name: tool, arguments: args }
    })
    const part = partOfTool(tool)
    if (status !== 200) {
      // A session the gateway no longer knows is opened again next time.
      if (status === 404) this.#sessionId = undefined
      return [{ part: "gateway", detail: `/mcp tools/call ${tool}: HTTP ${status} ${clip(text)}` }]
    }
    if (!isRecord(reply))
      return [{ part: "gateway", detail: `/mcp tools/call ${tool}: no reply ${clip(text)}` }]
    if (reply.error !== undefined) {
      return [
        { part, detail: `/mcp tools/call ${tool}: JSON-RPC error ${clip(JSON.stringify(reply.error))}` }
      ]
    }
    const result = reply.result
    if (!isRecord(result)) return [{ part: "gateway", detail: `/mcp tools/call ${tool}: no result` }]
    const content: unknown = Array.isArray(result.content) ? result.content[0] : undefined
    const resultText = isRecord(content) && typeof content.text === "string" ? content.text : undefined
    if (result.isError === true)
      return [{ part, detail: `/mcp tools/call ${tool}: isError ${clip(String(resultText))}` }]
    const expected = expectedResult(tool, JSON.stringify(args))
    return resultText === expected
      ? []
      : [{ part: "gateway", detail: `/mcp tools/call ${tool}: answered ${clip(String(resultText))}` }]
  }

  /** Ends the session (`DELETE /mcp`), as a well-behaved client does. */
  async close(): Promise<void> {
    const sessionId = this.#sessionId
    if (sessionId === undefined) return
    this.#sessionId = undefined
    const response = await fetch(`${this.#client.url}/mcp`, {
      method: "DELETE",
      headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" },
      signal: AbortSignal.timeout(this.#client.timeoutMs)
    }).catch(() => undefined)
    await response?.body?.cancel()
  }
}

/** Runs one request of `kind`; a thrown error (connection refused, timeout) is the gateway's failure. */
export const run = async (kind: Kind, client: Client, session: McpSession): Promise<Array<Failure>> => {
  try {
    switch (kind) {
      case "chat":
        return await chat(client)
      case "chat-stream":
        return await chatStream(client)
      case "chat-plain":
        return await chatPlain(client)
      case "execute-protected":
        return await execute(client, whoamiTool)
      case "execute-stdio":
        return await execute(client, echoTool)
      case "mcp-protected":
        return await session.call(whoamiTool)
      case "mcp-stdio":
        return await session.call(echoTool)
    }
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return [{ part: "gateway", detail: `${kind}: ${detail}` }]
  }
}
