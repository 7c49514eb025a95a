/**
 * A session's transport (docs/gateway.md#mcp-endpoint): the SDK's web-standard
 * streamable-HTTP transport, plus a direct path for the common POST.
 *
 * A POST of plain JSON-RPC messages to a live session is where nearly all the
 * traffic is. The SDK's transport wants a web `Request` and answers a web
 * `Response` whose body the gateway then copies into its own stream; for a tool
 * call that costs as much CPU as the call itself (bench/RESULTS.md, issue 18).
 * Here such a POST is handed to the session's `onmessage` without either: what
 * the session sends for its requests goes to the POST's own event stream, kept
 * in the event store under the same stream and event ids the SDK would use, so a
 * `GET` with `Last-Event-ID` resumes it through the SDK as before (MCP 2025-11-25
 * "Transports › Resumability and Redelivery").
 *
 * Everything else (initialize, GET streams and their replay, DELETE, and any
 * POST the checks below do not pass exactly) goes to the SDK's transport, which
 * answers it as always, errors included.
 */
import { randomUUID } from "node:crypto"
import { MAX_BATCH_SIZE } from "@modelcontextprotocol/sdk/server/requestBody.js"
import type { EventStore } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import {
  WebStandardStreamableHTTPServerTransport,
  type WebStandardStreamableHTTPServerTransportOptions
} from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js"
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  DEFAULT_NEGOTIATED_PROTOCOL_VERSION,
  type JSONRPCMessage,
  type MessageExtraInfo,
  RELATED_TASK_META_KEY,
  type RequestId,
  SUPPORTED_PROTOCOL_VERSIONS
} from "@modelcontextprotocol/sdk/types.js"

/** Where a direct POST's event stream goes: the HTTP answer's body. */
export interface DirectSink {
  readonly write: (text: string) => void
  readonly end: () => void
}

/** One direct POST's event stream. */
export interface DirectStream {
  /** Its stream id in the event store. */
  readonly id: string
  /** Its requests, in the order they came. */
  readonly requests: ReadonlyArray<RequestId>
  /** Those not answered yet. */
  readonly pending: Set<RequestId>
  /** False once the stream ended: every request answered, `closeSSEStream`, the session closed, or the client gone. */
  open: boolean
  /** Whether the stream ended by itself rather than because the client left. */
  ended: boolean
  readonly sink: DirectSink
  keepAlive: ReturnType<typeof setInterval> | undefined
}

/** The SDK's keep-alive comment on an idle event stream, at its default interval (server/sseKeepAlive.js). */
const keepAliveMs = 15_000

/** The headers the SDK's transport answers an event stream with. */
export const eventStreamHeaders = {
  "cache-control": "no-cache, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no"
} as const

type Json = Record<string, unknown>

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isId = (value: unknown): value is RequestId => typeof value === "string" || Number.isInteger(value)

const keysWithin = (value: Json, allowed: ReadonlySet<string>): boolean => {
  for (const key in value) if (!allowed.has(key)) return false
  return true
}

const requestKeys = new Set(["jsonrpc", "id", "method", "params"])
const notificationKeys = new Set(["jsonrpc", "method", "params"])
const resultKeys = new Set(["jsonrpc", "id", "result"])
const errorKeys = new Set(["jsonrpc", "id", "error"])
const errorObjectKeys = new Set(["code", "message", "data"])

/** `params` (or `result`) with a `_meta` as the SDK's schema reads it, unchanged by it. */
const paramsPlain = (params: unknown): boolean => {
  if (params === undefined) return true
  if (!isRecord(params)) return false
  const meta = params._meta
  if (meta === undefined) return true
  return (
    isRecord(meta) &&
    (meta.progressToken === undefined || isId(meta.progressToken)) &&
    !(RELATED_TASK_META_KEY in meta)
  )
}

/**
 * Whether `message` is a JSON-RPC message the SDK's `JSONRPCMessageSchema` accepts
 * and returns unchanged. Anything else (and `initialize`) takes the SDK's path.
 */
const isPlainMessage = (message: unknown): message is JSONRPCMessage => {
  if (!isRecord(message) || message.jsonrpc !== "2.0") return false
  if ("method" in message) {
    if (typeof message.method !== "string" || message.method === "initialize") return false
    if (!paramsPlain(message.params)) return false
    return "id" in message
      ? isId(message.id) && keysWithin(message, requestKeys)
      : keysWithin(message, notificationKeys)
  }
  if ("result" in message)
    return isId(message.id) && paramsPlain(message.result) && keysWithin(message, resultKeys)
  const error = message.error
  return (
    isId(message.id) &&
    keysWithin(message, errorKeys) &&
    isRecord(error) &&
    keysWithin(error, errorObjectKeys) &&
    Number.isInteger(error.code) &&
    typeof error.message === "string"
  )
}

const isResponse = (message: JSONRPCMessage): message is JSONRPCMessage & { readonly id: RequestId } =>
  !("method" in message) && ("result" in message || "error" in message)

/** One SSE event as the SDK's transport writes it. */
const sseEvent = (message: JSONRPCMessage, eventId: string | undefined): string =>
  eventId === undefined
    ? `event: message\ndata: ${JSON.stringify(message)}\n\n`
    : `event: message\nid: ${eventId}\ndata: ${JSON.stringify(message)}\n\n`

/** What the SDK stores as a stream's priming event (an empty object, not a JSON-RPC message). */
const priming: JSONRPCMessage = JSON.parse("{}")

/** A direct POST: its messages, and the protocol version that decides its priming event. */
export interface DirectPost {
  readonly messages: ReadonlyArray<JSONRPCMessage>
  readonly requests: ReadonlyArray<RequestId>
  readonly protocolVersion: string
}

export class SessionTransport implements Transport {
  /** The SDK's transport: initialize, GET, DELETE and every POST the direct path does not take. */
  readonly sdk: WebStandardStreamableHTTPServerTransport
  private readonly eventStore: EventStore | undefined
  private readonly retryInterval: number | undefined
  /** The direct streams' requests, by id, until their stream is answered in full. */
  private readonly direct = new Map<RequestId, DirectStream>()
  private closed = false

  onmessage?: Transport["onmessage"]
  onclose?: Transport["onclose"]
  onerror?: Transport["onerror"]

  constructor(options: WebStandardStreamableHTTPServerTransportOptions) {
    this.sdk = new WebStandardStreamableHTTPServerTransport(options)
    this.eventStore = options.eventStore
    this.retryInterval = options.retryInterval
    this.sdk.onmessage = (message, extra) => this.onmessage?.(message, extra)
    this.sdk.onerror = (error) => this.onerror?.(error)
    this.sdk.onclose = () => {
      this.closed = true
      const streams = new Set(this.direct.values())
      this.direct.clear()
      for (const stream of streams) this.finish(stream)
      this.onclose?.()
    }
  }

  get sessionId(): string | undefined {
    return this.sdk.sessionId
  }

  start(): Promise<void> {
    return this.sdk.start()
  }

  close(): Promise<void> {
    return this.sdk.close()
  }

  handleRequest(request: Request, options?: { readonly parsedBody?: unknown }): Promise<Response> {
    return this.sdk.handleRequest(request, options)
  }

  /**
   * The POST `body` with `headers` as the direct path takes it, or undefined when
   * the SDK's transport must answer it: checked as the SDK checks a POST to an
   * initialized session (Accept, Content-Type, session id, protocol version, batch
   * size, message shapes), so what is refused there is refused the same way.
   */
  directPost(headers: Readonly<Record<string, string | undefined>>, body: unknown): DirectPost | undefined {
    const sessionId = this.sdk.sessionId
    if (this.closed || sessionId === undefined || headers["mcp-session-id"] !== sessionId) return undefined
    const accept = headers.accept
    if (accept === undefined || !accept.includes("application/json") || !accept.includes("text/event-stream"))
      return undefined
    if (!isJsonContentType(headers["content-type"] ?? null)) return undefined
    const version = headers["mcp-protocol-version"]
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined
    const messages: ReadonlyArray<unknown> = Array.isArray(body) ? body : [body]
    if (messages.length === 0 || messages.length > MAX_BATCH_SIZE) return undefined
    const checked: Array<JSONRPCMessage> = []
    const requests: Array<RequestId> = []
    for (const message of messages) {
      if (!isPlainMessage(message)) return undefined
      checked.push(message)
      if ("method" in message && "id" in message) {
        // An id already waiting here would mix two answers: the SDK's path decides.
        if (this.direct.has(message.id)) return undefined
        requests.push(message.id)
      }
    }
    return {
      messages: checked,
      requests,
      protocolVersion: version ?? DEFAULT_NEGOTIATED_PROTOCOL_VERSION
    }
  }

  /**
   * Opens the event stream of a direct POST with requests: its priming event first,
   * as the SDK writes it when there is an event store and the client's protocol is
   * 2025-11-25 or later (older clients cannot read an empty event).
   */
  async openStream(post: DirectPost, sink: DirectSink): Promise<DirectStream> {
    const stream: DirectStream = {
      id: randomUUID(),
      requests: post.requests,
      pending: new Set(post.requests),
      open: true,
      ended: false,
      sink,
      keepAlive: undefined
    }
    for (const id of post.requests) this.direct.set(id, stream)
    if (this.eventStore !== undefined && post.protocolVersion >= "2025-11-25") {
      // The SDK stores an empty message as the priming event; the store's replay skips it.
      const primingId = await this.eventStore.storeEvent(stream.id, priming)
      if (stream.open) {
        sink.write(
          this.retryInterval === undefined
            ? `id: ${primingId}\ndata: \n\n`
            : `id: ${primingId}\nretry: ${this.retryInterval}\ndata: \n\n`
        )
      }
    }
    return stream
  }

  /**
   * Arms the SDK's keep-alive comment on a direct stream whose headers went out
   * before it ended, so that intermediaries do not cut it while a call runs.
   */
  keepAlive(stream: DirectStream): void {
    if (!stream.open || stream.keepAlive !== undefined) return
    stream.keepAlive = setInterval(() => {
      if (stream.open) stream.sink.write(": keepalive\n\n")
    }, keepAliveMs)
    stream.keepAlive.unref()
  }

  /** Hands a direct POST's messages to the session, with what the SDK would pass along. */
  dispatch(post: DirectPost, headers: Readonly<Record<string, string>>): void {
    const requestInfo = { headers }
    const resumable = this.eventStore !== undefined && post.protocolVersion >= "2025-11-25"
    for (const message of post.messages) {
      const extra: MessageExtraInfo =
        resumable && "method" in message && "id" in message
          ? {
              requestInfo,
              closeSSEStream: () => this.closeSSEStream(message.id),
              closeStandaloneSSEStream: () => this.sdk.closeStandaloneSSEStream()
            }
          : { requestInfo }
      this.onmessage?.(message, extra)
    }
  }

  /** Ends a direct stream; `byItself` unless the client left (its requests are then cancelled by the caller). */
  private finish(stream: DirectStream, byItself = true): void {
    if (!stream.open) return
    stream.open = false
    stream.ended = byItself
    if (stream.keepAlive !== undefined) clearInterval(stream.keepAlive)
    stream.sink.end()
  }

  /**
   * The client left a direct stream before it ended: nothing more is written to it,
   * and its requests, which the caller cancels, are forgotten here.
   */
  abandon(stream: DirectStream): void {
    if (!stream.open) return
    this.finish(stream, false)
    for (const id of stream.requests) if (this.direct.get(id) === stream) this.direct.delete(id)
  }

  /**
   * Closes the event stream of `requestId` (the SDK's `closeSSEStream`): what is sent
   * for it later is still kept for a client that resumes.
   */
  closeSSEStream(requestId: RequestId): void {
    const stream = this.direct.get(requestId)
    if (stream === undefined) this.sdk.closeSSEStream(requestId)
    else this.finish(stream)
  }

  closeStandaloneSSEStream(): void {
    this.sdk.closeStandaloneSSEStream()
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const response = isResponse(message)
    const requestId = response ? message.id : options?.relatedRequestId
    const stream = requestId === undefined ? undefined : this.direct.get(requestId)
    if (stream === undefined || requestId === undefined) {
      const related = options?.relatedRequestId
      return this.sdk.send(message, related === undefined ? undefined : { relatedRequestId: related })
    }
    // Kept even when the stream is gone, as the SDK does, for a client that resumes it.
    const eventId =
      this.eventStore === undefined ? undefined : await this.eventStore.storeEvent(stream.id, message)
    if (stream.open) stream.sink.write(sseEvent(message, eventId))
    if (!response) return
    stream.pending.delete(requestId)
    if (stream.pending.size > 0) return
    for (const id of stream.requests) if (this.direct.get(id) === stream) this.direct.delete(id)
    this.finish(stream)
  }
}
