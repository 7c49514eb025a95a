/**
 * `GET /admin/api/mcp/events` (docs/http-api.md#event-stream): server-sent events
 * for the admin page, a snapshot first, then every change of the servers and
 * every finished web login, with a heartbeat comment so that proxies do not time
 * out an idle stream.
 *
 * The events are encoded with the group's `AdminEvent` schema; the response is
 * written here rather than by the builder, for the `retry:` field and the
 * heartbeat comments it does not write.
 */
import { Effect, PubSub, Schema, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { AdminEvent } from "../api/AdminSchemas.ts"
import type { AdminContextShape } from "./AdminContext.ts"
import { adminHeaders } from "./AdminResponses.ts"
import { changeEvent, serversPayload } from "./ServerViews.ts"

const encodeEvent = Schema.encodeEffect(AdminEvent)

/** One SSE event (WHATWG HTML §9.2): JSON never holds a raw newline, so one `data` line. */
const sseEvent = (event: AdminEvent) =>
  encodeEvent(event).pipe(
    Effect.map((encoded) => `event: ${encoded.event}\ndata: ${encoded.data}\n\n`),
    Effect.orDie
  )

const eventStream = (ctx: AdminContextShape) =>
  Stream.unwrap(
    Effect.gen(function* () {
      yield* ctx.onEventStream("opened")
      // Runs when the client goes away too: the server interrupts the response then.
      yield* Effect.addFinalizer(() => ctx.onEventStream("closed"))
      // Subscribe first, then read the snapshot: no change falls between them.
      const changes = yield* ctx.manager.subscribe
      const completions = Stream.fromSubscription(yield* PubSub.subscribe(ctx.logins))
      const snapshot = yield* serversPayload(ctx)
      return Stream.concat(
        Stream.make("retry: 3000\n\n", yield* sseEvent({ event: "snapshot", data: snapshot })),
        Stream.mergeAll(
          [
            Stream.mapEffect(changes, (change) => sseEvent(changeEvent(change))),
            Stream.mapEffect(completions, (completion) => sseEvent({ event: "oauth", data: completion })),
            // A comment line keeps proxies and the browser from timing out an idle stream.
            Stream.tick(ctx.heartbeat).pipe(
              Stream.drop(1),
              Stream.map(() => ": heartbeat\n\n")
            )
          ],
          { concurrency: "unbounded" }
        )
      )
    })
  )

/** `GET events`: the stream starts when the response is written. */
export const events = (ctx: AdminContextShape) =>
  Effect.succeed(
    HttpServerResponse.stream(Stream.encodeText(eventStream(ctx)), {
      contentType: "text/event-stream",
      headers: { ...adminHeaders, "x-accel-buffering": "no" }
    })
  )
