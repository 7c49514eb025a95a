/**
 * The `/mcp` sessions (docs/gateway.md#mcp-endpoint): each an SDK `Server` over
 * its own web-standard streamable-HTTP transport, kept by `Mcp-Session-Id` and
 * tied to the API key that opened it. Here the registry and what happens to one
 * session: a request served, requests cancelled when their stream is dropped,
 * room made for a new one, idle ones closed.
 *
 * The registry is a plain `Map` behind functions, not a `Ref`: the SDK's
 * callbacks (`onsessioninitialized`, `onsessionclosed`, `onclose`) change it
 * synchronously.
 */
import type { Implementation } from "@modelcontextprotocol/sdk/types.js"
import { type Cause, Clock, Effect, Predicate, PubSub, Queue, Stream } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { fromWebResponse, toWebRequest } from "./McpHttpBridge.ts"
import { type DirectPost, eventStreamHeaders, type SessionTransport } from "./McpSessionTransport.ts"

/** A session as the admin API (and tests) see it. */
export interface McpSessionInfo {
  readonly id: string
  /** The server of `/mcp/<server>`, or undefined for the aggregated `/mcp`. */
  readonly server?: string | undefined
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

/**
 * What serves a session: the aggregated endpoint's SDK `Server`, or the relay of
 * `/mcp/<server>` (McpProxy.ts).
 */
export interface SessionPeer {
  readonly close: () => Promise<void>
  readonly getClientVersion: () => Implementation | undefined
  /** The aggregated endpoint's: tells the client its tool list changed. */
  readonly sendToolListChanged?: (() => Promise<void>) | undefined
}

export interface Session {
  id: string
  /** `ApiCaller` of the request that opened it; only that caller may use it. */
  readonly caller: string | undefined
  /** The server of `/mcp/<server>`, or undefined for the aggregated `/mcp`; used only at its own path. */
  readonly target: string | undefined
  readonly server: SessionPeer
  readonly transport: SessionTransport
  readonly createdAt: number
  lastActiveAt: number
  openRequests: number
  openStreams: number
  /** Whether the client ever opened the `GET` stream (it will come back for what it missed). */
  listened: boolean
  /**
   * Set before the live objects close when the session itself goes on: it went idle
   * (its record stays), or this replica stops (another one continues it).
   */
  keep: boolean
  /** While its `initialize` is replayed to rebuild it: what it sends then is not kept for resumption. */
  replaying: boolean
  /** Epoch ms its record's expiry was last moved on. */
  persistedAt: number
}

/** A session as it starts, new or rebuilt under its recorded id (which `serve` sets); `now` in epoch ms. */
export const makeSession = (
  fields: Pick<Session, "caller" | "target" | "server" | "transport" | "createdAt">,
  now: number
): Session => ({
  id: "",
  ...fields,
  lastActiveAt: now,
  openRequests: 0,
  openStreams: 0,
  listened: false,
  keep: false,
  replaying: false,
  persistedAt: now
})

export interface Registry {
  readonly byId: Map<string, Session>
  /** Set on shutdown: no new session after it. */
  closing: boolean
  /** Published on every change, for `awaitSessions`. */
  readonly changes: PubSub.PubSub<void>
}

export const makeRegistry: Effect.Effect<Registry> = Effect.map(PubSub.sliding<void>(16), (changes) => ({
  byId: new Map(),
  closing: false,
  changes
}))

export const changed = (registry: Registry): void => {
  PubSub.publishUnsafe(registry.changes, undefined)
}

export const add = (registry: Registry, session: Session): void => {
  registry.byId.set(session.id, session)
  changed(registry)
}

/** Drops a session that ended, if it is still the one kept under its id. */
export const forget = (registry: Registry, session: Session): void => {
  if (registry.byId.get(session.id) === session) {
    registry.byId.delete(session.id)
    changed(registry)
  }
}

export const info = (session: Session): McpSessionInfo => {
  const clientInfo = session.server.getClientVersion()
  return {
    id: session.id,
    server: session.target,
    createdAt: session.createdAt,
    lastActiveAt: session.lastActiveAt,
    openRequests: session.openRequests,
    listening: session.openStreams > 0,
    ...(clientInfo === undefined ? {} : { clientInfo })
  }
}

export const list = (registry: Registry): Array<McpSessionInfo> => Array.from(registry.byId.values(), info)

/** Ends a session: its transport closes, and the SDK's `onclose` forgets it. */
export const close = (session: Session): Effect.Effect<void> =>
  Effect.promise(() => session.server.close().catch(() => undefined))

export const closeAll = (sessions: Iterable<Session>): Effect.Effect<void> =>
  Effect.forEach(Array.from(sessions), close, { concurrency: "unbounded", discard: true })

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

const encoder = new TextEncoder()

/**
 * How long a direct POST's answer is held back, waiting for its stream to end: a
 * call answered by then goes out as one write with its length (priming event,
 * answers), where a stream costs a write per event and one to end it. A call that
 * takes longer, or that sends anything before its answer (progress, a request to
 * the client), gets its stream then. Well below the time clients wait for headers.
 */
export const directHoldMs = 1000

/**
 * A POST the session's transport takes directly (McpSessionTransport.ts): its
 * notifications and responses alone are accepted with 202, as the SDK does; its
 * requests are answered on an event stream of their own that ends once all are.
 */
const serveDirect = (session: Session, request: HttpServerRequest.HttpServerRequest, post: DirectPost) =>
  Effect.gen(function* () {
    const transport = session.transport
    if (post.requests.length === 0) {
      transport.dispatch(post, request.headers)
      return HttpServerResponse.empty({ status: 202 })
    }
    // What is written before the answer is handed over is kept here, then either
    // sent whole or put first on the stream.
    let held = ""
    let queue: Queue.Queue<Uint8Array, Cause.Done> | undefined
    let wake: (() => void) | undefined
    const stream = yield* Effect.promise(() =>
      transport.openStream(post, {
        write: (text) => {
          if (queue === undefined) {
            held += text
            // After the current turn: an answer's `end` follows its write at once.
            if (wake !== undefined) queueMicrotask(() => wake?.())
          } else Queue.offerUnsafe(queue, encoder.encode(text))
        },
        end: () => {
          if (queue === undefined) wake?.()
          else Queue.endUnsafe(queue)
        }
      })
    )
    // As on the SDK's path: a client that leaves before the stream ended cancels its requests.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        transport.abandon(stream)
        if (!stream.ended) cancelRequests(session, post.requests)
      })
    )
    const primed = held.length
    transport.dispatch(post, request.headers)
    if (stream.open && held.length === primed) {
      yield* Effect.callback<void>((resume) => {
        // The fiber may have yielded since the check above: what came meanwhile wakes nobody.
        if (!stream.open || held.length !== primed) return resume(Effect.void)
        const timer = setTimeout(() => wake?.(), directHoldMs)
        wake = () => {
          wake = undefined
          clearTimeout(timer)
          resume(Effect.void)
        }
        return Effect.sync(() => {
          wake = undefined
          clearTimeout(timer)
        })
      }).pipe(Effect.interruptible)
    }
    const headers = { ...eventStreamHeaders, "mcp-session-id": session.id }
    if (!stream.open) {
      return HttpServerResponse.text(held, { status: 200, contentType: "text/event-stream", headers })
    }
    const events = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    // Checked again after that yield: a stream that ended meanwhile is sent whole.
    if (!stream.open) {
      return HttpServerResponse.text(held, { status: 200, contentType: "text/event-stream", headers })
    }
    if (held !== "") Queue.offerUnsafe(events, encoder.encode(held))
    queue = events
    transport.keepAlive(stream)
    return HttpServerResponse.stream(Stream.fromQueue(events), {
      status: 200,
      contentType: "text/event-stream",
      headers
    })
  })

/** Hands the request to the session's transport; the request's scope ends when the response is written. */
export const serve = (
  registry: Registry,
  session: Session,
  request: HttpServerRequest.HttpServerRequest,
  parsedBody: unknown
) =>
  Effect.gen(function* () {
    session.openRequests += 1
    session.lastActiveAt = yield* Clock.currentTimeMillis
    yield* Effect.addFinalizer(() =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        session.openRequests -= 1
        session.lastActiveAt = now
        changed(registry)
      })
    )
    const post =
      request.method === "POST" ? session.transport.directPost(request.headers, parsedBody) : undefined
    if (post !== undefined) return yield* serveDirect(session, request, post)
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
      session.listened = true
      changed(registry)
      yield* Effect.addFinalizer(() => Effect.sync(() => (session.openStreams -= 1)))
    }
    return response
  })

/**
 * Whether `caller` may open one more session: below its cap, or once its oldest
 * idle session (no request or event stream open) is closed to make room.
 */
export const makeRoomFor = (registry: Registry, caller: string, maxPerKey: number) =>
  Effect.gen(function* () {
    const own = Array.from(registry.byId.values()).filter((session) => session.caller === caller)
    if (own.length < maxPerKey) return true
    const idle = own
      .filter((session) => session.openRequests === 0)
      .sort((a, b) => a.lastActiveAt - b.lastActiveAt)
    const excess = own.length - maxPerKey + 1
    if (idle.length < excess) return false
    const evicted = idle.slice(0, excess)
    for (const session of evicted) {
      yield* Effect.logDebug(`mcp session ${session.id} closed to make room for a new one of the same key`)
    }
    yield* closeAll(evicted)
    return true
  })

/** The sessions without any open request (an open event stream counts) for `ms`. */
export const idleFor = (registry: Registry, ms: number) =>
  Effect.map(Clock.currentTimeMillis, (now) =>
    Array.from(registry.byId.values()).filter(
      (session) => session.openRequests === 0 && now - session.lastActiveAt >= ms
    )
  )

/**
 * Closes the sessions without any open request for `idleMs`. A session whose
 * record lives on (`recorded`: another replica used it since) keeps it.
 */
export const sweepIdle = (
  registry: Registry,
  idleMs: number,
  recorded: (id: string) => Effect.Effect<boolean>
) =>
  Effect.gen(function* () {
    const idle = yield* idleFor(registry, idleMs)
    for (const session of idle) {
      session.keep = yield* recorded(session.id)
      yield* Effect.logDebug(`mcp session ${session.id} closed after being idle`)
    }
    yield* closeAll(idle)
  })

/** Waits until `predicate` holds for the sessions (checked now and after every change). */
export const awaitSessions = (
  registry: Registry,
  predicate: (sessions: ReadonlyArray<McpSessionInfo>) => boolean
): Effect.Effect<ReadonlyArray<McpSessionInfo>> =>
  Effect.scoped(
    Effect.gen(function* () {
      const subscription = yield* PubSub.subscribe(registry.changes)
      for (;;) {
        const current = list(registry)
        if (predicate(current)) return current
        yield* PubSub.take(subscription)
      }
    })
  )
