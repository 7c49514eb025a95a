/**
 * The MCP conformance suite's server scenarios that a tool gateway can pass as it
 * is, run against `/mcp`. The suite's other tool scenarios call fixed tool names
 * (`test_image_content` …) that only its own reference server has: behind the
 * gateway every name carries a `<server>__` prefix, so they cannot pass here.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { Effect } from "effect"
import { mcpBackend } from "./support/McpBackend.ts"
import * as McpGateway from "./support/McpGateway.ts"

const conformanceCli = fileURLToPath(
  new URL("../../../node_modules/conformance-stable/dist/index.js", import.meta.url)
)

const scenarios = [
  "server-initialize",
  "ping",
  "tools-list",
  "dns-rebinding-protection",
  "server-sse-multiple-streams"
] as const

const runScenario = (url: string, scenario: string) =>
  Effect.callback<{ readonly code: number; readonly output: string }>((resume) => {
    const child = execFile(
      process.execPath,
      [conformanceCli, "server", "--url", url, "--scenario", scenario],
      { encoding: "utf8", timeout: 90_000, env: { ...process.env, NO_COLOR: "1" } },
      (error, stdout, stderr) => {
        const output = stdout + stderr
        // With resumable streams the suite's SDK client can reopen its GET stream after
        // closing (the stream had event ids), which keeps the process alive until it is
        // killed: a run that printed its results and was then killed counts by its results.
        const killedAfterResults = error?.killed === true && output.includes("Test Results:")
        const code =
          error === null || killedAfterResults ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, output }))
      }
    )
    // Once the results are printed, a client that lingers gets a second to exit.
    let printed = ""
    child.stdout?.on("data", (chunk: string) => {
      printed += chunk
      if (/Passed: \d+\/\d+/.test(printed)) setTimeout(() => child.kill("SIGKILL"), 1000).unref()
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("McpEndpoint against the MCP conformance suite", () => {
  it.live(
    "passes the server scenarios that apply to a gateway",
    () =>
      Effect.gen(function* () {
        const backend = yield* mcpBackend
        const gateway = yield* McpGateway.start({
          servers: [
            McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] }),
            McpGateway.server("b", { url: backend.url, transport: "streamable-http" })
          ]
        })
        const results = yield* Effect.forEach(
          scenarios,
          (scenario) =>
            Effect.map(runScenario(gateway.mcpUrl, scenario), (result) => ({ scenario, ...result })),
          { concurrency: "unbounded" }
        )
        for (const { scenario, code, output } of results) {
          assert.strictEqual(code, 0, `${scenario}:\n${output}`)
          assert.match(output, /Passed: (\d+)\/\1, 0 failed/, `${scenario}:\n${output}`)
        }
      }),
    // Generous: each scenario is a Node process, and CI machines are slow when busy.
    120_000
  )
})
