import { spawn } from "node:child_process"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { binary, sandbox } from "./support/Cli.ts"

describe("mcpgate serve", () => {
  it("answers /health, JSON 404s, and exits on SIGTERM", async () => {
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({ mcpServers: { a: { url: "http://127.0.0.1:9/mcp", enabled: false } } })
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
      assert.isTrue(code !== null || signal !== null)
    } finally {
      child.kill("SIGKILL")
    }
  })
})
