/**
 * A test HTTP server on a free 127.0.0.1 port, closed (connections included) when
 * the scope ends.
 */
import type * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as net from "node:net"
import { Effect, type Scope } from "effect"

/** Listens on a free loopback port and returns it. */
export const listen = (server: http.Server): Effect.Effect<number, never, Scope.Scope> =>
  Effect.gen(function* () {
    const port = yield* Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
    )
    return port
  })

/** A port that was free a moment ago (for a server whose origin must be known before it binds). */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})
