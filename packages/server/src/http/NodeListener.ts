/**
 * The Node HTTP server the gateway listens with.
 *
 * `serve` binds it first (`bind`), before it loads and builds the gateway, so a
 * client that connects during start-up is accepted at once rather than refused.
 * effect's `NodeHttpServer` installs the request handler only when
 * `HttpRouter.serve` runs, after every service the routes need; until then
 * effect answers 503 (a placeholder listener it adds before `listen`, which
 * stays silent while any other listener is attached). `StartupServer` holds
 * those requests instead and hands them to the handler, the first request
 * listener added after effect's `listen`, so a connection accepted during
 * start-up gets its real answer (docs/gateway.md#starting); if the server closes
 * without ever serving, the held requests get a 503.
 */
import * as Http from "node:http"
import type * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Schema } from "effect"

type RequestListener = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

export class StartupServer extends Http.Server {
  #held: Array<readonly [Http.IncomingMessage, Http.ServerResponse]> = []
  /** Listening since `bind`: effect's `listen` then only runs its callback. */
  #bound = false
  /** effect called `listen`: the next request listener is the router's handler. */
  #serving = false
  /** `close` was called before the handler was installed. */
  #closed = false

  constructor(options: Http.ServerOptions = {}) {
    super(options)
    const hold: RequestListener = (request, response) => {
      // A request read after `close` (its connection was accepted before) will never be served.
      if (this.#closed) stopped(response)
      else this.#held.push([request, response])
    }
    const handOver = (event: string | symbol, listener: RequestListener) => {
      // Listeners added before effect's `listen` are placeholders, not the router's handler.
      if (event !== "request" || listener === hold || !this.#serving) return
      this.off("newListener", handOver)
      this.off("request", hold)
      // `newListener` runs before the handler is registered: hand over once it is.
      process.nextTick(() => {
        for (const [request, response] of this.#held.splice(0)) listener(request, response)
      })
    }
    this.on("request", hold)
    this.on("newListener", handOver)
  }

  /** Requests waiting for the handler (0 once it is installed). */
  get held(): number {
    return this.#held.length
  }

  /** Listens on `host:port` now; requests wait until the handler is installed. */
  bind(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.once("error", reject)
      super.listen(port, host, () => {
        this.off("error", reject)
        this.#bound = true
        resolve()
      })
    })
  }

  override listen(...args: Array<unknown>): this {
    this.#serving = true
    if (!this.#bound) {
      Reflect.apply(Http.Server.prototype.listen, this, args)
      return this
    }
    // Already listening (`bind`): what is left of `listen` is its callback.
    const callback = args.findLast((arg) => typeof arg === "function")
    if (typeof callback === "function") process.nextTick(() => Reflect.apply(callback, this, []))
    return this
  }

  override close(callback?: (error?: Error) => void): this {
    // Closing before any handler was installed (start-up failed or was stopped): answer what
    // waits, else `close` would wait for those connections until Node's request timeout.
    this.#closed = true
    for (const [, response] of this.#held.splice(0)) stopped(response)
    return super.close(callback)
  }
}

const stopped = (response: Http.ServerResponse) => {
  response.writeHead(503, { "content-type": "application/json", connection: "close" })
  response.end(
    JSON.stringify({ error: { message: "the gateway stopped before it could answer", type: "server_error" } })
  )
}

/** The address to listen on is taken or not allowed. */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  port: Schema.Number,
  message: Schema.String
}) {}

/**
 * A `StartupServer` listening on `host:port` until the scope closes (a start-up
 * that fails after binding answers what it held with a 503).
 */
export const bound = (options: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const server = new StartupServer()
        await server.bind(options.port, options.host)
        return server
      },
      catch: (cause) =>
        new ListenError({
          ...options,
          message: `cannot listen on ${options.host}:${options.port}: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    }),
    (server) =>
      Effect.sync(() => {
        // After a clean stop effect has closed it already.
        if (server.listening) server.close()
      })
  )

/**
 * `NodeHttpServer.layer` over a `StartupServer`: `server` when given (bound already by
 * `bound`), else a new one that listens as the layer is built. effect's server module
 * is loaded here, after `serve` has bound its port.
 */
export const layer = (options: NodeHttpServer.Options, server?: StartupServer | undefined) =>
  Layer.unwrap(
    Effect.map(
      Effect.promise(() => import("@effect/platform-node/NodeHttpServer")),
      (NodeHttpServer) => NodeHttpServer.layer(() => server ?? new StartupServer(), options)
    )
  )
