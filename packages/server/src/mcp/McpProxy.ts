/**
 * `/mcp/<server>` (docs/gateway.md#one-server-passed-through): one configured
 * server passed through whole. Each session is a relay between the client's
 * streamable-HTTP session (the SDK's web-standard server transport, resumable)
 * and a connection of its own to the server (`McpClientManager.openRelay`: stdio,
 * SSE or streamable HTTP, through the server's OAuth). JSON-RPC messages go
 * through unchanged, ids included: each side has its own id space and the relay
 * has one upstream per session, so requests, responses, notifications,
 * cancellations, progress, sampling and elicitation all keep their meaning.
 *
 * The one thing the relay decides is which of the client's streams carries what
 * the server sends: a response goes with its request; progress with the request
 * whose `progressToken` it names; list changes and resource updates on the
 * client's `GET` stream once it opened one; anything else sent during a request
 * (log messages, sampling, elicitation) on the newest request's stream, which is
 * where a direct server would have put it (MCP 2025-11-25 "Transports › Sending
 * Messages to the Server": messages related to a request go on its stream).
 */
import type { McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { Implementation, JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { Clock, Effect, Exit, Predicate, Scope } from "effect"
import type { HttpServerRequest } from "effect/http"
import { jsonRpcCodes, jsonRpcError } from "./McpHttpBridge.ts"
import * as McpRevive from "./McpRevive.ts"
import * as McpSessions from "./McpSessions.ts"
import type { SessionTransport } from "./McpSessionTransport.ts"

export interface ProxyContext extends McpRevive.ReviveContext {
  readonly manager: McpClientManagerShape
}

type RequestId = string | number

/** Methods whose notifications belong to no request: sent on the client's `GET` stream when it has one. */
const sessionNotifications = new Set([
  "notifications/resources/updated",
  "notifications/resources/list_changed",
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed"
])

const isRequestId = (value: unknown): value is RequestId =>
  Predicate.isString(value) || Predicate.isNumber(value)

const methodOf = (message: JSONRPCMessage): string | undefined =>
  "method" in message && Predicate.isString(message.method) ? message.method : undefined

const idOf = (message: JSONRPCMessage): RequestId | undefined =>
  "id" in message && isRequestId(message.id) ? message.id : undefined

const progressTokenOf = (message: JSONRPCMessage): RequestId | undefined => {
  const params = "params" in message ? message.params : undefined
  const meta = Predicate.hasProperty(params, "_meta") ? params._meta : undefined
  return Predicate.hasProperty(meta, "progressToken") && isRequestId(meta.progressToken)
    ? meta.progressToken
    : undefined
}

/** The request a `notifications/cancelled` names. */
const cancelledRequest = (message: JSONRPCMessage): RequestId | undefined => {
  if (methodOf(message) !== "notifications/cancelled" || !("params" in message)) return undefined
  const params = message.params
  return Predicate.hasProperty(params, "requestId") && isRequestId(params.requestId)
    ? params.requestId
    : undefined
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** What one relay tracks: the client's requests still unanswered, in the order they came. */
interface Relay {
  readonly server: string
  readonly session: McpSessions.Session
  readonly downstream: SessionTransport
  readonly upstream: SdkTransport
  readonly pending: Map<RequestId, { readonly method: string; readonly progressToken: RequestId | undefined }>
  clientInfo: Implementation | undefined
  /** Sends to the client one after another, so a call's progress never overtakes its answer. */
  toClient: Promise<void>
  readonly log: (message: string) => void
  /** Ends the session on both sides. */
  readonly close: () => void
}

/** The client's request a message from the server belongs with (see the module comment). */
const relatedRequest = (relay: Relay, message: JSONRPCMessage): RequestId | undefined => {
  const method = methodOf(message) ?? ""
  if (method === "notifications/progress") {
    const params = "params" in message ? message.params : undefined
    const token = Predicate.hasProperty(params, "progressToken") ? params.progressToken : undefined
    for (const [id, request] of relay.pending) if (request.progressToken === token) return id
  }
  // Kept for the GET stream even while it is down: the client resumes it with Last-Event-ID.
  if (sessionNotifications.has(method) && relay.session.listened) return undefined
  return Array.from(relay.pending.keys()).at(-1)
}

/** A message from the client: remembered while it is a pending request, then sent to the server. */
const fromClient = (relay: Relay, message: JSONRPCMessage): void => {
  const method = methodOf(message)
  const id = idOf(message)
  if (method === "initialize" && "params" in message && Predicate.hasProperty(message.params, "clientInfo")) {
    const info = message.params.clientInfo
    if (Predicate.hasProperty(info, "name") && Predicate.isString(info.name)) {
      relay.clientInfo = {
        name: info.name,
        version: Predicate.hasProperty(info, "version") ? String(info.version) : ""
      }
    }
  }
  if (method !== undefined && id !== undefined) {
    relay.pending.set(id, { method, progressToken: progressTokenOf(message) })
  }
  const cancelled = cancelledRequest(message)
  if (cancelled !== undefined && relay.pending.delete(cancelled)) {
    // The server will not answer a cancelled request (MCP 2025-11-25 "Utilities ›
    // Cancellation"): its stream to the client ends here rather than stay open.
    relay.toClient = relay.toClient.then(() => relay.downstream.closeSSEStream(cancelled))
  }
  relay.upstream.send(message).catch((error: unknown) => {
    relay.log(`sending ${method ?? "a response"} to the server failed: ${errorText(error)}`)
    // The server forgot the session (MCP 2025-11-25 "Session Management": 404): so does the
    // gateway, and the client's next request gets the 404 that makes it initialize again.
    if (error instanceof StreamableHTTPError && error.code === 404) relay.close()
    // A request the server never got is answered here, so the client does not wait forever.
    if (method !== undefined && id !== undefined) {
      toClient(relay, {
        jsonrpc: "2.0",
        id,
        error: {
          code: jsonRpcCodes.serverError,
          message: `mcp server "${relay.server}" could not be reached: ${errorText(error)}`
        }
      })
    }
  })
}

/** A message from the server, to the client stream it belongs on. */
const toClient = (relay: Relay, message: JSONRPCMessage): void => {
  const isResponse = methodOf(message) === undefined
  const id = idOf(message)
  if (isResponse && id !== undefined) {
    const request = relay.pending.get(id)
    relay.pending.delete(id)
    // Later requests to the server carry the negotiated version (MCP 2025-11-25 "Transports › Protocol Version Header").
    if (request?.method === "initialize" && "result" in message) {
      const version = message.result.protocolVersion
      if (Predicate.isString(version)) relay.upstream.setProtocolVersion?.(version)
    }
  }
  const related = isResponse ? undefined : relatedRequest(relay, message)
  relay.toClient = relay.toClient.then(() =>
    relay.downstream
      .send(message, related === undefined ? undefined : { relatedRequestId: related })
      .catch((error: unknown) =>
        // The request's stream is gone: a notification or request still has the session's stream.
        related === undefined || isResponse
          ? relay.log(`a message for the client was lost: ${errorText(error)}`)
          : relay.downstream.send(message).catch(() => undefined)
      )
  )
}

/** Why a relay could not be opened, as the client's answer. */
const openFailed = (server: string, error: { readonly _tag: string; readonly message: string }) =>
  error._tag === "ServerNotFound"
    ? jsonRpcError(404, jsonRpcCodes.serverError, `Not found: ${error.message}`)
    : jsonRpcError(
        502,
        jsonRpcCodes.serverError,
        `mcp server "${server}" could not be reached: ${error.message}`
      )

/**
 * The live objects of a session of `/mcp/<server>`: its connection to the server
 * first (a stdio server is started), then the client's side; new, or rebuilt under
 * a recorded id (McpRevive.ts), which initializes a new connection to the server.
 */
const buildRelay = (
  ctx: ProxyContext,
  server: string,
  caller: string | undefined,
  revived?: McpRevive.Revived
) =>
  Effect.gen(function* () {
    const upstreamScope = yield* Scope.make()
    const closeUpstream = Scope.close(upstreamScope, Exit.void)
    const opened = yield* ctx.manager.openRelay(server).pipe(Scope.provide(upstreamScope), Effect.result)
    if (opened._tag === "Failure") {
      yield* closeUpstream
      return { _tag: "Failed", response: openFailed(server, opened.failure) } as const
    }
    const upstream = opened.success
    const now = yield* Clock.currentTimeMillis
    const downstream = McpRevive.sessionTransport(ctx, revived, () => session)
    const session = McpSessions.makeSession(
      {
        caller,
        target: server,
        server: { close: () => downstream.close(), getClientVersion: () => relay.clientInfo },
        transport: downstream,
        createdAt: revived?.createdAt ?? now
      },
      now
    )
    const relay: Relay = {
      server,
      session,
      downstream,
      upstream,
      pending: new Map(),
      clientInfo: undefined,
      toClient: Promise.resolve(),
      log: (message) =>
        ctx.runFork(Effect.logDebug(`mcp/${server} session ${session.id || "(new)"}: ${message}`)),
      close: () => closeBoth()
    }
    let closed = false
    const closeBoth = () => {
      if (closed) return
      closed = true
      McpRevive.ended(ctx, session)
      ctx.runFork(closeUpstream)
      void downstream.close().catch(() => undefined)
    }
    downstream.onmessage = (message) => fromClient(relay, message)
    downstream.onclose = closeBoth
    downstream.onerror = (error) => relay.log(error.message)
    upstream.onmessage = (message) => toClient(relay, message)
    // The server went away (its process ended, its session expired): so does the client's session.
    upstream.onclose = closeBoth
    upstream.onerror = (error) => relay.log(`server: ${error.message}`)
    yield* Effect.promise(() => downstream.start())
    return { _tag: "Built", session } as const
  })

/** A session of `/mcp/<server>` rebuilt from its record; undefined when its server cannot be reached. */
export const build = (
  ctx: ProxyContext,
  server: string,
  caller: string | undefined,
  revived: McpRevive.Revived
) =>
  Effect.map(buildRelay(ctx, server, caller, revived), (built) =>
    built._tag === "Built" ? built.session : undefined
  )

/**
 * A new session of `/mcp/<server>` for an `initialize` POST, recorded: the
 * client's `initialize` goes to the server. A refused initialize leaves nothing behind.
 */
export const openSession = (
  ctx: ProxyContext,
  server: string,
  request: HttpServerRequest.HttpServerRequest,
  parsedBody: unknown,
  caller: string | undefined
) =>
  Effect.gen(function* () {
    const built = yield* buildRelay(ctx, server, caller)
    if (built._tag === "Failed") return built.response
    const session = built.session
    return yield* McpRevive.serveInitialize(ctx, session, request, parsedBody)
  })
