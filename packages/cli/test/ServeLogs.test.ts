/**
 * `mcpgate serve --log-format json --log-level debug`: one JSON access line per
 * request with its request id (kept from `X-Request-Id` or made, and returned)
 * and principal; stdio servers' stderr at debug level under the server's name;
 * no key or token in any line.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { binary, sandbox } from "./support/Cli.ts"

const apiKey = "sk-serve-logs-key-0123456789"
const adminToken = "serve-logs-admin-token-0123456789"
const aliceKey = "sk-serve-logs-alice-0123456789"

interface LogLine {
  readonly message: ReadonlyArray<string> | string
  readonly level: string
  readonly annotations: Record<string, unknown>
}

describe("mcpgate serve logs", () => {
  it("writes JSON access lines with request ids and principals, and stdio stderr at debug", async () => {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: {
          crashy: { command: process.execPath, args: [stdioTestServerPath, "--crash-on-start"] }
        },
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
        server: { apiKeys: [apiKey], users: { alice: { apiKeys: [aliceKey] } }, adminToken }
      })
    )
    const child = spawn(
      process.execPath,
      [binary, "serve", "--config", config, "--port", "0", "--log-format", "json", "--log-level", "debug"],
      { env, cwd: home }
    )
    try {
      let stderr = ""
      child.stderr.setEncoding("utf8")
      child.stderr.on("data", (chunk: string) => {
        stderr += chunk
      })
      const url = await new Promise<string>((resolve, reject) => {
        const look = () => {
          const match = /listening on (http:\/\/\S+)/.exec(stderr)
          if (match?.[1] !== undefined) resolve(match[1])
        }
        child.stderr.on("data", look)
        child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${stderr}`)))
      })
      const lines = () =>
        stderr
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as LogLine)
      const messageOf = (line: LogLine) =>
        Array.isArray(line.message) ? line.message.join(" ") : line.message
      const waitFor = async (predicate: (line: LogLine) => boolean) => {
        for (let attempt = 0; attempt < 200; attempt++) {
          const found = lines().find(predicate)
          if (found !== undefined) return found
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        assert.fail(`no such log line in:\n${stderr}`)
      }

      const kept = await fetch(`${url}/health`, { headers: { "x-request-id": "client-id-42" } })
      assert.strictEqual(kept.headers.get("x-request-id"), "client-id-42")
      const made = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })
      const madeId = made.headers.get("x-request-id") ?? ""
      assert.match(madeId, /^[0-9a-f-]{36}$/)
      const alice = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${aliceKey}` } })
      const aliceId = alice.headers.get("x-request-id")
      const admin = await fetch(`${url}/admin/api/mcp/servers`, {
        headers: { authorization: `Bearer ${adminToken}` }
      })
      assert.strictEqual(admin.status, 200)
      const adminId = admin.headers.get("x-request-id")
      const refused = await fetch(`${url}/v1/models`, {
        headers: { authorization: "Bearer wrong", "x-request-id": "bad id with spaces" }
      })
      assert.strictEqual(refused.status, 401)
      const refusedId = refused.headers.get("x-request-id") ?? ""
      assert.notStrictEqual(refusedId, "bad id with spaces", "an id that could break a log line is replaced")

      const health = await waitFor((line) => line.annotations.request_id === "client-id-42")
      assert.strictEqual(health.level, "INFO")
      assert.strictEqual(health.annotations.principal, "none")
      assert.strictEqual(health.annotations["http.response.status_code"], 200)
      assert.strictEqual(messageOf(health), "GET /health 200")
      const keyed = await waitFor((line) => line.annotations.request_id === madeId)
      // The shared identity of server.apiKeys, and a user named by their key (docs/teams.md, Principals).
      assert.strictEqual(keyed.annotations.principal, "shared")
      const aliceLine = await waitFor((line) => line.annotations.request_id === aliceId)
      assert.strictEqual(aliceLine.annotations.principal, "user:alice")
      const adminLine = await waitFor((line) => line.annotations.request_id === adminId)
      assert.strictEqual(adminLine.annotations.principal, "admin")
      const refusedLine = await waitFor((line) => line.annotations.request_id === refusedId)
      assert.strictEqual(refusedLine.annotations.principal, "none")
      assert.strictEqual(refusedLine.annotations["http.response.status_code"], 401)

      const childStderr = await waitFor((line) =>
        messageOf(line).includes("the test server was told to crash")
      )
      assert.strictEqual(childStderr.level, "DEBUG")
      assert.strictEqual(childStderr.annotations.mcpServer, "crashy")

      assert.notInclude(stderr, apiKey)
      assert.notInclude(stderr, aliceKey)
      assert.notInclude(stderr, adminToken)

      child.kill("SIGTERM")
      await once(child, "exit")
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("writes each access line on one line in the default pretty format", async () => {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: {},
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
        server: { apiKeys: [apiKey], adminToken }
      })
    )
    const child = spawn(process.execPath, [binary, "serve", "--config", config, "--port", "0"], {
      env,
      cwd: home
    })
    try {
      let stderr = ""
      child.stderr.setEncoding("utf8")
      child.stderr.on("data", (chunk: string) => {
        stderr += chunk
      })
      const url = await new Promise<string>((resolve, reject) => {
        const look = () => {
          const match = /listening on (http:\/\/\S+)/.exec(stderr)
          if (match?.[1] !== undefined) resolve(match[1])
        }
        child.stderr.on("data", look)
        child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${stderr}`)))
      })
      const models = await fetch(`${url}/v1/models?secret=query`, {
        headers: { authorization: `Bearer ${apiKey}`, "x-request-id": "pretty-42" }
      })
      await models.text()
      let line: string | undefined
      for (let attempt = 0; attempt < 200 && line === undefined; attempt++) {
        line = stderr.split("\n").find((candidate) => candidate.includes("req=pretty-42"))
        if (line === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      assert.isDefined(line, stderr)
      assert.match(line ?? "", /INFO .*GET \/v1\/models \d{3} \d+(\.\d+)?ms req=pretty-42 principal=shared$/)
      // Nothing of the line spills onto the next ones (no multi-line annotations object).
      const after = stderr.slice(stderr.indexOf(line ?? "") + (line ?? "").length + 1)
      assert.notMatch(after, /^\s|^[}\]]|request_id|url\.path/m)
      assert.notInclude(stderr, "secret=query")
      assert.notInclude(stderr, apiKey)
      child.kill("SIGTERM")
      await once(child, "exit")
    } finally {
      child.kill("SIGKILL")
    }
  })
})
