/**
 * `GET /admin/api/mcp/events` (docs/gateway.md#event-stream): server-sent events
 * for the admin page, a snapshot first, then every change of the servers and
 * every finished web login, with a heartbeat comment so that proxies do not time
 * out an idle stream.
 */
import { Effect, PubSub, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import type { AdminContext } from "./AdminContext.ts"
import { adminHeaders } from "./AdminResponses.ts"
import { changeEvent, serversPayload } from "./ServerViews.ts"

/** One SSE event (WHATWG HTML §9.2): JSON never holds a raw newline, so one `data` line. */
const sseEvent = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

const eventStream = (ctx: AdminContext) =>
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
        Stream.make("retry: 3000\n\n", sseEvent("snapshot", snapshot)),
        Stream.mergeAll(
          [
            Stream.map(changes, (change) => {
              const { event, data } = changeEvent(change)
              return sseEvent(event, data)
            }),
            Stream.map(completions, (completion) => sseEvent("oauth", completion)),
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
export const events = (ctx: AdminContext) =>
  Effect.succeed(
    HttpServerResponse.stream(Stream.encodeText(eventStream(ctx)), {
      contentType: "text/event-stream",
      headers: { ...adminHeaders, "x-accel-buffering": "no" }
    })
  )
