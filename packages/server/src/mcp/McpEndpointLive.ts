/**
 * The `/mcp` endpoint at work (McpEndpoint.ts): its sessions, over the MCP SDK's
 * server, and the handling of each request. McpEndpoint builds it on the first use
 * of `/mcp`, so that a gateway starts without loading the SDK (bench/RESULTS.md,
 * issue 18: start-up).
 */

import * as McpEventStore from "@mcpgate/core/McpEventStore"
import { type AggregatedTool, McpClientManager } from "@mcpgate/transport/McpClientManager"
import { type Implementation, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js"
import { ByteSize, Clock, Duration, Effect, FiberSet, Option, Schema, type Scope, Stream } from "effect"
import { HttpIncomingMessage, type HttpServerRequest, type HttpServerResponse } from "effect/http"
import { ApiCaller, CurrentPrincipal } from "../security/Security.ts"
import { CallerTools, type CallerToolsShape } from "../teams/CallerTools.ts"
import {
  defaultDormantAfter,
  defaultIdleTimeout,
  defaultMaxBodyBytes,
  defaultMaxSessions,
  defaultMaxSessionsPerKey,
  defaultServerInfo,
  InvalidMcpBody,
  type McpEndpointOptions,
  type McpEndpointShape
} from "./McpEndpoint.ts"
import { jsonRpcCodes, jsonRpcError, originAllowed, originsOf } from "./McpHttpBridge.ts"
import * as McpProxy from "./McpProxy.ts"
import * as McpRevive from "./McpRevive.ts"
import * as McpSessionRecordsModule from "./McpSessionRecords.ts"
import { McpSessionRecords } from "./McpSessionRecords.ts"
import * as McpSessions from "./McpSessions.ts"
import { makeToolServer, publicTool, type RunPromise, userOf } from "./McpToolServer.ts"

/** The endpoint's settings and state, for the functions below. */
interface EndpointContext extends McpProxy.ProxyContext {
  /** The tools as each session's principal sees them (docs/teams.md#per-user-tool-calls), when the gateway has users. */
  readonly callerTools: CallerToolsShape | undefined
  readonly allowedOrigins: ReadonlySet<string>
  readonly adminUrl: string | undefined
  readonly serverInfo: Implementation
  readonly maxSessions: number
  readonly maxSessionsPerKey: number
  readonly maxBodyBytes: number
  /** Runs a tool call in the endpoint's scope, so shutting down interrupts it. */
  readonly run: RunPromise
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => unknown
}

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Unknown))

const isInitialize = (body: unknown): boolean =>
  Array.isArray(body) ? body.some((message) => isInitializeRequest(message)) : isInitializeRequest(body)

/** Stable text of the aggregate, to tell a real change of the tool list from a status change. */
const fingerprint = (tools: ReadonlyArray<AggregatedTool>): string => JSON.stringify(tools.map(publicTool))

const internalError = (error: unknown) =>
  Effect.as(
    Effect.logWarning("/mcp failed", error),
    jsonRpcError(500, jsonRpcCodes.serverError, "Internal error in the gateway")
  )

/** A POST's JSON body, at most `maxBodyBytes`; errors as the SDK's transport words them. */
const readBody = (ctx: EndpointContext, request: HttpServerRequest.HttpServerRequest) =>
  request.text.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(ctx.maxBodyBytes)),
    Effect.mapError(
      (error) =>
        new InvalidMcpBody(
          error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
            ? {
                status: 413,
                code: jsonRpcCodes.serverError,
                message: `Payload Too Large: Request body must not exceed ${ctx.maxBodyBytes} bytes`
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

/** The live objects of an aggregated session: new, or rebuilt under its recorded id (McpRevive.ts). */
const buildSession = (ctx: EndpointContext, caller: string | undefined, revived?: McpRevive.Revived) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const transport = McpRevive.sessionTransport(ctx, revived, () => session)
    const principal = yield* CurrentPrincipal
    const server = makeToolServer({
      manager: ctx.manager,
      caller: ctx.callerTools === undefined ? undefined : { principal, tools: ctx.callerTools },
      run: ctx.run,
      serverInfo: ctx.serverInfo,
      ...(ctx.adminUrl === undefined ? {} : { adminUrl: ctx.adminUrl }),
      // The SDK sends nothing for a cancelled request; closing its event stream frees the connection.
      onCancelled: (requestId) => transport.closeSSEStream(requestId)
    })
    const session = McpSessions.makeSession(
      { caller, target: undefined, server, transport, createdAt: revived?.createdAt ?? now },
      now
    )
    server.onclose = () => McpRevive.ended(ctx, session)
    server.onerror = (error) => {
      ctx.runFork(Effect.logDebug(`mcp session ${session.id || "(new)"}: ${error.message}`))
    }
    yield* Effect.promise(() => server.connect(transport))
    return session
  })

/** A new session for an `initialize` POST, recorded; a refused initialize leaves none behind. */
const openSession = (
  ctx: EndpointContext,
  request: HttpServerRequest.HttpServerRequest,
  parsedBody: unknown,
  caller: string | undefined
) =>
  Effect.flatMap(buildSession(ctx, caller), (session) =>
    McpRevive.serveInitialize(ctx, session, request, parsedBody)
  )

/** Builds a session of `/mcp` or `/mcp/<target>` again from its record. */
const rebuild =
  (ctx: EndpointContext): McpRevive.Build =>
  (target, caller, revived) =>
    target === undefined ? buildSession(ctx, caller, revived) : McpProxy.build(ctx, target, caller, revived)

/**
 * One request to `/mcp` (`target` undefined) or `/mcp/<target>`: to its session,
 * or an `initialize` that opens one.
 */
const handle = (
  ctx: EndpointContext,
  request: HttpServerRequest.HttpServerRequest,
  target: string | undefined
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope> =>
  Effect.gen(function* () {
    const origin = request.headers.origin
    if (!originAllowed(origin, ctx.allowedOrigins)) {
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
    const parsedBody = method === "POST" ? yield* readBody(ctx, request) : undefined
    const caller = yield* ApiCaller
    const sessionId = request.headers["mcp-session-id"]
    if (sessionId !== undefined) {
      // Held here, or rebuilt from its record (opened on another replica, or idle).
      const session = yield* McpRevive.live(ctx, rebuild(ctx), sessionId, caller, target)
      // Another key's session (or another endpoint's) is answered as an unknown one: its existence is not revealed.
      if (session === undefined || session.caller !== caller || session.target !== target) {
        return jsonRpcError(404, jsonRpcCodes.sessionNotFound, "Session not found")
      }
      yield* McpRevive.touch(ctx, session)
      return yield* McpSessions.serve(ctx.registry, session, request, parsedBody)
    }
    if (method !== "POST" || !isInitialize(parsedBody)) {
      return jsonRpcError(400, jsonRpcCodes.serverError, "Bad Request: Mcp-Session-Id header is required")
    }
    if (ctx.registry.closing)
      return jsonRpcError(503, jsonRpcCodes.serverError, "The gateway is shutting down")
    if (
      caller !== undefined &&
      !(yield* McpSessions.makeRoomFor(ctx.registry, caller, ctx.maxSessionsPerKey))
    ) {
      return jsonRpcError(
        429,
        jsonRpcCodes.serverError,
        `Too many MCP sessions for this API key (at most ${ctx.maxSessionsPerKey}, all in use): end one with DELETE /mcp, or let one go idle`
      )
    }
    if (ctx.registry.byId.size >= ctx.maxSessions) {
      return jsonRpcError(503, jsonRpcCodes.serverError, `Too many MCP sessions (at most ${ctx.maxSessions})`)
    }
    return yield* target === undefined
      ? openSession(ctx, request, parsedBody, caller)
      : McpProxy.openSession(ctx, target, request, parsedBody, caller)
  }).pipe(
    Effect.catchTag("InvalidMcpBody", (error) =>
      Effect.succeed(jsonRpcError(error.status, error.code, error.message))
    ),
    // A bug must not take the connection down silently: the client still gets a JSON-RPC error.
    Effect.catch(internalError),
    Effect.catchDefect(internalError)
  )

/**
 * notifications/tools/list_changed when the aggregate really changed (status changes that
 * leave the list as it was say nothing). Subscribing before the first read misses nothing.
 */
const notifyToolChanges = (ctx: EndpointContext) =>
  Effect.gen(function* () {
    const changes = yield* ctx.manager.subscribe
    let lastTools = fingerprint(yield* ctx.manager.tools)
    const notifyAll = (which: (session: McpSessions.Session) => boolean) =>
      Effect.forEach(
        // Only where the client listened: a copy of its session on another replica (McpRevive.ts) stays quiet.
        Array.from(ctx.registry.byId.values()).filter((session) => session.listened && which(session)),
        (session) =>
          Effect.promise(
            () => session.server.sendToolListChanged?.().catch(() => undefined) ?? Promise.resolve()
          ),
        { concurrency: "unbounded", discard: true }
      )
    yield* changes.pipe(
      Stream.runForEach(() =>
        Effect.gen(function* () {
          const current = fingerprint(yield* ctx.manager.tools)
          if (current === lastTools) return
          lastTools = current
          yield* notifyAll((session) => session.target === undefined)
        })
      ),
      Effect.forkScoped
    )
    // A user's login or logout changes their own tools only: their sessions are told.
    if (ctx.callerTools === undefined) return
    yield* (yield* ctx.callerTools.userChanges).pipe(
      Stream.runForEach((user) =>
        notifyAll((session) => session.target === undefined && userOf(session.server) === user)
      ),
      Effect.forkScoped
    )
  })

/** Builds the endpoint in the current scope; closing the scope closes every session. */
export const make = Effect.fnUntraced(function* (options: McpEndpointOptions) {
  const runPromise = yield* FiberSet.makeRuntimePromise()
  const records = yield* Effect.serviceOption(McpSessionRecords)
  const sharedEvents = yield* Effect.serviceOption(McpEventStore.McpEventStore)
  const idleMs = Duration.toMillis(options.idleTimeout ?? defaultIdleTimeout)
  const ctx: EndpointContext = {
    manager: yield* McpClientManager,
    callerTools: Option.getOrUndefined(yield* Effect.serviceOption(CallerTools)),
    registry: yield* McpSessions.makeRegistry,
    records:
      options.sessionRecords ??
      (Option.isSome(records) ? records.value : yield* McpSessionRecordsModule.makeMemory),
    idleMs,
    reviving: new Map(),
    allowedOrigins: originsOf([
      ...(options.publicUrl === undefined ? [] : [options.publicUrl]),
      ...(options.allowedOrigins ?? [])
    ]),
    adminUrl: options.publicUrl === undefined ? undefined : `${options.publicUrl.replace(/\/+$/, "")}/admin`,
    serverInfo: options.serverInfo ?? defaultServerInfo,
    maxSessions: options.maxSessions ?? defaultMaxSessions,
    maxSessionsPerKey: options.maxSessionsPerKey ?? defaultMaxSessionsPerKey,
    maxBodyBytes: options.maxBodyBytes ?? defaultMaxBodyBytes,
    eventStore:
      options.eventStore ??
      (Option.isSome(sharedEvents) ? sharedEvents.value : yield* McpEventStore.makeMemory()),
    // Tool calls run here, so shutting down interrupts the ones still in progress.
    run: (effect, runOptions) => runPromise(effect, runOptions),
    runFork: yield* FiberSet.makeRuntime()
  }
  // The sessions go on elsewhere (their records and events stay): this replica only stops.
  const shutdown = Effect.suspend(() => {
    ctx.registry.closing = true
    for (const session of ctx.registry.byId.values()) session.keep = true
    return McpSessions.closeAll(ctx.registry.byId.values())
  })
  yield* Effect.addFinalizer(() => shutdown)
  yield* sweepSessions(ctx, idleMs, Duration.toMillis(options.dormantAfter ?? defaultDormantAfter))
  // A session ended on another replica: the copy here goes too (its record and events are gone already).
  yield* Effect.forkScoped(
    ctx.records.watchEnded((id) =>
      Effect.suspend(() => {
        const session = ctx.registry.byId.get(id)
        if (session === undefined) return Effect.void
        session.keep = true
        return McpSessions.close(session)
      })
    )
  )
  yield* notifyToolChanges(ctx)

  const endpoint: McpEndpointShape = {
    handle: (request) => handle(ctx, request, undefined),
    handleServer: (server, request) => handle(ctx, request, server),
    sessions: Effect.sync(() => McpSessions.list(ctx.registry)),
    awaitSessions: (predicate) => McpSessions.awaitSessions(ctx.registry, predicate),
    closeSession: (id) => closeSession(ctx, id),
    shutdown
  }
  return endpoint
})

/**
 * Idle sessions are looked for a few times per timeout, at least once a minute:
 * closed after `idleMs`, reduced to their record after `dormantMs`.
 */
const sweepSessions = (ctx: EndpointContext, idleMs: number, dormantMs: number) => {
  const every = (ms: number) => Math.max(10, Math.min(60_000, Math.floor(ms / 4)))
  const recorded = (id: string) => Effect.map(ctx.records.get(id), Option.isSome)
  const sweep = (ms: number, effect: Effect.Effect<void>) =>
    Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(every(ms))), effect)))
  return Effect.andThen(
    sweep(
      idleMs,
      Effect.andThen(McpRevive.refreshBusy(ctx), McpSessions.sweepIdle(ctx.registry, idleMs, recorded))
    ),
    sweep(dormantMs, McpRevive.sweepDormant(ctx, dormantMs))
  )
}

/** Ends a session as `DELETE` would, held here or only recorded; false when there is no such session. */
const closeSession = (ctx: EndpointContext, id: string) =>
  Effect.gen(function* () {
    const session = ctx.registry.byId.get(id)
    if (session !== undefined) {
      yield* McpSessions.close(session)
      return true
    }
    if (Option.isNone(yield* ctx.records.get(id))) return false
    yield* ctx.records.remove(id)
    yield* ctx.eventStore.forget(id).pipe(Effect.ignore)
    return true
  })
