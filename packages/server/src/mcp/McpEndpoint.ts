/**
 * The aggregated MCP endpoint `POST|GET|DELETE /mcp` (SPEC §5): one streamable-HTTP
 * MCP server that exposes every enabled tool of every connected server plus the
 * builtins, so any MCP client can use OAuth-protected servers through the gateway.
 *
 * Each session is an SDK `Server` over its own web-standard streamable-HTTP transport,
 * kept in a map by `Mcp-Session-Id` and tied to the API key that opened it (another
 * key gets 404, as for an unknown id); each key may hold `maxSessionsPerKey`, so one
 * key cannot take them all. A session ends on `DELETE /mcp`, after
 * `idleTimeout` without any open request (an open `GET` event stream counts as open:
 * a client that only listens is still there), and when the gateway shuts down.
 * Clients are told `notifications/tools/list_changed` whenever the aggregate changes.
 * A client that drops a POST's response stream before it ends cancels the requests
 * of that POST, as `notifications/cancelled` would.
 *
 * Mount with `McpEndpoint.routes` beside the other route layers and provide
 * `McpEndpoint.layer(options)` (it needs `McpClientManager`). API keys are checked by a
 * middleware around the routes, as for `/v1/*`.
 */
import { randomUUID } from "node:crypto"
import { type AggregatedTool, McpClientManager } from "@mcpgate/transport/McpClientManager"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
import { type Implementation, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js"
import {
  ByteSize,
  Clock,
  Context,
  Duration,
  Effect,
  FiberSet,
  Layer,
  Predicate,
  PubSub,
  Schema,
  type Scope,
  Stream
} from "effect"
import { HttpIncomingMessage, HttpRouter, type HttpServerRequest, type HttpServerResponse } from "effect/http"
import { ApiCaller } from "../security/Security.ts"
import {
  fromWebResponse,
  jsonRpcCodes,
  jsonRpcError,
  originAllowed,
  originsOf,
  toWebRequest
} from "./McpHttpBridge.ts"
import { makeToolServer, publicTool, type RunPromise } from "./McpToolServer.ts"

export interface McpEndpointOptions {
  /**
   * `server.publicUrl`: its origin may use the endpoint from a browser, and "needs
   * login" results point to `<publicUrl>/admin`.
   */
  readonly publicUrl?: string
  /** More browser origins allowed besides loopback ones and `publicUrl`'s. */
  readonly allowedOrigins?: ReadonlyArray<string>
  /** A session without any open request for this long is closed (default 30 minutes). */
  readonly idleTimeout?: Duration.Input
  /** Sessions open at once at most; a new one beyond is refused with 503 (default 1000). */
  readonly maxSessions?: number
  /**
   * Sessions one API key may hold (default 100): beyond, its oldest idle session is
   * closed, or the new one refused with 429 when all are in use. Not applied while
   * the API has no keys (one local user).
   */
  readonly maxSessionsPerKey?: number
  /** Largest accepted POST body in bytes (default 4 MiB, as the SDK's own transport). */
  readonly maxBodyBytes?: number
  /** What the endpoint says it is in `initialize` (default `mcpgate`). */
  readonly serverInfo?: Implementation
}

export const defaultIdleTimeout = Duration.minutes(30)
export const defaultMaxSessions = 1000
export const defaultMaxSessionsPerKey = 100
export const defaultMaxBodyBytes = 4 * 1024 * 1024
export const defaultServerInfo: Implementation = { name: "mcpgate", title: "mcpgate", version: "0.1.0" }

/** A session as the admin API (and tests) see it. */
export interface McpSessionInfo {
  readonly id: string
  /** Epoch milliseconds. */
  readonly createdAt: number
  /** Epoch milliseconds of the last request's start or end. */
  readonly lastActiveAt: number
  /** Requests in progress, open event streams included. */
  readonly openRequests: number
  /** Whether the client holds the `GET` event stream on which notifications arrive. */
  readonly listening: boolean
  readonly clientInfo?: Implementation
}

export interface McpEndpointShape {
  /** Answers one request to `/mcp` (any method); the request's scope must last until the response is written. */
  readonly handle: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope>
  readonly sessions: Effect.Effect<ReadonlyArray<McpSessionInfo>>
  /** Waits until `predicate` holds for the sessions (checked now and after every change). */
  readonly awaitSessions: (
    predicate: (sessions: ReadonlyArray<McpSessionInfo>) => boolean
  ) => Effect.Effect<ReadonlyArray<McpSessionInfo>>
  /** Ends a session as `DELETE` would; false when there is no such session. */
  readonly closeSession: (id: string) => Effect.Effect<boolean>
  /**
   * Refuses new sessions and closes every open one (their event streams end, their
   * calls are interrupted). Closing the layer does it too; see `layerCloseFirst`.
   */
  readonly shutdown: Effect.Effect<void>
}

/** The body of a POST that is not JSON. */
export class InvalidMcpBody extends Schema.TaggedError<InvalidMcpBody>()("InvalidMcpBody", {
  status: Schema.Number,
  code: Schema.Number,
  message: Schema.String
}) {}

interface Session {
  id: string
  /** `ApiCaller` of the request that opened it; only that caller may use it. */
  readonly caller: string | undefined
  readonly server: Server
  readonly transport: WebStandardStreamableHTTPServerTransport
  readonly createdAt: number
  lastActiveAt: number
  openRequests: number
  openStreams: number
}

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Unknown))

/** The ids of the JSON-RPC requests (not notifications or responses) in a POST body. */
const requestIdsOf = (body: unknown): ReadonlyArray<string | number> =>
  (Array.isArray(body) ? body : [body]).flatMap((message: unknown) =>
    Predicate.hasProperty(message, "method") &&
    Predicate.hasProperty(message, "id") &&
    (Predicate.isString(message.id) || Predicate.isNumber(message.id))
      ? [message.id]
      : []
  )

/**
 * Cancels requests of a session as the client's `notifications/cancelled` would
 * (MCP 2025-11-25 "Utilities › Cancellation"): the SDK aborts their handlers'
 * signals, which interrupts the calls and cancels them at the servers behind.
 * Ids that already finished are ignored by the SDK.
 */
const cancelRequests = (session: Session, ids: ReadonlyArray<string | number>): void => {
  for (const requestId of ids) {
    session.transport.onmessage?.({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId, reason: "the client closed the connection" }
    })
  }
}

const isInitialize = (body: unknown): boolean =>
  Array.isArray(body) ? body.some((message) => isInitializeRequest(message)) : isInitializeRequest(body)

const info = (session: Session): McpSessionInfo => {
  const clientInfo = session.server.getClientVersion()
  return {
    id: session.id,
    createdAt: session.createdAt,
    lastActiveAt: session.lastActiveAt,
    openRequests: session.openRequests,
    listening: session.openStreams > 0,
    ...(clientInfo === undefined ? {} : { clientInfo })
  }
}

/** Stable text of the aggregate, to tell a real change of the tool list from a status change. */
const fingerprint = (tools: ReadonlyArray<AggregatedTool>): string => JSON.stringify(tools.map(publicTool))

const internalError = (error: unknown) =>
  Effect.as(
    Effect.logWarning("/mcp failed", error),
    jsonRpcError(500, jsonRpcCodes.serverError, "Internal error in the gateway")
  )

/** Builds the endpoint in the current scope; closing the scope closes every session. */
export const make = Effect.fn("McpEndpoint.make")(function* (options: McpEndpointOptions = {}) {
  const manager = yield* McpClientManager
  const idleMs = Duration.toMillis(options.idleTimeout ?? defaultIdleTimeout)
  const maxSessions = options.maxSessions ?? defaultMaxSessions
  const maxSessionsPerKey = options.maxSessionsPerKey ?? defaultMaxSessionsPerKey
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  const serverInfo = options.serverInfo ?? defaultServerInfo
  const allowedOrigins = originsOf([
    ...(options.publicUrl === undefined ? [] : [options.publicUrl]),
    ...(options.allowedOrigins ?? [])
  ])
  const adminUrl =
    options.publicUrl === undefined ? undefined : `${options.publicUrl.replace(/\/+$/, "")}/admin`

  const sessions = new Map<string, Session>()
  let closing = false
  const sessionChanges = yield* PubSub.sliding<void>(16)
  const changed = () => {
    PubSub.publishUnsafe(sessionChanges, undefined)
  }
  // Tool calls run here, so shutting down interrupts the ones still in progress.
  const runPromise = yield* FiberSet.makeRuntimePromise()
  const run: RunPromise = (effect, runOptions) => runPromise(effect, runOptions)
  const runFork = yield* FiberSet.makeRuntime()

  const closeServer = (session: Session) =>
    Effect.promise(() => session.server.close().catch(() => undefined))

  const forget = (session: Session) => {
    if (sessions.get(session.id) === session) {
      sessions.delete(session.id)
      changed()
    }
  }

  const shutdown = Effect.suspend(() => {
    closing = true
    const open = Array.from(sessions.values())
    return Effect.forEach(open, closeServer, { concurrency: "unbounded", discard: true })
  })
  yield* Effect.addFinalizer(() => shutdown)

  const readBody = (request: HttpServerRequest.HttpServerRequest) =>
    request.text.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
      Effect.mapError(
        (error) =>
          new InvalidMcpBody(
            error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
              ? {
                  status: 413,
                  code: jsonRpcCodes.serverError,
                  message: `Payload Too Large: Request body must not exceed ${maxBodyBytes} bytes`
                }
              : {
                  status: 400,
                  code: jsonRpcCodes.parseError,
                  message: `Parse error: the request body could not be read: ${error.message}`
                }
          )
      ),
      Effect.flatMap((text) =>
        decodeJson(text).pipe(
          Effect.mapError(
            () =>
              new InvalidMcpBody({
                status: 400,
                code: jsonRpcCodes.parseError,
                message: "Parse error: Invalid JSON"
              })
          )
        )
      )
    )

  /** Hands the request to the session's transport; the request's scope ends when the response is written. */
  const serve = (session: Session, request: HttpServerRequest.HttpServerRequest, parsedBody: unknown) =>
    Effect.gen(function* () {
      session.openRequests += 1
      session.lastActiveAt = yield* Clock.currentTimeMillis
      yield* Effect.addFinalizer(() =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          session.openRequests -= 1
          session.lastActiveAt = now
          changed()
        })
      )
      const webResponse = yield* Effect.tryPromise(() =>
        session.transport.handleRequest(toWebRequest(request), { parsedBody })
      )
      const { response, release, ended } = fromWebResponse(webResponse)
      yield* Effect.addFinalizer(() => release)
      if (request.method === "POST") {
        // Its requests' answers go only to this stream: if the client leaves before it
        // ends, nobody will read them, so the calls are cancelled (their upstream too).
        const ids = requestIdsOf(parsedBody)
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (!ended() && ids.length > 0) cancelRequests(session, ids)
          })
        )
      }
      if (request.method === "GET" && webResponse.ok) {
        session.openStreams += 1
        changed()
        yield* Effect.addFinalizer(() => Effect.sync(() => (session.openStreams -= 1)))
      }
      return response
    })

  const openSession = (
    request: HttpServerRequest.HttpServerRequest,
    parsedBody: unknown,
    caller: string | undefined
  ) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // Session ids must be unguessable (MCP 2025-11-25 "Session Management"), hence node:crypto.
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          session.id = id
          sessions.set(id, session)
          changed()
        },
        onsessionclosed: () => forget(session)
      })
      const server = makeToolServer({
        manager,
        run,
        serverInfo,
        ...(adminUrl === undefined ? {} : { adminUrl }),
        // The SDK sends nothing for a cancelled request; closing its event stream frees the connection.
        onCancelled: (requestId) => transport.closeSSEStream(requestId)
      })
      const session: Session = {
        id: "",
        caller,
        server,
        transport,
        createdAt: now,
        lastActiveAt: now,
        openRequests: 0,
        openStreams: 0
      }
      server.onclose = () => forget(session)
      server.onerror = (error) => {
        runFork(Effect.logDebug(`mcp session ${session.id || "(new)"}: ${error.message}`))
      }
      yield* Effect.promise(() => server.connect(transport))
      // A refused initialize (wrong Accept header, bad version …) leaves no session behind.
      return yield* serve(session, request, parsedBody).pipe(
        Effect.ensuring(
          Effect.suspend(() => (transport.sessionId === undefined ? closeServer(session) : Effect.void))
        )
      )
    })

  /**
   * Whether `caller` may open one more session: below its cap, or once its oldest
   * idle session (no request or event stream open) is closed to make room.
   */
  const makeRoomFor = (caller: string) =>
    Effect.gen(function* () {
      const own = Array.from(sessions.values()).filter((session) => session.caller === caller)
      if (own.length < maxSessionsPerKey) return true
      const idle = own
        .filter((session) => session.openRequests === 0)
        .sort((a, b) => a.lastActiveAt - b.lastActiveAt)
      const excess = own.length - maxSessionsPerKey + 1
      if (idle.length < excess) return false
      const evicted = idle.slice(0, excess)
      for (const session of evicted) {
        yield* Effect.logDebug(`mcp session ${session.id} closed to make room for a new one of the same key`)
      }
      yield* Effect.forEach(evicted, closeServer, { concurrency: "unbounded", discard: true })
      return true
    })

  const handle = (
    request: HttpServerRequest.HttpServerRequest
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> =>
    Effect.gen(function* () {
      const origin = request.headers.origin
      if (!originAllowed(origin, allowedOrigins)) {
        return jsonRpcError(
          403,
          jsonRpcCodes.serverError,
          `Forbidden: Origin ${origin} may not use this endpoint`
        )
      }
      const method = request.method
      if (method !== "GET" && method !== "POST" && method !== "DELETE") {
        return jsonRpcError(405, jsonRpcCodes.serverError, "Method not allowed.", {
          allow: "GET, POST, DELETE"
        })
      }
      const parsedBody = method === "POST" ? yield* readBody(request) : undefined
      const caller = yield* ApiCaller
      const sessionId = request.headers["mcp-session-id"]
      if (sessionId !== undefined) {
        const session = sessions.get(sessionId)
        // Another key's session is answered as an unknown one: its existence is not revealed.
        if (session === undefined || session.caller !== caller) {
          return jsonRpcError(404, jsonRpcCodes.sessionNotFound, "Session not found")
        }
        return yield* serve(session, request, parsedBody)
      }
      if (method !== "POST" || !isInitialize(parsedBody)) {
        return jsonRpcError(400, jsonRpcCodes.serverError, "Bad Request: Mcp-Session-Id header is required")
      }
      if (closing) return jsonRpcError(503, jsonRpcCodes.serverError, "The gateway is shutting down")
      if (caller !== undefined && !(yield* makeRoomFor(caller))) {
        return jsonRpcError(
          429,
          jsonRpcCodes.serverError,
          `Too many MCP sessions for this API key (at most ${maxSessionsPerKey}, all in use): end one with DELETE /mcp, or let one go idle`
        )
      }
      if (sessions.size >= maxSessions) {
        return jsonRpcError(503, jsonRpcCodes.serverError, `Too many MCP sessions (at most ${maxSessions})`)
      }
      return yield* openSession(request, parsedBody, caller)
    }).pipe(
      Effect.catchTag("InvalidMcpBody", (error) =>
        Effect.succeed(jsonRpcError(error.status, error.code, error.message))
      ),
      // A bug must not take the connection down silently: the client still gets a JSON-RPC error.
      Effect.catch(internalError),
      Effect.catchDefect(internalError)
    )

  // Idle sessions are looked for a few times per timeout, at least once a minute.
  const sweepEvery = Math.max(10, Math.min(60_000, Math.floor(idleMs / 4)))
  const sweep = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const idle = Array.from(sessions.values()).filter(
      (session) => session.openRequests === 0 && now - session.lastActiveAt >= idleMs
    )
    for (const session of idle) yield* Effect.logDebug(`mcp session ${session.id} closed after being idle`)
    yield* Effect.forEach(idle, closeServer, { concurrency: "unbounded", discard: true })
  })
  yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(sweepEvery)), sweep)))

  // notifications/tools/list_changed when the aggregate really changed (status changes that
  // leave the list as it was say nothing). Subscribing before the first read misses nothing.
  const managerChanges = yield* manager.subscribe
  let lastTools = fingerprint(yield* manager.tools)
  const notifyAll = Effect.suspend(() =>
    Effect.forEach(
      Array.from(sessions.values()),
      (session) => Effect.promise(() => session.server.sendToolListChanged().catch(() => undefined)),
      { concurrency: "unbounded", discard: true }
    )
  )
  yield* managerChanges.pipe(
    Stream.runForEach(() =>
      Effect.gen(function* () {
        const current = fingerprint(yield* manager.tools)
        if (current === lastTools) return
        lastTools = current
        yield* notifyAll
      })
    ),
    Effect.forkScoped
  )

  const awaitSessions = (predicate: (sessions: ReadonlyArray<McpSessionInfo>) => boolean) =>
    Effect.scoped(
      Effect.gen(function* () {
        const subscription = yield* PubSub.subscribe(sessionChanges)
        for (;;) {
          const current = Array.from(sessions.values(), info)
          if (predicate(current)) return current
          yield* PubSub.take(subscription)
        }
      })
    )

  const closeSession = (id: string) =>
    Effect.suspend(() => {
      const session = sessions.get(id)
      return session === undefined ? Effect.succeed(false) : Effect.as(closeServer(session), true)
    })

  const service: McpEndpointShape = {
    handle,
    sessions: Effect.sync(() => Array.from(sessions.values(), info)),
    awaitSessions,
    closeSession,
    shutdown
  }
  return service
})

export class McpEndpoint extends Context.Service<McpEndpoint, McpEndpointShape>()(
  "@mcpgate/server/McpEndpoint"
) {
  /** The endpoint over the manager's tools; closing the layer closes every session. */
  static readonly layer = (options?: McpEndpointOptions): Layer.Layer<McpEndpoint, never, McpClientManager> =>
    Layer.effect(McpEndpoint, make(options))

  /**
   * Closes the sessions when the gateway stops, before the HTTP server's graceful
   * shutdown: that shutdown waits for open requests (up to `gracefulShutdownTimeout`,
   * 20 s by default), and a session's event stream stays open until the session ends.
   * Build it after `HttpRouter.serve`, e.g.
   * `McpEndpoint.layerCloseFirst.pipe(Layer.provide(HttpRouter.serve(routes)), Layer.provide(McpEndpoint.layer(options)))`.
   */
  static readonly layerCloseFirst: Layer.Layer<never, never, McpEndpoint> = Layer.effectDiscard(
    Effect.gen(function* () {
      const endpoint = yield* McpEndpoint
      yield* Effect.addFinalizer(() => endpoint.shutdown)
    })
  )
}

/** `POST|GET|DELETE /mcp` (other methods get 405 from the endpoint); needs `McpEndpoint`. */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const endpoint = yield* McpEndpoint
    yield* router.add("*", "/mcp", endpoint.handle)
  })
)
