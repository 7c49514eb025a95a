/**
 * The pooled `fetch` to connected MCP servers behaves as Node's `fetch` does where
 * the SDK transports and AuthorizedFetch look: statuses and headers, an event
 * stream readable before it ends, redirects, network failures and aborts.
 */
import { once } from "node:events"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Agent } from "undici"
import { afterAll, beforeAll } from "vitest"
import * as PooledFetch from "../src/internal/PooledFetch.ts"

const seen: Array<{ readonly path: string; readonly via: string }> = []
/** Lets the open event stream send its second event. */
let releaseSecond: () => void = () => {}

const handle = async (req: IncomingMessage, res: ServerResponse) => {
  const chunks: Array<Buffer> = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const body = Buffer.concat(chunks).toString("utf8")
  seen.push({ path: req.url ?? "", via: String(req.headers["x-via"] ?? "") })
  switch (req.url) {
    case "/json":
      res.writeHead(200, {
        "content-type": "application/json",
        "mcp-session-id": "s-1",
        "set-cookie": ["a=1", "b=2"]
      })
      res.end(
        JSON.stringify({
          method: req.method,
          body,
          auth: req.headers.authorization ?? null,
          accept: req.headers.accept ?? null,
          agent: req.headers["user-agent"] ?? null
        })
      )
      return
    case "/accepted":
      res.writeHead(202).end()
      return
    case "/empty":
      res.writeHead(204).end()
      return
    case "/unauthorized":
      res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end("no")
      return
    case "/moved":
      res.writeHead(307, { location: "/json" }).end()
      return
    case "/events":
      res.writeHead(200, { "content-type": "text/event-stream" })
      res.write('data: {"n":1}\n\n')
      releaseSecond = () => res.end('data: {"n":2}\n\n')
      return
    case "/hang":
      return
    default:
      res.writeHead(404).end()
  }
}

let server: Server
let base: string
const agent = new Agent()
/** Stands in for the platform's fetch on the requests the pooled one hands on: marks them. */
const fallback: PooledFetch.Fetch = (input, init) =>
  globalThis.fetch(input, {
    ...init,
    headers: { ...Object.fromEntries(new Headers(init?.headers)), "x-via": "fallback" }
  })
const fetch = PooledFetch.make(() => agent, fallback)

beforeAll(async () => {
  server = createServer((req, res) => void handle(req, res))
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  server.close()
  await agent.close()
})

describe("PooledFetch", () => {
  it("sends the method, headers and string body, and answers with status, headers and body", async () => {
    const response = await fetch(`${base}/json`, {
      method: "POST",
      headers: new Headers({ authorization: "Bearer t", "content-type": "application/json" }),
      body: '{"jsonrpc":"2.0"}'
    })
    assert.strictEqual(response.status, 200)
    assert.isTrue(response.ok)
    assert.strictEqual(response.headers.get("mcp-session-id"), "s-1")
    assert.deepStrictEqual(response.headers.getSetCookie(), ["a=1", "b=2"])
    assert.deepStrictEqual(await response.json(), {
      method: "POST",
      body: '{"jsonrpc":"2.0"}',
      auth: "Bearer t",
      // As Node's fetch sends them when the caller did not.
      accept: "*/*",
      agent: "node"
    })
  })

  it("answers 202, 204 and 401 as fetch does", async () => {
    const accepted = await fetch(`${base}/accepted`, { method: "POST", body: "{}" })
    assert.strictEqual(accepted.status, 202)
    assert.strictEqual(await accepted.text(), "")
    const empty = await fetch(`${base}/empty`, { method: "DELETE" })
    assert.strictEqual(empty.status, 204)
    assert.isNull(empty.body)
    const unauthorized = await fetch(`${base}/unauthorized`)
    assert.strictEqual(unauthorized.status, 401)
    assert.strictEqual(unauthorized.headers.get("www-authenticate"), 'Bearer error="invalid_token"')
    assert.strictEqual(await unauthorized.text(), "no")
  })

  it("hands an event stream over while it is still open", async () => {
    const response = await fetch(`${base}/events`, { method: "POST", body: "{}" })
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
    const reader = response.body?.getReader()
    assert.isDefined(reader)
    const first = await reader?.read()
    assert.strictEqual(new TextDecoder().decode(first?.value), 'data: {"n":1}\n\n')
    releaseSecond()
    let rest = ""
    for (;;) {
      const next = await reader?.read()
      if (next === undefined || next.done) break
      rest += new TextDecoder().decode(next.value)
    }
    assert.strictEqual(rest, 'data: {"n":2}\n\n')
  })

  it("returns a redirect as it is when asked to, and lets the platform's fetch follow one otherwise", async () => {
    seen.length = 0
    const manual = await fetch(`${base}/moved`, { method: "POST", body: "{}", redirect: "manual" })
    assert.strictEqual(manual.status, 307)
    assert.strictEqual(manual.headers.get("location"), "/json")
    const followed = await fetch(`${base}/moved`, { method: "POST", body: "{}" })
    assert.strictEqual(followed.status, 200)
    assert.deepStrictEqual(seen, [
      { path: "/moved", via: "" },
      { path: "/moved", via: "" },
      { path: "/moved", via: "fallback" },
      { path: "/json", via: "fallback" }
    ])
  })

  it("rejects like fetch: a TypeError caused by the network error, or the abort reason", async () => {
    const closed = createServer()
    closed.listen(0, "127.0.0.1")
    await once(closed, "listening")
    const port = (closed.address() as AddressInfo).port
    closed.close()
    await once(closed, "close")
    const refused = await fetch(`http://127.0.0.1:${port}/mcp`, { method: "POST", body: "{}" }).catch(
      (error: unknown) => error
    )
    assert.instanceOf(refused, TypeError)
    assert.strictEqual((refused as TypeError).message, "fetch failed")
    assert.strictEqual(((refused as TypeError).cause as NodeJS.ErrnoException).code, "ECONNREFUSED")

    const controller = new AbortController()
    const pending = fetch(`${base}/hang`, { method: "POST", body: "{}", signal: controller.signal })
    const reason = new Error("the caller gave up")
    controller.abort(reason)
    assert.strictEqual(await pending.catch((error: unknown) => error), reason)
  })
})
