/**
 * A scripted OpenAI-compatible model server on 127.0.0.1 for tests.
 *
 * It answers `POST /v1/chat/completions` with the next turn of its script,
 * streamed as real servers do (a role chunk, content and reasoning in small
 * deltas, tool-call arguments split over several deltas, `usage: null` on
 * chunks and a usage chunk when `stream_options.include_usage`, events split
 * across writes) or as one JSON completion; and `GET /v1/models`. It records
 * every request (raw body bytes and parsed JSON) and every byte it wrote back,
 * and tells when a client closed a request before its answer was complete.
 */

import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { Scope } from "effect"
import { Effect } from "effect"
import * as ScriptedResponses from "./ScriptedResponses.ts"

export interface ScriptedToolCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
}

export interface Usage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
  readonly completion_tokens_details?: { readonly reasoning_tokens: number }
}

export interface Turn {
  readonly content?: string
  readonly reasoning?: string
  readonly toolCalls?: ReadonlyArray<ScriptedToolCall>
  readonly usage?: Usage
  /** Default: `tool_calls` when the turn calls tools, else `stop`. */
  readonly finishReason?: string
  /** Answer with this status and JSON body instead. */
  readonly error?: { readonly status: number; readonly body: unknown }
  /** Wait this long before each write of a streamed answer. */
  readonly chunkDelayMs?: number
  /** Send the first chunk, then nothing until the client goes away. */
  readonly hang?: boolean
  /** Stream the content, then end the body without a `finish_reason` or `[DONE]`. */
  readonly truncate?: boolean
  /** vLLM's `continuous_usage_stats`: every chunk carries the usage so far; the last one is the total. */
  readonly continuousUsage?: boolean
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  /** The body bytes as received. */
  readonly body: Buffer
  /** The body parsed, or `undefined` when it is not JSON. */
  readonly json: unknown
  /** Every byte written in reply, in order. */
  readonly written: Array<Buffer>
  /** The client closed the request before the answer was complete. */
  closedEarly: boolean
}

export interface ScriptedUpstream {
  /** `http://127.0.0.1:<port>/v1` */
  readonly baseUrl: string
  readonly requests: ReadonlyArray<RecordedRequest>
  /** The JSON bodies of the chat requests, in order. */
  readonly chatBodies: () => ReadonlyArray<Record<string, unknown>>
  /** Everything written in reply to a request. */
  readonly responseBytes: (request: RecordedRequest) => Buffer
  /** Resolves with the first request a client closes early (already closed ones included). */
  readonly closedEarly: Effect.Effect<RecordedRequest>
}

export type Script = ReadonlyArray<Turn> | ((body: Record<string, unknown>, index: number) => Turn)

const created = 1_700_000_000

const pieces = (text: string, size: number): Array<string> => {
  const result: Array<string> = []
  for (let i = 0; i < text.length; i += size) result.push(text.slice(i, i + size))
  return result
}

const thirds = (text: string): Array<string> => {
  if (text.length < 3) return [text]
  const a = Math.floor(text.length / 3)
  const b = Math.floor((2 * text.length) / 3)
  return [text.slice(0, a), text.slice(a, b), text.slice(b)]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const finishOf = (turn: Turn) => turn.finishReason ?? (turn.toolCalls?.length ? "tool_calls" : "stop")

const completionOf = (turn: Turn, id: string, model: unknown) => ({
  id,
  object: "chat.completion",
  created,
  model,
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: turn.content ?? null,
        ...(turn.reasoning === undefined ? {} : { reasoning_content: turn.reasoning }),
        ...(turn.toolCalls?.length
          ? {
              tool_calls: turn.toolCalls.map((call) => ({
                id: call.id,
                type: "function",
                function: { name: call.name, arguments: call.arguments }
              }))
            }
          : {}),
        refusal: null
      },
      logprobs: null,
      finish_reason: finishOf(turn)
    }
  ],
  ...(turn.usage === undefined ? {} : { usage: turn.usage })
})

/** The SSE events of a streamed turn, each `data: …\n\n`. */
const eventsOf = (turn: Turn, id: string, model: unknown, includeUsage: boolean): Array<string> => {
  let sent = 0
  const usageSoFar = () => {
    const total = turn.usage
    if (total === undefined) return null
    sent++
    // Grows chunk by chunk; `usageOf` gives the last chunk the turn's total.
    return {
      prompt_tokens: total.prompt_tokens,
      completion_tokens: sent,
      total_tokens: total.prompt_tokens + sent
    }
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(turn.continuousUsage === true
        ? { usage: finish === null ? usageSoFar() : (turn.usage ?? null) }
        : includeUsage
          ? { usage: null }
          : {})
    })
  const events = [chunk({ role: "assistant", content: "" })]
  for (const piece of pieces(turn.reasoning ?? "", 6)) events.push(chunk({ reasoning_content: piece }))
  for (const piece of pieces(turn.content ?? "", 5)) events.push(chunk({ content: piece }))
  turn.toolCalls?.forEach((call, index) => {
    events.push(
      chunk({
        tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }]
      })
    )
    for (const piece of thirds(call.arguments)) {
      events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }))
    }
  })
  if (turn.truncate === true) return events.map((data) => `data: ${data}\n\n`)
  events.push(chunk({}, finishOf(turn)))
  if (includeUsage && turn.usage !== undefined && turn.continuousUsage !== true) {
    events.push(
      JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: turn.usage })
    )
  }
  events.push("[DONE]")
  return events.map((data) => `data: ${data}\n\n`)
}

/** The other OpenAI routes, answered with what was asked (for the byte-for-byte forwarding tests). */
const echoed = /^\/v1\/(embeddings|completions|audio\/|images\/|files|models\/)/

const echo = async (
  req: Http.IncomingMessage,
  res: Http.ServerResponse,
  recorded: RecordedRequest,
  write: (data: string) => Promise<void>,
  end: (data: string) => void
) => {
  const body = recorded.json as { stream?: unknown } | undefined
  if (recorded.path === "/v1/completions" && body?.stream === true) {
    res.writeHead(200, { "content-type": "text/event-stream", "x-scripted": "echo" })
    for (const text of ["Once", " upon", " a time"]) {
      await write(`data: ${JSON.stringify({ object: "text_completion", choices: [{ index: 0, text }] })}\n\n`)
    }
    return end("data: [DONE]\n\n")
  }
  res.writeHead(200, { "content-type": "application/json", "x-scripted": "echo" })
  end(
    JSON.stringify({
      object: "echo",
      method: req.method,
      url: req.url,
      contentType: req.headers["content-type"] ?? null,
      bodyLength: recorded.body.length,
      bodyBase64: recorded.body.toString("base64")
    })
  )
}

export interface ScriptedOptions {
  /** Also answer `POST /v1/responses` from the script (an upstream with its own Responses API). */
  readonly responses?: boolean
}

export const make = (
  script: Script,
  scripted: ScriptedOptions = {}
): Effect.Effect<ScriptedUpstream, never, Scope.Scope> =>
  Effect.gen(function* () {
    const requests: Array<RecordedRequest> = []
    const closeWaiters: Array<(request: RecordedRequest) => void> = []
    let chatIndex = 0

    const turnFor = (body: Record<string, unknown>): Turn => {
      const index = chatIndex++
      if (typeof script === "function") return script(body, index)
      return (
        script[index] ?? {
          error: {
            status: 500,
            body: { error: { message: `script has no turn ${index}`, type: "server_error" } }
          }
        }
      )
    }

    const handle = async (req: Http.IncomingMessage, res: Http.ServerResponse, recorded: RecordedRequest) => {
      const write = (data: string | Buffer) => {
        const bytes = Buffer.from(data)
        recorded.written.push(bytes)
        return new Promise<void>((resolve) => res.write(bytes, () => resolve()))
      }
      const end = (data: string) => {
        const bytes = Buffer.from(data)
        recorded.written.push(bytes)
        res.end(bytes)
      }
      if (req.method === "GET" && recorded.path === "/v1/models") {
        res.writeHead(200, { "content-type": "application/json", "x-scripted": "models" })
        return end(
          JSON.stringify({
            object: "list",
            data: [{ id: "scripted-model", object: "model", created, owned_by: "scripted" }]
          })
        )
      }
      if (echoed.test(recorded.path)) return echo(req, res, recorded, write, end)
      if (scripted.responses === true && req.method === "POST" && recorded.path === "/v1/responses") {
        const body = (recorded.json ?? {}) as Record<string, unknown>
        const turn = turnFor(body)
        const id = `resp_scripted_${chatIndex}`
        if (turn.error !== undefined) {
          res.writeHead(turn.error.status, { "content-type": "application/json" })
          return end(JSON.stringify(turn.error.body))
        }
        if (body.stream !== true) {
          res.writeHead(200, { "content-type": "application/json", "x-request-id": id })
          return end(JSON.stringify(ScriptedResponses.responseOf(turn, id, body.model)))
        }
        res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-request-id": id })
        for (const event of ScriptedResponses.eventsOf(turn, id, body.model)) await write(event)
        return res.end()
      }
      if (req.method !== "POST" || recorded.path !== "/v1/chat/completions") {
        res.writeHead(404, { "content-type": "application/json" })
        return end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }))
      }
      const body = (recorded.json ?? {}) as Record<string, unknown>
      const turn = turnFor(body)
      const id = `chatcmpl-scripted-${chatIndex}`
      if (turn.error !== undefined) {
        res.writeHead(turn.error.status, { "content-type": "application/json", "x-request-id": id })
        return end(JSON.stringify(turn.error.body))
      }
      if (body.stream !== true) {
        const text = JSON.stringify(completionOf(turn, id, body.model))
        res.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
          "x-request-id": id
        })
        // Split over several writes, as a real server's body may arrive.
        const [a = "", b = "", c = ""] = thirds(text)
        await write(a)
        await write(b)
        return end(c)
      }
      const options = body.stream_options as { include_usage?: unknown } | undefined
      const events = eventsOf(turn, id, body.model, options?.include_usage === true)
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-request-id": id })
      for (const [index, event] of events.entries()) {
        if (res.destroyed) return
        if (turn.chunkDelayMs !== undefined) await sleep(turn.chunkDelayMs)
        if (turn.hang && index === 1) return
        // An event split mid-JSON across two writes, as TCP may deliver it.
        const cut = Math.max(1, Math.floor(event.length / 2))
        await write(event.slice(0, cut))
        await write(event.slice(cut))
      }
      res.end()
    }

    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const body = Buffer.concat(chunks)
        let json: unknown
        try {
          json = JSON.parse(body.toString("utf8"))
        } catch {
          json = undefined
        }
        const recorded: RecordedRequest = {
          method: req.method ?? "",
          path: (req.url ?? "").split("?")[0] ?? "",
          headers: req.headers,
          body,
          json,
          written: [],
          closedEarly: false
        }
        requests.push(recorded)
        res.on("close", () => {
          if (!res.writableFinished) {
            recorded.closedEarly = true
            for (const waiter of closeWaiters.splice(0)) waiter(recorded)
          }
        })
        handle(req, res, recorded).catch(() => res.destroy())
      })
    })

    const port = yield* Effect.acquireRelease(
      Effect.callback<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )

    return {
      baseUrl: `http://127.0.0.1:${port}/v1`,
      requests,
      chatBodies: () =>
        requests
          .filter((request) => request.path === "/v1/chat/completions")
          .map((request) => request.json as Record<string, unknown>),
      responseBytes: (request) => Buffer.concat(request.written),
      closedEarly: Effect.promise(
        () =>
          new Promise<RecordedRequest>((resolve) => {
            const closed = requests.find((request) => request.closedEarly)
            if (closed !== undefined) resolve(closed)
            else closeWaiters.push(resolve)
          })
      )
    }
  })

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
export const closedPort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})
