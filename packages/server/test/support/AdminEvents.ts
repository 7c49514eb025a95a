/**
 * A client of `GET /admin/api/mcp/events` for the tests: reads the stream as
 * it arrives, splits it into events (`event`, parsed `data`) and comments
 * (heartbeats), and waits for the next one that matches.
 */
import * as http from "node:http"
import { Effect, type Scope } from "effect"

export interface SseEvent {
  readonly event: string
  readonly data: unknown
}

export interface EventStream {
  readonly status: number
  readonly headers: Headers
  /** Everything received so far, in order. */
  readonly events: Array<SseEvent>
  readonly comments: Array<string>
  /** The raw text received so far. */
  readonly raw: () => string
  /** Resolves with the first event (already received or later) that matches. */
  readonly next: (
    predicate: (event: SseEvent) => boolean,
    what: string,
    timeoutMs?: number
  ) => Effect.Effect<SseEvent>
  readonly waitForComment: (what: string, timeoutMs?: number) => Effect.Effect<string>
  readonly close: () => void
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>
}

export const open = (
  url: string,
  headers: Record<string, string>
): Effect.Effect<EventStream, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      // node:http rather than fetch: destroying the request closes the socket at once, as a
      // browser tab that goes away does (undici may keep an aborted connection for a while).
      const { request, response } = await new Promise<{
        request: http.ClientRequest
        response: http.IncomingMessage
      }>((resolve, reject) => {
        const request = http.request(url, { headers }, (response) => resolve({ request, response }))
        request.on("error", reject)
        request.end()
      })
      const events: Array<SseEvent> = []
      const comments: Array<string> = []
      let raw = ""
      let buffer = ""
      const listeners = new Set<() => void>()
      const notify = () => {
        for (const listener of listeners) listener()
      }
      const parseBlock = (block: string) => {
        let event = "message"
        const data: Array<string> = []
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) comments.push(line.slice(1).trim())
          else if (line.startsWith("event:")) event = line.slice(6).trim()
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart())
        }
        if (data.length > 0) events.push({ event, data: JSON.parse(data.join("\n")) })
      }
      const ended = (async () => {
        const decoder = new TextDecoder()
        try {
          for await (const chunk of response) {
            const text = decoder.decode(chunk as Buffer, { stream: true })
            raw += text
            buffer += text
            let index = buffer.indexOf("\n\n")
            while (index !== -1) {
              parseBlock(buffer.slice(0, index))
              buffer = buffer.slice(index + 2)
              index = buffer.indexOf("\n\n")
            }
            notify()
          }
        } catch {
          // Destroyed by `close`.
        }
        notify()
      })()
      const waitFor = <A>(find: () => A | undefined, what: string, timeoutMs: number) =>
        Effect.promise(
          () =>
            new Promise<A>((resolve, reject) => {
              const check = () => {
                const found = find()
                if (found !== undefined) {
                  listeners.delete(check)
                  clearTimeout(timer)
                  resolve(found)
                }
              }
              const timer = setTimeout(() => {
                listeners.delete(check)
                reject(new Error(`timed out waiting for ${what}; received: ${raw}`))
              }, timeoutMs)
              listeners.add(check)
              check()
            })
        )
      const stream: EventStream = {
        status: response.statusCode ?? 0,
        headers: new Headers(
          Object.entries(response.headers).flatMap(([name, value]) =>
            value === undefined
              ? []
              : [[name, Array.isArray(value) ? value.join(", ") : value] as [string, string]]
          )
        ),
        events,
        comments,
        raw: () => raw,
        next: (predicate, what, timeoutMs = 10_000) => waitFor(() => events.find(predicate), what, timeoutMs),
        waitForComment: (what, timeoutMs = 10_000) => waitFor(() => comments[0], what, timeoutMs),
        close: () => request.destroy(),
        ended
      }
      return stream
    }),
    (stream) => Effect.sync(() => stream.close())
  )
