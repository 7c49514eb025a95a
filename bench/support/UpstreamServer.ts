/**
 * Child process: a lean OpenAI-compatible model server on 127.0.0.1 for the chat
 * benchmark (ready line `{"baseUrl": "http://127.0.0.1:<port>/v1"}`).
 *
 * `POST /v1/chat/completions` answers at once: a short JSON completion, or with
 * `"stream": true` `max_tokens` content chunks (default 16) as SSE events of the
 * size real servers send, one write per event, then `[DONE]`. It yields to the
 * event loop every 100 events so the stream leaves in many TCP segments, as a
 * model's would, rather than in one burst.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { announceReady } from "./Child.ts"

const created = 1_700_000_000

interface ChatBody {
  readonly model?: unknown
  readonly stream?: unknown
  readonly max_tokens?: unknown
}

const chunk = (id: string, model: unknown, delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({
    id,
    object: "chat.completion.chunk",
    created,
    model,
    system_fingerprint: "fp_bench",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
  })}\n\n`

const completion = (id: string, model: unknown) =>
  JSON.stringify({
    id,
    object: "chat.completion",
    created,
    model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "Hello! How can I help you today?", refusal: null },
        logprobs: null,
        finish_reason: "stop"
      }
    ],
    usage: { prompt_tokens: 9, completion_tokens: 9, total_tokens: 18 }
  })

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

const stream = async (res: Http.ServerResponse, id: string, model: unknown, chunks: number) => {
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "x-request-id": id })
  res.write(chunk(id, model, { role: "assistant", content: "" }))
  for (let i = 0; i < chunks; i++) {
    if (res.destroyed) return
    res.write(chunk(id, model, { content: ` tok${i}` }))
    if (i % 100 === 99) await yieldToLoop()
  }
  res.write(chunk(id, model, {}, "stop"))
  res.end("data: [DONE]\n\n")
}

/** TCP connections and chat requests so far (`GET /stats`): a proxy that does not reuse connections shows here. */
let connections = 0
let chats = 0

const server = Http.createServer((req, res) => {
  const parts: Array<Buffer> = []
  req.on("data", (part: Buffer) => parts.push(part))
  req.on("end", () => {
    if (req.method === "GET" && req.url === "/stats") {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ connections, chats }))
      return
    }
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }))
      return
    }
    const body = JSON.parse(Buffer.concat(parts).toString("utf8")) as ChatBody
    chats += 1
    // The same id every time, so that two answers can be compared byte for byte.
    const id = "chatcmpl-bench"
    if (body.stream === true) {
      const chunks = typeof body.max_tokens === "number" ? body.max_tokens : 16
      stream(res, id, body.model, chunks).catch(() => res.destroy())
      return
    }
    const text = completion(id, body.model)
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      "x-request-id": id
    })
    res.end(text)
  })
})
server.on("connection", () => {
  connections += 1
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  announceReady({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` })
})
