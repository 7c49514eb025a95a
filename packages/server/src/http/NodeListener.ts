/**
 * The Node HTTP server the gateway listens with.
 *
 * effect's `NodeHttpServer` listens when its layer is built, but installs the
 * request handler only when `HttpRouter.serve` runs, after every service the
 * routes need. Until then effect answers 503 (a placeholder listener it adds
 * before listening, which stays silent while any other listener is attached).
 * `StartupServer` holds those requests instead and hands them to the handler,
 * the first request listener added once the server listens, so a connection
 * accepted during start-up gets its real answer; if the server closes without
 * ever serving, the held requests get a 503.
 */
import * as Http from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"

type RequestListener = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

export class StartupServer extends Http.Server {
  #held: Array<readonly [Http.IncomingMessage, Http.ServerResponse]> = []

  constructor(options: Http.ServerOptions = {}) {
    super(options)
    const hold: RequestListener = (request, response) => {
      this.#held.push([request, response])
    }
    const handOver = (event: string | symbol, listener: RequestListener) => {
      // Listeners added before `listen` are placeholders, not the router's handler.
      if (event !== "request" || listener === hold || !this.listening) return
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

  override close(callback?: (error?: Error) => void): this {
    // Closing before any handler was installed (start-up failed): answer what waits,
    // else `close` would wait for those connections until Node's request timeout.
    for (const [, response] of this.#held.splice(0)) {
      response.writeHead(503, { "content-type": "application/json", connection: "close" })
      response.end(
        JSON.stringify({
          error: { message: "the gateway stopped before it could answer", type: "server_error" }
        })
      )
    }
    return super.close(callback)
  }
}

/** `NodeHttpServer.layer` over a `StartupServer`. */
export const layer = (options: NodeHttpServer.Options) =>
  NodeHttpServer.layer(() => new StartupServer(), options)
