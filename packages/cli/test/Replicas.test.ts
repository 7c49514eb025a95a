/**
 * Two `mcpgate serve` replicas on one Postgres store behind HAProxy (Debian's,
 * round robin, no stickiness), with oidc-provider issuing 5-second access
 * tokens and rotating refresh tokens (docs/store.md): a web login begun on one
 * replica completes on the other and applies on both; concurrent calls on an
 * expiring token, spread over both replicas, cause exactly one refresh; an
 * `/mcp` session continues on either replica, resumes its streams there, and
 * outlives the replica that opened it. A user's connection made on one replica
 * applies to their pooled connections on the other
 * (docs/teams.md#per-user-tool-calls).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import * as Haproxy from "@mcpgate/testing/Haproxy"
import { redirectFor } from "@mcpgate/testing/Harness"
import { freePort } from "@mcpgate/testing/Loopback"
import * as Postgres from "@mcpgate/testing/Postgres"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Exit, Scope } from "effect"
import { binary, sandbox } from "./support/Cli.ts"

const encryptionKey = Buffer.alloc(32, 5).toString("base64")
const adminToken = "replica-admin-token-3f9a1c"
const callbackPath = "/admin/api/mcp/oauth/callback"
const sharedKey = "replica-shared-key-0123456789"
const aliceKey = "replica-alice-key-0123456789"

const scope = Effect.runSync(Scope.make())
const children: Array<ChildProcess> = []
let as: AuthServer.AuthServer
let mcp: ProtectedMcpServer.ProtectedMcpServer
let replicas: ReadonlyArray<string> = []
let balancer = ""
let database: Postgres.PostgresServer

const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) =>
  Effect.runPromise(Scope.provide(effect, scope))

/** Starts a child and resolves once `ready` matches its stderr (or stdout). */
const startChild = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  ready: RegExp
) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(command, [...args], { env, cwd: env.HOME })
    children.push(child)
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (ready.test(output)) resolve(child)
    }
    child.stderr?.on("data", onData)
    child.stdout?.on("data", onData)
    child.once("exit", (code) => reject(new Error(`${command} exited early (${code}): ${output}`)))
  })

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 15_000) => {
  const started = Date.now()
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > timeoutMillis) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const admin = (base: string, path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, ...init.headers } })

const notesState = async (base: string) => {
  const body = (await (await admin(base, "/admin/api/mcp/servers")).json()) as {
    servers: ReadonlyArray<{ name: string; state: string }>
  }
  return body.servers.find((server) => server.name === "notes")?.state
}

/** `POST /v1/mcp/execute` (through HAProxy unless `base` says which replica): the status and the JSON answer. */
const execute = async (tool: string, key = sharedKey, base = balancer) => {
  const response = await fetch(`${base}/v1/mcp/execute`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ tool_name: tool })
  })
  const body = (await response.json()) as {
    is_error?: boolean
    content?: string
    error?: { message?: string }
  }
  return { status: response.status, body }
}

/** The public name of the `whoami` tool of `notes`. */
const whoamiTool = async () => {
  const tools = (await (
    await fetch(`${balancer}/v1/mcp/tools`, { headers: { authorization: `Bearer ${sharedKey}` } })
  ).json()) as {
    tools: ReadonlyArray<{ name: string }>
  }
  const name = tools.tools.find((tool) => tool.name.endsWith("whoami"))?.name
  assert.isDefined(name)
  return name ?? ""
}

beforeAll(async () => {
  database = await run(Postgres.start())
  let resource = ""
  as = await run(AuthServer.start({ resource: () => resource, accessTokenTtl: 5 }))
  mcp = await run(ProtectedMcpServer.start({ issuer: () => as.issuer }))
  resource = mcp.url

  const balancerPort = await Effect.runPromise(freePort)
  balancer = `http://127.0.0.1:${balancerPort}`
  const ports = [await Effect.runPromise(freePort), await Effect.runPromise(freePort)]
  replicas = ports.map((port) => `http://127.0.0.1:${port}`)
  for (const port of ports) {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: {
          notes: { url: mcp.url, auth: { type: "oauth2" } },
          mine: { url: mcp.url, auth: { type: "oauth2", identity: "user" } }
        },
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
        server: {
          publicUrl: balancer,
          apiKeys: [sharedKey],
          users: { alice: { apiKeys: [aliceKey] } }
        },
        store: { type: "postgres", url: "${env:DATABASE_URL}" }
      })
    )
    await startChild(
      process.execPath,
      [binary, "serve", "--config", config, "--port", String(port)],
      {
        ...env,
        DATABASE_URL: database.url,
        MCPGATE_ENCRYPTION_KEY: encryptionKey,
        MCPGATE_ADMIN_TOKEN: adminToken
      },
      /listening on/
    )
  }
  // Health checks take a killed replica out of the rotation (the last test kills one).
  balancer = (await run(Haproxy.start({ backends: ports, port: balancerPort, check: true }))).url
}, 180_000)

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

describe("replicas behind HAProxy on one Postgres store", () => {
  /** A web login begun on `from` whose browser comes back to `to`; done when both replicas are connected. */
  const loginAcross = async (from: string, to: string) => {
    const begun = await admin(from, "/admin/api/mcp/servers/notes/authenticate", { method: "POST" })
    assert.strictEqual(begun.status, 200, await begun.clone().text())
    const { authUrl } = (await begun.json()) as { authUrl: string }
    const callback = new URL(await Effect.runPromise(redirectFor(authUrl, `${balancer}${callbackPath}`)))
    const page = await fetch(`${to}${callback.pathname}${callback.search}`)
    assert.strictEqual(page.status, 200, await page.clone().text())
    // Applies everywhere: the replica that began the login connects too (its credential notice arrives).
    await waitFor(
      "notes connected on the first replica",
      async () => (await notesState(from)) === "connected"
    )
    await waitFor("notes connected on the second replica", async () => (await notesState(to)) === "connected")
  }

  it("a login begun on one replica completes on the other and applies on both", async () => {
    const [first, second] = replicas as [string, string]
    await waitFor("notes to need a login on both", async () => (await notesState(first)) === "needs_auth")
    await waitFor("notes to need a login on both", async () => (await notesState(second)) === "needs_auth")
    // The browser comes back to the other replica.
    await loginAcross(first, second)
  }, 60_000)

  it("concurrent calls through HAProxy on an expiring token cause exactly one refresh", async () => {
    const whoami = await whoamiTool()
    const call = () => execute(whoami)
    const warm = await call()
    assert.strictEqual(warm.status, 200, JSON.stringify(warm.body))
    // Past half the 5-second life of the token: every replica wants a new one now.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    const before = as.countGrants("refresh_token")
    const results = await Promise.all(Array.from({ length: 40 }, call))
    for (const result of results) assert.strictEqual(result.status, 200, JSON.stringify(result.body))
    assert.isTrue(results.every((result) => result.body.is_error !== true))
    assert.strictEqual(as.countGrants("refresh_token") - before, 1, "one refresh for the whole burst")
    const failed = as.tokenRequests.filter(
      (request) => request.grantType === "refresh_token" && request.status !== 200
    )
    assert.deepStrictEqual(failed, [], "no refresh was refused (a rotated refresh token used twice)")
  }, 60_000)

  it("a user's connect begun on one replica completes on the other; connect and disconnect reach their pooled connections there", async () => {
    const [first, second] = replicas as [string, string]
    // Alice's connections on the second replica are pooled, waiting for her login.
    const before = await execute("mine__whoami", aliceKey, second)
    assert.strictEqual(before.status, 409, JSON.stringify(before.body))
    const begun = await fetch(`${first}/v1/mcp/connections/mine`, {
      method: "POST",
      headers: { authorization: `Bearer ${aliceKey}` }
    })
    assert.strictEqual(begun.status, 200, await begun.clone().text())
    const { authUrl } = (await begun.json()) as { authUrl: string }
    as.account = "alice"
    const callback = new URL(await Effect.runPromise(redirectFor(authUrl, `${balancer}${callbackPath}`)))
    // The browser comes back to the other replica: the login and whose it is are in the store.
    const page = await fetch(`${second}${callback.pathname}${callback.search}`)
    assert.strictEqual(page.status, 200, await page.clone().text())
    // The store's notice reaches the second replica: its pooled connection starts over with her token.
    let after: Awaited<ReturnType<typeof execute>> | undefined
    await waitFor("Alice's call on the second replica to run as her", async () => {
      after = await execute("mine__whoami", aliceKey, second)
      return after.status === 200
    })
    assert.strictEqual(after?.body.content, "hello alice")
    // Her disconnect on the first replica closes her connection on the second: its token is not used again.
    const removed = await fetch(`${first}/v1/mcp/connections/mine`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${aliceKey}` }
    })
    assert.strictEqual(removed.status, 200, await removed.clone().text())
    await waitFor("Alice's call on the second replica to be told to connect", async () => {
      after = await execute("mine__whoami", aliceKey, second)
      return after.status === 409
    })
    assert.include(JSON.stringify(after?.body), `${balancer}/connections`)
  }, 60_000)

  it("with Postgres stopped, calls fail with a JSON error, and work again once it is back", async () => {
    const whoami = await whoamiTool()
    assert.strictEqual((await execute(whoami)).status, 200)
    await Effect.runPromise(database.stop)
    try {
      // The replicas notice the lost connection; from then on a call that needs the store says so.
      let outage: Awaited<ReturnType<typeof execute>> | undefined
      await waitFor("a call to report the outage", async () => {
        outage = await execute(whoami)
        return outage.status !== 200
      })
      assert.strictEqual(outage?.status, 503, JSON.stringify(outage?.body))
      assert.include(JSON.stringify(outage?.body), "unavailable")
      assert.notInclude(JSON.stringify(outage?.body), database.url)
      // Starting a web login needs the store too: a clear 503, on both replicas.
      for (const replica of replicas) {
        const begun = await admin(replica, "/admin/api/mcp/servers/notes/authenticate", { method: "POST" })
        const text = await begun.text()
        assert.strictEqual(begun.status, 503, text)
        assert.include(JSON.parse(text).error.message, "unavailable")
        assert.notInclude(text, database.url)
      }
    } finally {
      await Effect.runPromise(database.start)
    }
    // Recovers by itself, no replica restarted: calls on both replicas (round robin) work again.
    await waitFor(
      "calls to work again on every replica",
      async () => {
        const round = await Promise.all([execute(whoami), execute(whoami), execute(whoami), execute(whoami)])
        return round.every((result) => result.status === 200 && result.body.is_error === false)
      },
      60_000
    )
  }, 90_000)

  it("a logout on one replica applies on the other within 2 s", async () => {
    const [first, second] = replicas as [string, string]
    await waitFor("notes connected on both", async () => (await notesState(second)) === "connected")
    const logout = await admin(first, "/admin/api/mcp/servers/notes/logout", { method: "POST" })
    assert.strictEqual(logout.status, 200, await logout.clone().text())
    // Polled, at most 2 s: the other replica drops the connection and waits for a login.
    await waitFor(
      "notes to need a login on the other replica",
      async () => (await notesState(second)) === "needs_auth",
      2_000
    )
    // Logged in again for the tests after this one.
    await loginAcross(second, first)
  }, 60_000)

  it("an /mcp session resumes a stream on the other replica with Last-Event-ID", async () => {
    const [first, second] = replicas as [string, string]
    const whoami = await whoamiTool()
    const headers = {
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      "mcp-protocol-version": "2025-11-25",
      authorization: `Bearer ${sharedKey}`
    }
    const opened = await fetch(`${first}/mcp`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } }
      })
    })
    const session = opened.headers.get("mcp-session-id") ?? ""
    assert.include(await opened.text(), '"result"')
    const sessionHeaders = { ...headers, "mcp-session-id": session }
    const initialized = await fetch(`${second}/mcp`, {
      method: "POST",
      headers: sessionHeaders,
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })
    })
    assert.strictEqual(initialized.status, 202, await initialized.text())
    // A call answered on the first replica; its stream's first event id is where a client that lost it resumes.
    const called = await fetch(`${first}/mcp`, {
      method: "POST",
      headers: sessionHeaders,
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: whoami } })
    })
    const stream = await called.text()
    assert.include(stream, '"result"')
    const primingId = /^id: (.+)$/m.exec(stream)?.[1] ?? ""
    assert.notStrictEqual(primingId, "")
    const resumed = await fetch(`${second}/mcp`, {
      method: "GET",
      headers: { ...sessionHeaders, accept: "text/event-stream", "last-event-id": primingId }
    })
    assert.strictEqual(resumed.status, 200)
    const reader = resumed.body?.getReader()
    let replay = ""
    while (reader !== undefined && !replay.includes('"id":2')) {
      const chunk = await reader.read()
      if (chunk.done) break
      replay += new TextDecoder().decode(chunk.value)
    }
    await reader?.cancel()
    assert.include(replay, '"result"', "the answer of the call, replayed by the other replica")
    const ended = await fetch(`${second}/mcp`, { method: "DELETE", headers: sessionHeaders })
    assert.strictEqual(ended.status, 200)
    // The other replica's copy is closed by the store's notice, which follows the 200 within moments.
    await waitFor("the session to be gone on the first replica too", async () => {
      const gone = await fetch(`${first}/mcp`, {
        method: "POST",
        headers: sessionHeaders,
        body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" })
      })
      await gone.body?.cancel()
      return gone.status === 404
    })
  }, 60_000)

  // Last: it kills a replica.
  it("an SDK client's /mcp session continues on both replicas, and on the survivor when one dies", async () => {
    const whoami = await whoamiTool()
    const client = new Client({ name: "replica-client", version: "1.0.0" })
    const transport = new StreamableHTTPClientTransport(new URL(`${balancer}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${sharedKey}` } }
    })
    await client.connect(transport)
    const session = transport.sessionId
    const callWhoami = async () => {
      const result = (await client.callTool({ name: whoami, arguments: {} })) as CallToolResult
      assert.notStrictEqual(result.isError, true, JSON.stringify(result))
    }
    try {
      // Round robin: these go to both replicas in turn.
      for (let round = 0; round < 4; round++) {
        const tools = await client.listTools()
        assert.include(
          tools.tools.map((tool) => tool.name),
          whoami
        )
        await callWhoami()
      }
      children[0]?.kill("SIGKILL")
      // HAProxy's health check takes the dead replica out within about a second.
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      for (let round = 0; round < 4; round++) await callWhoami()
      assert.strictEqual(transport.sessionId, session, "the same session throughout")
    } finally {
      await client.close()
    }
  }, 60_000)
})
