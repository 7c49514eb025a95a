/**
 * The installed binary talks to the upstream on both of its paths: the
 * pass-through (an undici pool) and the tool loop (the undici `HttpClient`).
 * `serve` loads undici on the first request rather than while it starts, and
 * the OTLP exporters only when an endpoint is set, so this is where a bundle
 * that lost those modules' exports would show.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Exit, Scope } from "effect"
import { binary, sandbox } from "./support/Cli.ts"

/** Starts `serve` with `config`; its URL once it listens, and its stderr so far. */
const startServe = async (config: Record<string, unknown>, extraEnv: Record<string, string> = {}) => {
  const { env, home } = sandbox()
  const path = join(home, "mcpgate.json")
  writeFileSync(path, JSON.stringify(config))
  const child = spawn(process.execPath, [binary, "serve", "--config", path, "--port", "0"], {
    env: { ...env, ...extraEnv },
    cwd: home
  })
  let stderr = ""
  child.stderr.setEncoding("utf8")
  const url = new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
      const match = /listening on (http:\/\/\S+)/.exec(stderr)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${stderr}`)))
  })
  return { child, url, stderr: () => stderr }
}

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
    const serve = await startServe({
      mcpServers: {},
      builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
      server: { upstream: { baseUrl: upstream.baseUrl } }
    })
    const child = serve.child
    try {
      const url = await serve.url
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
      assert.strictEqual(code, 0, serve.stderr())
    } finally {
      child.kill("SIGKILL")
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  it("exports spans and metrics over OTLP when an endpoint is set", { timeout: 60_000 }, async () => {
    const received: Array<string> = []
    const receiver = createServer((request, response) => {
      received.push(`${request.method} ${request.url}`)
      request.resume()
      request.once("end", () => response.end("{}"))
    })
    receiver.listen(0, "127.0.0.1")
    await once(receiver, "listening")
    const address = receiver.address()
    if (address === null || typeof address === "string") throw new Error("expected a TCP address")
    const serve = await startServe(
      { mcpServers: {}, builtins: { fetch: { enabled: false }, webSearch: { enabled: false } } },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${address.port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_METRIC_EXPORT_INTERVAL: "100"
      }
    )
    try {
      const url = await serve.url
      assert.strictEqual((await fetch(`${url}/health`)).status, 200)
      // Each exporter sends on its interval: wait for one of each (an event, not a deadline).
      while (!(received.includes("POST /v1/traces") && received.includes("POST /v1/metrics"))) {
        if (serve.child.exitCode !== null) throw new Error(`serve exited: ${serve.stderr()}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    } finally {
      serve.child.kill("SIGKILL")
      receiver.close()
    }
  })
})
