/**
 * Two `mcpgate serve` replicas on one Postgres store (docs/store.md#replicas),
 * talked to directly: what one replica keeps, the other finds. A stored
 * response created on one continues on the other.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { freePort } from "@mcpgate/testing/Loopback"
import * as Postgres from "@mcpgate/testing/Postgres"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Exit, Scope } from "effect"
import { binary, sandbox } from "./support/Cli.ts"

const encryptionKey = Buffer.alloc(32, 7).toString("base64")
const adminToken = "replica-store-admin-token-71c2"

const scope = Effect.runSync(Scope.make())
const children: Array<ChildProcess> = []
let replicas: ReadonlyArray<string> = []
let upstream: ScriptedUpstream.ScriptedUpstream
let database: Postgres.PostgresServer

const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) =>
  Effect.runPromise(Scope.provide(effect, scope))

const startReplica = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, [binary, ...args], { env, cwd: env.HOME })
    children.push(child)
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (/listening on/.test(output)) resolve(child)
    }
    child.stderr?.on("data", onData)
    child.stdout?.on("data", onData)
    child.once("exit", (code) => reject(new Error(`mcpgate serve exited early (${code}): ${output}`)))
  })

const post = (base: string, path: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })

const configOf = (servers: Record<string, unknown> = {}) =>
  JSON.stringify(
    {
      mcpServers: servers,
      builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
      server: { upstream: { baseUrl: upstream.baseUrl, responses: "translate" } },
      store: { type: "postgres", url: "${env:DATABASE_URL}" }
    },
    null,
    2
  )

/** One more replica on the database, with its own (initial) config file; its URL. */
const launch = async () => {
  const port = await Effect.runPromise(freePort)
  const { env, home } = sandbox()
  const config = join(home, "mcpgate.json")
  writeFileSync(config, configOf())
  await startReplica(["serve", "--config", config, "--port", String(port)], {
    ...env,
    DATABASE_URL: database.url,
    MCPGATE_ENCRYPTION_KEY: encryptionKey,
    MCPGATE_ADMIN_TOKEN: adminToken
  })
  return `http://127.0.0.1:${port}`
}

const admin = (base: string, path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${adminToken}`, ...init.headers } })

const serverNames = async (base: string) => {
  const body = (await (await admin(base, "/admin/api/mcp/servers")).json()) as {
    servers: ReadonlyArray<{ name: string }>
  }
  return body.servers.map((server) => server.name)
}

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 2_000) => {
  const started = Date.now()
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > timeoutMillis) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

beforeAll(async () => {
  database = await run(Postgres.start())
  upstream = await run(
    ScriptedUpstream.make((_body, index) => ({ content: index === 0 ? "Lima is sunny." : "Still sunny." }))
  )
  replicas = [await launch(), await launch()]
}, 180_000)

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

describe("replicas on one Postgres store", () => {
  it("a response stored on one replica continues on the other (previous_response_id)", async () => {
    const [first, second] = replicas as [string, string]
    const created = await post(first, "/v1/responses", { model: "m", input: "Weather in Lima?" })
    assert.strictEqual(created.status, 200, await created.clone().text())
    const { id } = (await created.json()) as { id: string }
    const shown = await fetch(`${second}/v1/responses/${id}`)
    assert.strictEqual(shown.status, 200, await shown.clone().text())
    assert.strictEqual(((await shown.json()) as { id: string }).id, id)
    const continued = await post(second, "/v1/responses", {
      model: "m",
      input: "And tomorrow?",
      previous_response_id: id
    })
    assert.strictEqual(continued.status, 200, await continued.clone().text())
    const history = JSON.stringify(upstream.chatBodies()[1]?.messages)
    assert.include(history, "Weather in Lima?")
    assert.include(history, "Lima is sunny.")
    // The conversation is sealed in the database, never in clear.
    const dump = await Effect.runPromise(
      database.tool("psql", [
        "-h",
        "127.0.0.1",
        "-p",
        String(database.port),
        "-U",
        "mcpgate",
        "-At",
        "-c",
        "SELECT kind || ' ' || sealed FROM mcpgate_records",
        "mcpgate"
      ])
    )
    assert.include(dump, "response ")
    assert.notInclude(dump, "Lima")
    // Deleted on one replica, gone on both.
    const deleted = await fetch(`${first}/v1/responses/${id}`, { method: "DELETE" })
    assert.strictEqual(deleted.status, 200)
    const after = await post(second, "/v1/responses", { model: "m", input: "x", previous_response_id: id })
    assert.strictEqual(after.status, 400)
  }, 60_000)

  it("the audit log is one for all replicas: a sign-in on one is listed on the other", async () => {
    const [first, second] = replicas as [string, string]
    const refused = await post(first, "/admin/api/session", { token: "wrong-admin-token-1" })
    assert.strictEqual(refused.status, 401)
    const signedIn = await post(first, "/admin/api/session", { token: adminToken })
    assert.strictEqual(signedIn.status, 200, await signedIn.clone().text())
    const listed = await fetch(`${second}/admin/api/audit`, {
      headers: { authorization: `Bearer ${adminToken}` }
    })
    assert.strictEqual(listed.status, 200, await listed.clone().text())
    const text = await listed.text()
    const { entries } = JSON.parse(text) as { entries: ReadonlyArray<{ kind: string; outcome?: string }> }
    assert.deepStrictEqual(
      entries.filter((entry) => entry.kind === "admin-sign-in").map((entry) => entry.outcome),
      ["ok", "refused"]
    )
    assert.notInclude(text, adminToken)
    assert.notInclude(text, "wrong-admin-token-1")
  }, 30_000)

  it("a config saved on one replica applies on the other within 2 s, is kept with its history, and wins at start", async () => {
    const [first, second] = replicas as [string, string]
    const secret = "literal-secret-in-config-4be1"
    const text = configOf({
      extra: { command: "true", enabled: false, env: { TOKEN: secret } }
    })
    const saved = await admin(first, "/admin/api/mcp/config", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text })
    })
    assert.strictEqual(saved.status, 200, await saved.clone().text())
    // Polled, at most 2 s: the other replica applies the new version by itself.
    await waitFor("the other replica to serve the new server list", async () =>
      (await serverNames(second)).includes("extra")
    )
    const history = await admin(second, "/admin/api/config/history")
    assert.strictEqual(history.status, 200, await history.clone().text())
    const { versions } = (await history.json()) as {
      versions: ReadonlyArray<{ version: number; actor: string; paths: ReadonlyArray<string>; at: number }>
    }
    assert.strictEqual(versions.length, 1)
    assert.strictEqual(versions[0]?.actor, "admin")
    assert.deepStrictEqual(versions[0]?.paths, ["mcpServers.extra"])
    // The editor on the other replica shows the stored text.
    const shown = (await (await admin(second, "/admin/api/mcp/config")).json()) as { text: string }
    assert.strictEqual(shown.text, text)
    // Sealed in the database.
    const dump = await Effect.runPromise(
      database.tool("psql", [
        "-h",
        "127.0.0.1",
        "-p",
        String(database.port),
        "-U",
        "mcpgate",
        "-At",
        "-c",
        "SELECT sealed FROM mcpgate_config_versions",
        "mcpgate"
      ])
    )
    assert.notInclude(dump, secret)
    assert.notInclude(dump, "extra")
    // A replica started later with an older file uses the newest stored version.
    const third = await launch()
    assert.include(await serverNames(third), "extra")
  }, 60_000)
})
