/**
 * Child process: the floor for a pass-through hop on effect's HTTP server, to tell
 * what the server itself costs per request from what the gateway's own code adds.
 * One route, `POST /v1/chat/completions`, on `NodeHttpServer` + `HttpRouter` as
 * `mcpgate serve` composes them, with no middleware, logger, metrics or
 * validation: it reads the body, `JSON.parse`s it (as support/PlainProxy.ts does),
 * sends it on a keep-alive undici `Pool` (as the gateway does) and answers the
 * upstream's bytes: read whole for a short completion (the cheapest answer), as
 * the platform's raw Node stream body for `"stream": true`. argv[2] is the upstream base URL
 * (`http://127.0.0.1:<port>/v1`); ready line `{"url": "http://127.0.0.1:<port>"}`.
 */
import { createServer } from "node:http"
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { type Dispatcher, Pool } from "../../packages/server/node_modules/undici/index.js"
import { announceReady } from "./Child.ts"
import { NodeHttpServer } from "./Platform.ts"

const upstream = new URL(process.argv[2] ?? "http://127.0.0.1:1/v1")
const pool = new Pool(upstream.origin)
const decoder = new TextDecoder()

const route = HttpRouter.add("POST", "/v1/chat/completions", (request) =>
  Effect.gen(function* () {
    const body = new Uint8Array(yield* request.arrayBuffer)
    const streamed = (JSON.parse(decoder.decode(body)) as { readonly stream?: unknown }).stream === true
    const answer = yield* Effect.callback<Dispatcher.ResponseData, Error>((resume) => {
      pool.request(
        {
          method: "POST",
          path: `${upstream.pathname}/chat/completions`,
          headers: { "content-type": "application/json" },
          body
        },
        (error, data) => resume(error === null ? Effect.succeed(data) : Effect.fail(error))
      )
    })
    const options = {
      status: answer.statusCode,
      contentType: String(answer.headers["content-type"] ?? "application/json")
    }
    if (streamed) return HttpServerResponse.raw(answer.body, options)
    const bytes = yield* Effect.promise(() => answer.body.arrayBuffer())
    return HttpServerResponse.uint8Array(new Uint8Array(bytes), options)
  }).pipe(Effect.orDie)
)

const app = HttpRouter.serve(route, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

Effect.gen(function* () {
  const context = yield* Layer.build(app)
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
  announceReady({ url: `http://127.0.0.1:${address.port}` })
}).pipe(Effect.andThen(Effect.never), Effect.scoped, Effect.runPromise)
