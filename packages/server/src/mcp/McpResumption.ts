/**
 * Resumable event streams on `/mcp` and `/mcp/<server>` (docs/gateway.md#resumable-streams):
 * the SDK transport's `EventStore` over the gateway's `McpEventStore`, one per
 * session. Every message sent on an event stream is kept with an id; a client
 * that lost a stream sends `Last-Event-ID` on a `GET` and is sent what followed
 * on that stream (MCP 2025-11-25 "Transports › Resumability and Redelivery").
 */
import type { McpEventStoreShape } from "@mcpgate/core/McpEventStore"
import type { EventStore } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Option, Predicate } from "effect"

/** How long a client waits before reconnecting a stream the gateway closed (the SSE `retry` field). */
export const retryIntervalMs = 1000

/** The SDK writes an empty message as each stream's first ("priming") event: nothing to replay. */
const isPriming = (message: unknown): boolean =>
  Predicate.isObject(message) && Object.keys(message).length === 0

const isMessage = (message: unknown): message is JSONRPCMessage =>
  Predicate.hasProperty(message, "jsonrpc") && message.jsonrpc === "2.0"

/** The event id of what is sent while a session is rebuilt: nobody reads it, nothing is kept. */
const unkeptEventId = "0"

/**
 * `store` as the SDK's event store for the session `sessionId()` names (known once
 * it is initialized). While `replaying()` (its `initialize` replayed to rebuild it,
 * McpRevive.ts) nothing is kept: the answers go to nobody.
 */
export const sdkEventStore = (
  store: McpEventStoreShape,
  sessionId: () => string,
  replaying: () => boolean = () => false
): EventStore => ({
  storeEvent: (stream, message) =>
    replaying()
      ? Promise.resolve(unkeptEventId)
      : Effect.runPromise(store.append(sessionId(), stream, message)),
  getStreamIdForEventId: (eventId) =>
    Effect.runPromise(Effect.map(store.streamOf(sessionId(), eventId), Option.getOrUndefined)),
  replayEventsAfter: async (lastEventId, { send }) => {
    const replay = await Effect.runPromise(store.after(sessionId(), lastEventId))
    if (Option.isNone(replay)) throw new Error(`event ${lastEventId} is no longer kept`)
    for (const event of replay.value.events) {
      if (!isPriming(event.message) && isMessage(event.message)) await send(event.id, event.message)
    }
    return replay.value.stream
  }
})
