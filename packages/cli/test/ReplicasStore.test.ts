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

beforeAll(async () => {
  database = await run(Postgres.start())
  upstream = await run(
    ScriptedUpstream.make((_body, index) => ({ content: index === 0 ? "Lima is sunny." : "Still sunny." }))
  )
  const ports = [await Effect.runPromise(freePort), await Effect.runPromise(freePort)]
  replicas = ports.map((port) => `http://127.0.0.1:${port}`)
  for (const port of ports) {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: {},
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
        server: { upstream: { baseUrl: upstream.baseUrl, responses: "translate" } },
        store: { type: "postgres", url: "${env:DATABASE_URL}" }
      })
    )
    await startReplica(["serve", "--config", config, "--port", String(port)], {
      ...env,
      DATABASE_URL: database.url,
      MCPGATE_ENCRYPTION_KEY: encryptionKey,
      MCPGATE_ADMIN_TOKEN: adminToken
    })
  }
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
})
