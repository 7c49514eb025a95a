/**
 * `/mcp` sessions that outlive their live objects (docs/store.md#mcp-sessions):
 * each session opened is recorded (McpSessionRecords.ts); a request for a
 * session this replica does not hold rebuilds it from its record, and an idle
 * session drops its SDK objects and keeps only the record.
 *
 * Rebuilding goes through the SDK's public API only: a new transport whose
 * session id generator returns the recorded id, sent the client's recorded
 * `initialize` and then `notifications/initialized`, as the client once sent
 * them (MCP 2025-11-25 "Lifecycle › Initialization"). For `/mcp/<server>` that
 * initializes a new connection to the server.
 */
import { randomUUID } from "node:crypto"
import type { McpEventStoreShape } from "@mcpgate/core/McpEventStore"
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js"
import { Clock, Deferred, Effect, Exit, Option, Schema } from "effect"
import type { HttpServerRequest } from "effect/http"
import { retryIntervalMs, sdkEventStore } from "./McpResumption.ts"
import { InitializeParams, type McpSessionRecordsShape } from "./McpSessionRecords.ts"
import * as McpSessions from "./McpSessions.ts"
import { SessionTransport } from "./McpSessionTransport.ts"

/** A session's id and creation time when it is rebuilt (none for a new one). */
export interface Revived {
  readonly id: string
  readonly createdAt: number
}

export interface ReviveContext {
  readonly registry: McpSessions.Registry
  readonly records: McpSessionRecordsShape
  readonly eventStore: McpEventStoreShape
  /** The idle timeout: a record expires this long after its session's last activity. */
  readonly idleMs: number
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => unknown
  /** The sessions being rebuilt, so that two requests for one session build it once. */
  readonly reviving: Map<string, Deferred.Deferred<McpSessions.Session | undefined>>
}

/** Builds a session's live objects under a recorded id, not yet initialized; undefined when it cannot be. */
export type Build = (
  target: string | undefined,
  caller: string | undefined,
  revived: Revived
) => Effect.Effect<McpSessions.Session | undefined>

const decodeInitialize = Schema.decodeUnknownOption(InitializeParams)

/** The `initialize` params of an initialize POST's body. */
const initializeParamsOf = (body: unknown) => {
  const message = (Array.isArray(body) ? body : [body]).find((each) => isInitializeRequest(each))
  return message === undefined ? Option.none() : decodeInitialize(message.params)
}

const expiryOf = (ctx: ReviveContext, lastActiveAt: number) =>
  lastActiveAt + ctx.idleMs + ctx.records.refreshEveryMs

/** `persistedAt` of a session without a record: it lives on its replica only, and is never refreshed. */
const unrecorded = Number.POSITIVE_INFINITY

/**
 * Serves the `initialize` POST of a new session: a refused one leaves nothing behind;
 * an accepted one is recorded before the client learns its id, so any replica can
 * continue it.
 */
export const serveInitialize = (
  ctx: ReviveContext,
  session: McpSessions.Session,
  request: HttpServerRequest.HttpServerRequest,
  body: unknown
) =>
  Effect.gen(function* () {
    const response = yield* McpSessions.serve(ctx.registry, session, request, body).pipe(
      Effect.ensuring(
        Effect.suspend(() =>
          session.transport.sessionId === undefined ? McpSessions.close(session) : Effect.void
        )
      )
    )
    yield* recordOpened(ctx, session, body)
    return response
  })

/** Records a session its `initialize` opened (nothing when it was refused). */
const recordOpened = (ctx: ReviveContext, session: McpSessions.Session, body: unknown) =>
  Effect.gen(function* () {
    if (session.transport.sessionId === undefined) return
    const initialize = initializeParamsOf(body)
    session.persistedAt = unrecorded
    if (Option.isNone(initialize)) return
    const now = yield* Clock.currentTimeMillis
    const kept = yield* ctx.records.put(
      {
        id: session.id,
        caller: session.caller,
        target: session.target,
        initialize: initialize.value,
        createdAt: session.createdAt
      },
      expiryOf(ctx, now)
    )
    if (kept) session.persistedAt = now
  })

/**
 * Moves a session's record expiry on as it is used (at most every `refreshEveryMs`).
 * A record gone meanwhile means the session ended on another replica: so does this copy.
 */
export const touch = (ctx: ReviveContext, session: McpSessions.Session) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    if (now - session.persistedAt < ctx.records.refreshEveryMs) return
    session.persistedAt = now
    const refresh = Effect.flatMap(ctx.records.refresh(session.id, expiryOf(ctx, now)), (alive) => {
      if (alive) return Effect.void
      session.keep = true
      return McpSessions.close(session)
    })
    // In memory it costs nothing: done in place. A shared store's round trip stays off the request.
    if (ctx.records.refreshEveryMs === 0) yield* refresh
    else ctx.runFork(refresh)
  })

/** For the SDK's `onclose`: the registry lets the session go; a session that ended forgets its record and events. */
export const ended = (ctx: ReviveContext, session: McpSessions.Session): void => {
  McpSessions.forget(ctx.registry, session)
  if (session.keep || session.id === "") return
  ctx.runFork(Effect.andThen(ctx.records.remove(session.id), ctx.eventStore.forget(session.id)))
}

/**
 * Keeps the records of sessions in use (a request or an event stream open for a
 * long time) from expiring; a record gone meanwhile ended the session elsewhere.
 */
export const refreshBusy = (ctx: ReviveContext) =>
  Effect.gen(function* () {
    const busy = Array.from(ctx.registry.byId.values()).filter(
      (session) => session.openRequests > 0 && session.persistedAt !== unrecorded
    )
    for (const session of busy) {
      session.persistedAt = 0
      yield* touch(ctx, session)
    }
  })

/**
 * For the SDK's `onsessionclosed` (DELETE): the record and events go before the
 * client is answered, so the id is unknown everywhere once it has its 200.
 */
export const deleted = (ctx: ReviveContext, session: McpSessions.Session): Promise<void> => {
  McpSessions.forget(ctx.registry, session)
  session.keep = true
  return Effect.runPromise(
    Effect.andThen(ctx.records.remove(session.id), Effect.ignore(ctx.eventStore.forget(session.id)))
  )
}

/** Drops the live objects of the aggregated sessions idle for `dormantMs`; their records stay. */
export const sweepDormant = (ctx: ReviveContext, dormantMs: number) =>
  Effect.gen(function* () {
    // A session without a record cannot be rebuilt: it stays whole.
    const idle = (yield* McpSessions.idleFor(ctx.registry, dormantMs)).filter(
      (session) => session.target === undefined && session.persistedAt !== unrecorded
    )
    for (const session of idle) {
      session.keep = true
      yield* ctx.records.refresh(session.id, expiryOf(ctx, session.lastActiveAt))
    }
    yield* McpSessions.closeAll(idle)
  })

const replayHeaders = { accept: "application/json, text/event-stream", "content-type": "application/json" }

/** Sends the recorded `initialize` and `notifications/initialized` to a rebuilt session; whether it took them. */
const replayInitialize = (session: McpSessions.Session, initialize: InitializeParams) =>
  Effect.promise(async () => {
    session.replaying = true
    try {
      const url = "http://127.0.0.1/mcp"
      const answer = await session.transport.handleRequest(
        new Request(url, { method: "POST", headers: replayHeaders }),
        { parsedBody: { jsonrpc: "2.0", id: "mcpgate-revive", method: "initialize", params: initialize } }
      )
      // Read to its end: the stream ends once the session answered its initialize.
      const text = await answer.text()
      if (!answer.ok || !text.includes('"result"')) return false
      const initialized = await session.transport.handleRequest(
        new Request(url, {
          method: "POST",
          headers: {
            ...replayHeaders,
            "mcp-session-id": session.id,
            "mcp-protocol-version": initialize.protocolVersion
          }
        }),
        { parsedBody: { jsonrpc: "2.0", method: "notifications/initialized" } }
      )
      return initialized.status === 202
    } finally {
      session.replaying = false
    }
  })

/** Rebuilds the session `id` from its record, when `caller` opened it at `target`. */
const rebuild = (
  ctx: ReviveContext,
  build: Build,
  id: string,
  caller: string | undefined,
  target: string | undefined
) =>
  Effect.gen(function* () {
    const record = yield* ctx.records.get(id)
    if (Option.isNone(record)) return undefined
    if (record.value.caller !== caller || record.value.target !== target) return undefined
    const session = yield* build(target, caller, { id, createdAt: record.value.createdAt })
    if (session === undefined) return undefined
    if (!(yield* replayInitialize(session, record.value.initialize)) || session.transport.sessionId !== id) {
      yield* Effect.logWarning(`mcp session ${id} could not be rebuilt from its record`)
      yield* McpSessions.close(session)
      return undefined
    }
    yield* Effect.logDebug(`mcp session ${id} rebuilt from its record`)
    session.persistedAt = 0
    yield* touch(ctx, session)
    return session
  })

/**
 * The live session `id` for a request of `caller` at `target`: the one held here,
 * else one rebuilt from its record; undefined when there is none for them.
 */
export const live = (
  ctx: ReviveContext,
  build: Build,
  id: string,
  caller: string | undefined,
  target: string | undefined
): Effect.Effect<McpSessions.Session | undefined> =>
  Effect.gen(function* () {
    const held = ctx.registry.byId.get(id)
    if (held !== undefined) return held
    if (ctx.registry.closing) return undefined
    const pending = ctx.reviving.get(id)
    if (pending !== undefined) return yield* Deferred.await(pending)
    const done = Deferred.makeUnsafe<McpSessions.Session | undefined>()
    ctx.reviving.set(id, done)
    return yield* rebuild(ctx, build, id, caller, target).pipe(
      Effect.onExit((exit) =>
        Effect.andThen(
          Effect.sync(() => ctx.reviving.delete(id)),
          Deferred.done(done, Exit.isSuccess(exit) ? exit : Exit.succeed(undefined))
        )
      )
    )
  })

/**
 * The transport of a session of `/mcp` or `/mcp/<server>` (McpSessionTransport.ts), new or
 * rebuilt under its recorded id; `session` is read once the SDK calls back (the two refer to each other).
 */
export const sessionTransport = (
  ctx: ReviveContext,
  revived: Revived | undefined,
  session: () => McpSessions.Session
): SessionTransport => {
  const transport: SessionTransport = new SessionTransport({
    // Session ids must be unguessable (MCP 2025-11-25 "Session Management"), hence node:crypto.
    sessionIdGenerator: () => revived?.id ?? randomUUID(),
    eventStore: sdkEventStore(
      ctx.eventStore,
      () => transport.sessionId ?? "",
      () => session().replaying
    ),
    retryInterval: retryIntervalMs,
    onsessioninitialized: (id) => {
      session().id = id
      McpSessions.add(ctx.registry, session())
    },
    onsessionclosed: () => deleted(ctx, session())
  })
  return transport
}
