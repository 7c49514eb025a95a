/**
 * The installed binary talks to the upstream on both of its paths: the
 * pass-through (an undici pool) and the tool loop (the undici `HttpClient`).
 * `serve` loads undici on the first request rather than while it starts, so
 * this is where a bundle that lost undici's exports would show.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Exit, Scope } from "effect"
import { binary, sandbox } from "./support/Cli.ts"

const chat = (url: string, body: Record<string, unknown>) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })

describe("mcpgate serve and its upstream", () => {
  it("passes a chat through and runs the tool loop against the upstream", { timeout: 60_000 }, async () => {
    const scope = Effect.runSync(Scope.make())
    const upstream = await Effect.runPromise(
      Scope.provide(
        ScriptedUpstream.make((_body, index) => ({ content: `answer ${index}` })),
        scope
      )
    )
    const { env, home } = sandbox()
    const config = join(home, "mcpgate.json")
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: {},
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
        server: { upstream: { baseUrl: upstream.baseUrl } }
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

      const passed = await chat(url, { model: "m", messages: [{ role: "user", content: "hi" }] })
      assert.strictEqual(passed.status, 200, await passed.clone().text())
      const passedBody = (await passed.json()) as { choices: Array<{ message: { content: string } }> }
      assert.strictEqual(passedBody.choices[0]?.message.content, "answer 0")

      const looped = await chat(url, {
        model: "m",
        messages: [{ role: "user", content: "hi again" }],
        execute_mcp_tools: true
      })
      assert.strictEqual(looped.status, 200, await looped.clone().text())
      const loopedBody = (await looped.json()) as { choices: Array<{ message: { content: string } }> }
      assert.strictEqual(loopedBody.choices[0]?.message.content, "answer 1")
      assert.strictEqual(upstream.chatBodies().length, 2)

      const exited = once(child, "exit")
      child.kill("SIGTERM")
      const [code] = await exited
      assert.strictEqual(code, 0, stderr)
    } finally {
      child.kill("SIGKILL")
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})
