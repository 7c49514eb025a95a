import { once } from "node:events"
import { request } from "node:http"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { bound, ListenError, StartupServer } from "../src/http/NodeListener.ts"

const get = (port: number) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk))
      response.once("end", () => resolve({ status: response.statusCode ?? 0, body }))
    })
    req.once("error", reject)
    req.end()
  })

const portOf = (server: StartupServer): number => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("expected a TCP address")
  return address.port
}

const until = async (check: () => boolean) => {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe("StartupServer", () => {
  it("holds a request that arrives before the handler and hands it over once installed", async () => {
    const server = new StartupServer()
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    try {
      const port = portOf(server)
      const answer = get(port)
      await until(() => server.held === 1)
      server.on("request", (_request, response) => response.end("served"))
      assert.deepStrictEqual(await answer, { status: 200, body: "served" })
      assert.strictEqual(server.held, 0)
    } finally {
      server.close()
    }
  })

  it("answers held requests with 503 when it closes without ever serving", async () => {
    const server = new StartupServer()
    server.listen(0, "127.0.0.1")
    await once(server, "listening")
    const port = portOf(server)
    const answer = get(port)
    await until(() => server.held === 1)
    const closed = once(server, "close")
    server.close()
    const { status, body } = await answer
    assert.strictEqual(status, 503)
    assert.include(body, "stopped before it could answer")
    await closed
  })

  it("bound before the gateway: effect's listen only runs its callback, held requests go to the handler", async () => {
    const server = new StartupServer()
    await server.bind(0, "127.0.0.1")
    try {
      const port = portOf(server)
      const answer = get(port)
      await until(() => server.held === 1)
      // What effect's NodeHttpServer does: a placeholder listener, `listen`, then the handler.
      server.on("request", () => {})
      let listened = false
      server.listen({ port: 0, host: "127.0.0.1" }, () => {
        listened = true
      })
      await until(() => listened)
      assert.strictEqual(portOf(server), port)
      assert.strictEqual(server.held, 1)
      server.on("request", (_request, response) => response.end("served"))
      assert.deepStrictEqual(await answer, { status: 200, body: "served" })
      assert.strictEqual(server.held, 0)
    } finally {
      server.close()
    }
  })

  it("names the address when the port is taken", async () => {
    const taken = new StartupServer()
    await taken.bind(0, "127.0.0.1")
    try {
      const port = portOf(taken)
      const error = await Effect.runPromise(Effect.flip(Effect.scoped(bound({ host: "127.0.0.1", port }))))
      assert.instanceOf(error, ListenError)
      assert.include(error.message, `cannot listen on 127.0.0.1:${port}`)
    } finally {
      taken.close()
    }
  })

  it("answers 503 to a request read after it closed on a connection accepted before", async () => {
    const server = new StartupServer()
    await server.bind(0, "127.0.0.1")
    const socket = Net.connect(portOf(server), "127.0.0.1")
    await once(socket, "connect")
    // The connection is accepted; its request arrives only once the server is closing (a stop during start-up).
    const closed = once(server, "close")
    server.close()
    let answer = ""
    socket.setEncoding("utf8").on("data", (chunk: string) => (answer += chunk))
    const ended = once(socket, "close")
    socket.write("GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n")
    await ended
    assert.match(answer, /^HTTP\/1\.1 503/)
    assert.include(answer, "stopped before it could answer")
    await closed
  })
})
