import { spawn } from "node:child_process"
import { once } from "node:events"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { everythingPath as everything } from "@mcpgate/testing/Configs"
import { binary, runCli, sandbox } from "./support/Cli.ts"

/** Live (not zombie) processes whose command line contains `marker`. */
const processesWith = (marker: string): ReadonlyArray<number> =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const status = readFileSync(`/proc/${pid}/stat`, "utf8")
        if (/\) Z /.test(status)) return false
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker)
      } catch {
        return false
      }
    })
    .map(Number)

describe("mcpgate serve", () => {
  it("answers /health, JSON 404s, and on SIGTERM exits and ends its stdio servers", async () => {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    // A unique marker in the stdio server's command line finds it in the process table.
    const marker = `mcpgate-serve-test-${process.pid}-${Date.now()}`
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: {
          a: { url: "http://127.0.0.1:9/mcp", enabled: false },
          everything: { command: process.execPath, args: [everything, "stdio", marker] }
        },
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } }
      })
    )
    const child = spawn(process.execPath, [binary, "serve", "--config", config, "--port", "0"], {
      env,
      cwd: home
    })
    try {
      let stderr = ""
      child.stderr.setEncoding("utf8")
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on("data", (chunk: string) => {
          stderr += chunk
          const match = /listening on (http:\/\/\S+)/.exec(stderr)
          if (match?.[1] !== undefined) resolve(match[1])
        })
        child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${stderr}`)))
      })
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)

      const health = await fetch(`${url}/health`)
      assert.strictEqual(health.status, 200)
      const body = (await health.json()) as { status: string; mcp: Record<string, number> }
      assert.strictEqual(body.status, "ok")
      assert.deepStrictEqual(Object.keys(body.mcp).sort(), [
        "serversConnected",
        "serversTotal",
        "toolsAvailable"
      ])

      const missing = await fetch(`${url}/nope`)
      assert.strictEqual(missing.status, 404)
      const error = (await missing.json()) as { error: { message: string; type: string } }
      assert.strictEqual(error.error.type, "not_found")

      child.kill("SIGTERM")
      const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null]
      assert.deepStrictEqual({ code, signal }, { code: 0, signal: null }, "a signal is a clean stop")
      assert.deepStrictEqual(processesWith(marker), [], "no stdio server may outlive the gateway")
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("refuses to start behind a reverse proxy (a non-loopback publicUrl) without API keys", async () => {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({ mcpServers: {}, server: { publicUrl: "https://gateway.example.com" } })
    )
    const result = await runCli(["serve", "--config", config, "--port", "0"], { env })
    assert.strictEqual(result.code, 2, result.stderr)
    assert.include(result.stderr, "server.publicUrl")
    assert.include(result.stderr, "gateway.example.com")
    assert.include(result.stderr, 'Set "server.apiKeys"')
    assert.notInclude(result.stderr, "listening on")
  })
})
