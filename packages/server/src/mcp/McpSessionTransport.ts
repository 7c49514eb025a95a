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
 *
 * A method with a direct handler (`tools/call` of `/mcp`, McpToolServer.ts) is
 * answered on that path without the session's SDK `Server` either: the handler
 * takes the params the SDK's schema would accept, and anything else still goes
 * to the `Server`, which answers it (and its errors) as before.
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
  ErrorCode,
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

/**
 * A request method the transport answers itself on the direct path. `accepts`
 * says whether `params` are what the SDK's schema for the method parses unchanged;
 * the others go to the session, whose `Server` answers them, errors included.
 * `handle` answers with the result, or rejects as a request handler of the SDK
 * does; once `signal` aborts (the client cancelled, left, or the session closed)
 * nothing is sent for the request, as the SDK sends nothing for a cancelled one.
 */
export interface DirectHandler {
  readonly accepts: (params: Readonly<Record<string, unknown>> | undefined) => boolean
  readonly handle: (
    params: Readonly<Record<string, unknown>>,
    context: { readonly requestId: RequestId; readonly signal: AbortSignal }
  ) => Promise<Record<string, unknown>>
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

/** What the SDK answers for a request whose handler threw `error`: its code when it has one, else an internal error. */
const errorAnswer = (id: RequestId, error: unknown): JSONRPCMessage => {
  const code =
    isRecord(error) && Number.isSafeInteger(error.code) ? Number(error.code) : ErrorCode.InternalError
  const message = error instanceof Error && error.message !== "" ? error.message : "Internal error"
  const data = isRecord(error) ? error.data : undefined
  return { jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } }
}

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
  /** Methods answered here rather than by the session (see `DirectHandler`). */
  private readonly handlers = new Map<string, DirectHandler>()
  /** Requests a direct handler is answering, by id. */
  private readonly running = new Map<RequestId, AbortController>()
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
      for (const controller of this.running.values()) controller.abort()
      this.running.clear()
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

  /** Answers `method` on the direct path with `handler` from now on. */
  handleDirectly(method: string, handler: DirectHandler): void {
    this.handlers.set(method, handler)
  }

  /**
   * Hands a direct POST's messages to the session, with what the SDK would pass
   * along; a request with a direct handler, or the cancellation of one, is taken here.
   */
  dispatch(post: DirectPost, headers: Readonly<Record<string, string>>): void {
    const requestInfo = { headers }
    const resumable = this.eventStore !== undefined && post.protocolVersion >= "2025-11-25"
    for (const message of post.messages) {
      if (this.answered(message)) continue
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

  /** Whether `message` is a request a direct handler answers (started here), or a cancellation of one. */
  private answered(message: JSONRPCMessage): boolean {
    if (!("method" in message)) return false
    const params = message.params
    if (!("id" in message)) {
      if (message.method !== "notifications/cancelled" || !isRecord(params) || !isId(params.requestId))
        return false
      return this.cancel(params.requestId)
    }
    const handler = this.handlers.get(message.method)
    if (handler === undefined || !handler.accepts(params)) return false
    const id = message.id
    const controller = new AbortController()
    this.running.set(id, controller)
    const answer = (reply: JSONRPCMessage) => {
      if (this.running.get(id) === controller) this.running.delete(id)
      if (controller.signal.aborted) return
      this.send(reply).catch((error: unknown) =>
        this.onerror?.(new Error(`Failed to send a response: ${String(error)}`))
      )
    }
    // A handler that throws rather than rejects is answered the same way.
    new Promise<Record<string, unknown>>((resolve) =>
      resolve(handler.handle(params ?? {}, { requestId: id, signal: controller.signal }))
    ).then(
      (result) => answer({ jsonrpc: "2.0", id, result }),
      (error: unknown) => answer(errorAnswer(id, error))
    )
    return true
  }

  /** Aborts a request a direct handler is answering; false when none is. */
  private cancel(requestId: RequestId): boolean {
    const controller = this.running.get(requestId)
    if (controller === undefined) return false
    this.running.delete(requestId)
    controller.abort()
    return true
  }

  /**
   * Cancels the session's requests `ids` as the client's `notifications/cancelled`
   * would (MCP 2025-11-25 "Utilities › Cancellation"); ids already answered are ignored.
   */
  cancelRequests(ids: ReadonlyArray<RequestId>, reason: string): void {
    for (const requestId of ids) {
      if (!this.cancel(requestId)) {
        this.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason } })
      }
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
