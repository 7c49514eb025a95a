/**
 * The Codex CLI (`@openai/codex`, its own native binary from npm) with the
 * gateway as its model provider (`wire_api = "responses"`) and a chat-only
 * scripted upstream behind it (translated) or one with its own Responses API
 * (passed through): `codex exec` runs the shell call the model asks for and
 * prints the model's answer.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import * as InMemoryTools from "./support/InMemoryTools.ts"
import * as TestGateway from "./support/TestGateway.ts"

const codexBin = join(
  dirname(createRequire(import.meta.url).resolve("@openai/codex/package.json")),
  "bin",
  "codex.js"
)

interface Exec {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `codex exec` in a fresh home, talking only to the gateway. */
const codexExec = (gatewayUrl: string, prompt: string, extra: ReadonlyArray<string> = []) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "mcpgate-codex-"))),
    (home) =>
      Effect.callback<Exec>((resume) => {
        const provider = `{ name = "mcpgate", base_url = "${gatewayUrl}/v1", wire_api = "responses", env_key = "MCPGATE_API_KEY" }`
        const child = execFile(
          process.execPath,
          [
            codexBin,
            "exec",
            "--skip-git-repo-check",
            "--sandbox",
            "read-only",
            "-m",
            "scripted-model",
            "-c",
            'model_provider="mcpgate"',
            "-c",
            `model_providers.mcpgate=${provider}`,
            // Codex adds the hosted web_search tool, which a chat-only upstream cannot run.
            "-c",
            'web_search="disabled"',
            ...extra,
            prompt
          ],
          {
            cwd: home,
            env: {
              PATH: process.env.PATH ?? "",
              HOME: home,
              CODEX_HOME: home,
              MCPGATE_API_KEY: "client-key"
            },
            timeout: 60_000
          },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
            resume(Effect.succeed({ code, stdout, stderr }))
          }
        )
        // With stdin open, `codex exec` waits for more of the prompt there.
        child.stdin?.end()
        return Effect.sync(() => child.kill())
      }),
    (home) => Effect.sync(() => rmSync(home, { recursive: true, force: true }))
  )

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

describe("Codex CLI through the gateway", () => {
  it.live(
    "a chat-only upstream: codex exec runs a shell call the model asks for, then prints the answer",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make((body) => {
          const messages = Array.isArray(body.messages) ? body.messages : []
          const last: unknown = messages.at(-1)
          if (isRecord(last) && last.role === "tool")
            return { content: `The command said: ${String(last.content).slice(0, 200)}` }
          return {
            content: "Running it.",
            toolCalls: [{ id: "call_sh", name: "exec_command", arguments: '{"cmd":"echo mcpgate-was-here"}' }]
          }
        })
        const gateway = yield* TestGateway.start({
          upstream: { baseUrl: upstream.baseUrl },
          tools: InMemoryTools.make({}).layer
        })
        const result = yield* codexExec(gateway.url, "Run echo for me.")
        assert.strictEqual(result.code, 0, result.stderr)
        assert.include(result.stdout, "The command said:")
        const bodies = upstream.chatBodies()
        assert.isAtLeast(bodies.length, 2)
        // Codex's developer message became a system message; its namespaced tools, chat functions.
        const first = bodies[0]?.messages as Array<{ role: string }>
        assert.strictEqual(first[0]?.role, "system")
        const names = ((bodies[0]?.tools ?? []) as Array<{ function: { name: string } }>).map(
          (tool) => tool.function.name
        )
        assert.include(names, "exec_command")
        assert.isTrue(
          names.some((name) => name.startsWith("multi_agent_v1__")),
          names.join(", ")
        )
        // The shell call went back to the model with its output.
        const second = bodies[1]?.messages as Array<{
          role: string
          tool_call_id?: string
          content?: unknown
        }>
        const output = second.find((message) => message.role === "tool" && message.tool_call_id === "call_sh")
        assert.include(String(output?.content), "mcpgate-was-here")
        assert.deepStrictEqual(upstream.requests.map((request) => request.path).slice(0, 2), [
          "/v1/responses",
          "/v1/chat/completions"
        ])
      }),
    90_000
  )

  it.live(
    "an upstream with its own Responses API: passed through, the answer printed",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make(() => ({ content: "The answer is 42." }), {
          responses: true
        })
        const gateway = yield* TestGateway.start({
          upstream: { baseUrl: upstream.baseUrl },
          tools: InMemoryTools.make({}).layer
        })
        const result = yield* codexExec(gateway.url, "What is the answer?")
        assert.strictEqual(result.code, 0, result.stderr)
        assert.include(result.stdout, "The answer is 42.")
        assert.deepStrictEqual(
          [...new Set(upstream.requests.map((request) => request.path))],
          ["/v1/responses"]
        )
      }),
    90_000
  )
})
