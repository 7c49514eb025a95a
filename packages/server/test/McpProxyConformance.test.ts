/**
 * `/mcp/<server>` against the MCP conformance suite's server scenarios (both
 * versions the project pins): the whole active suite run against our own
 * conformance test server directly, and through the gateway in front of it.
 * Every scenario that passes directly must pass through the gateway, and the
 * direct run must pass them all (else the test server, not the gateway, is
 * what the comparison measures). The four runs go at once.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { conformanceServer } from "@mcpgate/testing/ConformanceServer"
import { Effect } from "effect"
import * as McpGateway from "./support/McpGateway.ts"

const cliOf = (pkg: string) =>
  fileURLToPath(new URL(`../../../node_modules/${pkg}/dist/index.js`, import.meta.url))

const suites = [
  { version: "0.1.16", cli: cliOf("conformance-stable") },
  { version: "0.2.0-alpha.12", cli: cliOf("conformance-next") }
] as const

interface SuiteResult {
  readonly output: string
  /** Scenario name → whether all its checks passed. */
  readonly scenarios: ReadonlyMap<string, boolean>
}

/** Runs the suite's active server scenarios against `url`; reads the summary it prints. */
const runSuite = (cli: string, url: string) =>
  Effect.callback<SuiteResult>((resume) => {
    const child = execFile(
      process.execPath,
      [cli, "server", "--url", url],
      {
        encoding: "utf8",
        timeout: 240_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: "1" }
      },
      (_error, stdout, stderr) => {
        const output = stdout + stderr
        const summary = output.slice(output.lastIndexOf("=== SUMMARY ==="))
        const scenarios = new Map<string, boolean>()
        for (const match of summary.matchAll(/^[✓✗]\s+([\w-]+): (\d+) passed, (\d+) failed/gmu)) {
          scenarios.set(match[1] ?? "", match[3] === "0")
        }
        resume(Effect.succeed({ output, scenarios }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const passed = (result: SuiteResult) =>
  Array.from(result.scenarios)
    .filter(([, ok]) => ok)
    .map(([name]) => name)

describe("/mcp/<server> against the MCP conformance suite", () => {
  it.live(
    "passes through the gateway every server scenario that passes directly",
    () =>
      Effect.gen(function* () {
        const direct = yield* conformanceServer()
        const gateway = yield* McpGateway.start({
          servers: [McpGateway.server("conformance", { url: direct.url, transport: "streamable-http" })]
        })
        const runs = yield* Effect.forEach(
          suites.flatMap((suite) => [
            { ...suite, through: "direct", url: direct.url },
            { ...suite, through: "gateway", url: `${gateway.url}/mcp/conformance` }
          ]),
          (run) => Effect.map(runSuite(run.cli, run.url), (result) => ({ ...run, result })),
          { concurrency: "unbounded" }
        )
        for (const suite of suites) {
          const [direct, through] = ["direct", "gateway"].map(
            (kind) => runs.find((run) => run.version === suite.version && run.through === kind)?.result
          )
          assert.isDefined(direct)
          assert.isDefined(through)
          if (direct === undefined || through === undefined) return
          const directPassed = passed(direct)
          console.log(
            `conformance ${suite.version}: ${directPassed.length}/${direct.scenarios.size} direct, ` +
              `${passed(through).length}/${through.scenarios.size} through /mcp/<server>`
          )
          assert.isAbove(direct.scenarios.size, 20, `${suite.version} direct:\n${direct.output.slice(-3000)}`)
          assert.strictEqual(
            directPassed.length,
            direct.scenarios.size,
            `${suite.version} direct:\n${direct.output.slice(-3000)}`
          )
          const lost = directPassed.filter((name) => through.scenarios.get(name) !== true)
          assert.deepStrictEqual(
            lost,
            [],
            `${suite.version} through the gateway:\n${through.output.slice(-6000)}`
          )
        }
      }),
    300_000
  )
})
