/**
 * HTTP to an MCP server of either era, behind the SDK 1.x `Client`.
 *
 * MCP 2026-07-28 (SEP-2575) drops the `initialize` handshake and sessions: every
 * POST stands alone, names its protocol version in the `MCP-Protocol-Version`
 * header and in `params._meta` (with the client's capabilities and identity),
 * and a client learns what the server offers with `server/discover`. This
 * transport probes with `server/discover` when the SDK sends `initialize`:
 *
 * - the server lists 2026-07-28 in `supportedVersions`: the `initialize` is
 *   answered here from the discovery result (the SDK client keeps its 2025
 *   view of the session), and every later request goes out in the stateless
 *   form, with the SEP-2243 `Mcp-Method` / `Mcp-Name` headers, and the
 *   arguments a tool marks with `x-mcp-header` mirrored into `Mcp-Param-*`
 *   headers (a tool whose marks are invalid is left out of `tools/list`); a
 *   result that asks for input first (SEP-2322) is answered through the SDK
 *   client's own handlers (elicitation …) and the request sent again;
 * - anything else (an error, a 4xx, a server that knows no such method): the
 *   server is of the 2025 era, and the SDK's own streamable HTTP transport takes
 *   over from the `initialize` on, exactly as without the probe.
 *
 * A 401/403 is neither: it goes back to the caller (as the SDK transport would
 * raise it), and the `fetch` (see `AuthorizedFetch`) has already done what it can.
 */
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type {
  FetchLike,
  Transport,
  TransportSendOptions
} from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  type ClientCapabilities,
  type Implementation,
  isInitializeRequest,
  isJSONRPCNotification,
  isJSONRPCRequest,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId
} from "@modelcontextprotocol/sdk/types.js"

/** The stateless protocol revision this transport speaks. */
export const modernProtocolVersion = "2026-07-28"

/** SEP-2575 `_meta` keys. */
const metaKeys = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo"
} as const

/** Multi-round-trip requests (SEP-2322) give up after this many rounds of input. */
const maxInputRounds = 8

/** JSON-RPC error of a server that does not support the requested version (SEP-2575). */
const unsupportedProtocolVersion = -32022

export interface NegotiatingHttpTransportOptions {
  readonly url: URL
  readonly fetch: FetchLike
  /** The 2025-era transport, built when the server turns out to be one. */
  readonly legacy: () => Transport
}

interface DiscoverResult {
  readonly supportedVersions?: ReadonlyArray<string>
  readonly capabilities?: Record<string, unknown>
  readonly serverInfo?: Implementation
  readonly instructions?: string
  readonly _meta?: Record<string, unknown>
}

type Probe =
  | { readonly era: "modern"; readonly discover: DiscoverResult }
  | { readonly era: "legacy" }
  | { readonly era: "retry"; readonly version: string }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The JSON-RPC messages of an `application/json` or `text/event-stream` body. */
const readMessages = async (response: Response): Promise<ReadonlyArray<unknown>> => {
  const type = response.headers.get("content-type") ?? ""
  const text = await response.text()
  if (type.includes("text/event-stream")) {
    // Server-sent events: `data:` lines joined by newlines, an empty line ends an event.
    const messages: Array<unknown> = []
    let data: Array<string> = []
    for (const line of `${text}\n\n`.split(/\r\n|\r|\n/)) {
      if (line === "") {
        if (data.length > 0) {
          const payload = data.join("\n").trim()
          if (payload !== "") messages.push(JSON.parse(payload))
        }
        data = []
      } else if (line.startsWith("data:")) {
        data.push(line.slice(line.startsWith("data: ") ? 6 : 5))
      }
    }
    return messages
  }
  if (text.trim() === "") return []
  const parsed: unknown = JSON.parse(text)
  return Array.isArray(parsed) ? parsed : [parsed]
}

/** SEP-2243: the name a request is about, mirrored into `Mcp-Name`. */
const nameOf = (request: JSONRPCRequest): string | undefined => {
  const params = request.params
  if (!isRecord(params)) return undefined
  const value =
    request.method === "resources/read"
      ? params.uri
      : request.method === "tools/call" || request.method === "prompts/get"
        ? params.name
        : undefined
  return typeof value === "string" ? value : undefined
}

/** RFC 9110 §5.6.2 `token` characters: what a header name may hold. */
const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** SEP-2243: the argument → header-name map of a tool, or `undefined` when its marks are invalid. */
const parameterHeaders = (inputSchema: unknown): ReadonlyMap<string, string> | undefined => {
  const properties = isRecord(inputSchema) && isRecord(inputSchema.properties) ? inputSchema.properties : {}
  const headers = new Map<string, string>()
  const seen = new Set<string>()
  for (const [argument, schema] of Object.entries(properties)) {
    if (!isRecord(schema) || !("x-mcp-header" in schema)) continue
    const name = schema["x-mcp-header"]
    // Only primitive values fit a header; a `number` would lose precision in text.
    const type = schema.type
    if (typeof name !== "string" || !headerToken.test(name)) return undefined
    if (type !== "string" && type !== "integer" && type !== "boolean") return undefined
    if (seen.has(name.toLowerCase())) return undefined
    seen.add(name.toLowerCase())
    headers.set(argument, name)
  }
  return headers
}

/** SEP-2243: a value as header text; `=?base64?…?=` when it is not plain visible ASCII without edge spaces. */
const headerValue = (value: string | number | boolean): string => {
  const text = String(value)
  const plain = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(text) || text === ""
  return plain ? text : `=?base64?${Buffer.from(text, "utf8").toString("base64")}?=`
}

export class NegotiatingHttpTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: <T extends JSONRPCMessage>(message: T) => void

  readonly #options: NegotiatingHttpTransportOptions
  #era: "unknown" | "modern" | "legacy" = "unknown"
  #legacy: Transport | undefined
  #version = modernProtocolVersion
  #clientInfo: Implementation | undefined
  #capabilities: ClientCapabilities = {}
  readonly #inflight = new Map<RequestId, AbortController>()
  /** Input requests (SEP-2322) handed to the SDK client, waiting for its answer, by id. */
  readonly #inputs = new Map<RequestId, (reply: unknown) => void>()
  #inputCount = 0
  /** The `x-mcp-header` marks of the tools last listed, by tool name. */
  readonly #toolHeaders = new Map<string, ReadonlyMap<string, string>>()
  #closed = false

  constructor(options: NegotiatingHttpTransportOptions) {
    this.#options = options
  }

  get sessionId(): string | undefined {
    return this.#legacy?.sessionId
  }

  /** Which protocol era the server turned out to speak (`unknown` before `initialize`). */
  get era(): "unknown" | "modern" | "legacy" {
    return this.#era
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.#legacy?.setProtocolVersion?.(version)
  }

  /** Ends a 2025-era session (MCP 2025-11-25 "Session Management"); stateless servers have none. */
  async terminateSession(): Promise<void> {
    const legacy = this.#legacy as (Transport & { terminateSession?: () => Promise<void> }) | undefined
    await legacy?.terminateSession?.()
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.#era === "legacy" && this.#legacy !== undefined) return this.#legacy.send(message, options)
    if (this.#era === "unknown") {
      if (!isJSONRPCRequest(message) || !isInitializeRequest(message)) {
        throw new Error("the first message to an MCP server must be initialize")
      }
      this.#clientInfo = message.params.clientInfo
      this.#capabilities = message.params.capabilities
      const discover = await this.#negotiate()
      if (discover === undefined) {
        const legacy = this.#options.legacy()
        legacy.onmessage = (received) => this.onmessage?.(received)
        legacy.onerror = (error) => this.onerror?.(error)
        legacy.onclose = () => this.onclose?.()
        this.#legacy = legacy
        this.#era = "legacy"
        await legacy.start()
        return legacy.send(message, options)
      }
      this.#era = "modern"
      const meta = discover._meta ?? {}
      const serverInfo = isRecord(meta[metaKeys.serverInfo])
        ? (meta[metaKeys.serverInfo] as Implementation)
        : (discover.serverInfo ?? { name: "unknown", version: "" })
      // The SDK client's view stays a 2025 session: it gets the version it asked for.
      this.#deliver({
        jsonrpc: "2.0",
        id: message.id,
        result: {
          protocolVersion: message.params.protocolVersion,
          capabilities: discover.capabilities ?? {},
          serverInfo,
          ...(discover.instructions === undefined ? {} : { instructions: discover.instructions })
        }
      })
      return
    }
    if (isJSONRPCRequest(message)) return this.#request(message)
    const answered = "id" in message ? message.id : undefined
    const waiting = answered === undefined ? undefined : this.#inputs.get(answered)
    if (answered !== undefined && waiting !== undefined) {
      // The SDK client's answer to an input request (SEP-2322).
      this.#inputs.delete(answered)
      waiting(message)
      return
    }
    if (isJSONRPCNotification(message) && message.method === "notifications/cancelled") {
      // Stateless: cancelling a request is closing its HTTP exchange.
      const requestId = isRecord(message.params) ? message.params.requestId : undefined
      if (typeof requestId === "string" || typeof requestId === "number")
        this.#inflight.get(requestId)?.abort()
    }
    // Other notifications (and responses) have no place in the stateless protocol.
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const controller of this.#inflight.values()) controller.abort()
    this.#inflight.clear()
    for (const waiting of this.#inputs.values()) {
      waiting({ error: { code: -32000, message: "the connection closed" } })
    }
    this.#inputs.clear()
    if (this.#legacy !== undefined) {
      await this.#legacy.close()
      return
    }
    this.onclose?.()
  }

  #deliver(message: unknown) {
    // Asynchronously, as a network transport would: the SDK registers its response handler after `send`.
    queueMicrotask(() => this.onmessage?.(message as JSONRPCMessage))
  }

  /** The per-request envelope (SEP-2575 `_meta`) and headers (SEP-2243). */
  #post(request: JSONRPCRequest, signal?: AbortSignal): Promise<Response> {
    const params = isRecord(request.params) ? request.params : {}
    const meta = isRecord(params._meta) ? params._meta : {}
    const body = {
      ...request,
      params: {
        ...params,
        _meta: {
          ...meta,
          [metaKeys.protocolVersion]: this.#version,
          [metaKeys.clientCapabilities]: this.#capabilities,
          ...(this.#clientInfo === undefined ? {} : { [metaKeys.clientInfo]: this.#clientInfo })
        }
      }
    }
    const name = nameOf(request)
    return this.#options.fetch(this.#options.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": this.#version,
        "mcp-method": request.method,
        ...(name === undefined ? {} : { "mcp-name": name }),
        ...this.#parameterHeaders(request, name)
      },
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal })
    })
  }

  /** `Mcp-Param-<Name>` for each marked argument of a `tools/call` (none for null or absent ones). */
  #parameterHeaders(request: JSONRPCRequest, tool: string | undefined): Record<string, string> {
    const marks =
      tool === undefined || request.method !== "tools/call" ? undefined : this.#toolHeaders.get(tool)
    const args =
      isRecord(request.params) && isRecord(request.params.arguments) ? request.params.arguments : {}
    const headers: Record<string, string> = {}
    for (const [argument, header] of marks ?? []) {
      const value = args[argument]
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
        headers[`mcp-param-${header.toLowerCase()}`] = headerValue(value)
      }
    }
    return headers
  }

  /** Keeps the marks of the listed tools and leaves out the tools whose marks are invalid. */
  #screenTools(message: unknown): unknown {
    if (!isRecord(message) || !isRecord(message.result) || !Array.isArray(message.result.tools))
      return message
    const tools = message.result.tools.filter((tool: unknown) => {
      if (!isRecord(tool) || typeof tool.name !== "string") return true
      const marks = parameterHeaders(tool.inputSchema)
      // SEP-2243: a client MUST NOT call a tool whose marks it cannot honour.
      if (marks === undefined) return false
      this.#toolHeaders.set(tool.name, marks)
      return true
    })
    return { ...message, result: { ...message.result, tools } }
  }

  /** `server/discover`, with one corrected retry when the server names the versions it supports. */
  async #negotiate(): Promise<DiscoverResult | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const probe = await this.#probe()
      if (probe.era === "modern") return probe.discover
      if (probe.era === "legacy") return undefined
      this.#version = probe.version
    }
    return undefined
  }

  async #probe(): Promise<Probe> {
    const response = await this.#post({ jsonrpc: "2.0", id: "mcpgate-discover", method: "server/discover" })
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel()
      throw new StreamableHTTPError(response.status, `server/discover answered HTTP ${response.status}`)
    }
    const messages = await readMessages(response).catch(() => [])
    const reply = messages.find((message) => isRecord(message) && message.id === "mcpgate-discover")
    if (!isRecord(reply)) return { era: "legacy" }
    const error = reply.error
    if (isRecord(error)) {
      const supported = isRecord(error.data) ? error.data.supported : undefined
      if (
        error.code === unsupportedProtocolVersion &&
        Array.isArray(supported) &&
        supported.includes(modernProtocolVersion)
      ) {
        return { era: "retry", version: modernProtocolVersion }
      }
      return { era: "legacy" }
    }
    const result = reply.result
    if (
      response.ok &&
      isRecord(result) &&
      Array.isArray(result.supportedVersions) &&
      result.supportedVersions.includes(this.#version)
    ) {
      return { era: "modern", discover: result as DiscoverResult }
    }
    return { era: "legacy" }
  }

  /**
   * One request, and its multi-round trips (SEP-2322): an `input_required`
   * result's `inputRequests` (an elicitation …) go to the SDK client's own
   * handlers as if the server had sent them; the request is then sent again,
   * under a new id, with their answers as `inputResponses` and the server's
   * `requestState` exactly as it came. The SDK sees one answer, to its own id.
   */
  async #request(request: JSONRPCRequest): Promise<void> {
    const controller = new AbortController()
    this.#inflight.set(request.id, controller)
    try {
      let current = request
      for (let round = 1; round <= maxInputRounds; round++) {
        const response = await this.#post(current, controller.signal)
        const messages = await readMessages(response).catch(() => [])
        const answer = messages.find((message) => isRecord(message) && message.id === current.id)
        if (!isRecord(answer)) {
          throw new StreamableHTTPError(
            response.status,
            `${request.method} answered HTTP ${response.status} without a JSON-RPC response`
          )
        }
        for (const message of messages) if (message !== answer) this.#deliver(message)
        const result = answer.result
        if (!isRecord(result) || result.resultType !== "input_required") {
          const final = { ...answer, id: request.id }
          this.#deliver(request.method === "tools/list" ? this.#screenTools(final) : final)
          return
        }
        const inputResponses = await this.#answerInputs(result.inputRequests)
        const params = isRecord(request.params) ? request.params : {}
        current = {
          ...request,
          id: `${String(request.id)}.${round}`,
          params: {
            ...params,
            inputResponses,
            ...(result.requestState === undefined ? {} : { requestState: result.requestState })
          }
        }
      }
      this.#deliver({
        jsonrpc: "2.0",
        id: request.id,
        error: {
          code: -32603,
          message: `${request.method} still wanted input after ${maxInputRounds} rounds`
        }
      })
    } finally {
      this.#inflight.delete(request.id)
    }
  }

  /** Hands each input request to the SDK client's handler; its answers, by key. */
  async #answerInputs(inputRequests: unknown): Promise<Record<string, unknown>> {
    const entries = Object.entries(isRecord(inputRequests) ? inputRequests : {})
    const answers = await Promise.all(
      entries.map(async ([key, input]) => {
        if (!isRecord(input) || typeof input.method !== "string") return [key, {}] as const
        const id = `mcpgate-input-${++this.#inputCount}`
        const answered = new Promise<unknown>((resolve) => this.#inputs.set(id, resolve))
        this.#deliver({ jsonrpc: "2.0", id, method: input.method, params: input.params ?? {} })
        const reply = await answered
        return [key, isRecord(reply) && "result" in reply ? reply.result : reply] as const
      })
    )
    return Object.fromEntries(answers)
  }
}
