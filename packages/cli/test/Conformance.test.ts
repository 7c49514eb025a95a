/**
 * The MCP conformance suite's client scenarios, run by the suite's own runner
 * against `scripts/conformance-client` (mcpgate's layers: `McpConnection`,
 * `AuthorizedFetch`, `OAuthManager`), scenario by scenario as the runner lists them:
 *
 *   conformance client --command scripts/conformance-client --scenario <name>
 *
 * - 0.1.16 (stable) and 0.2.0-alpha.12 (next, with the 2026-07-28 draft):
 *   every scenario passes, with no warning; the `auth/*` ones that matter most
 *   (cross-app access, client credentials, `iss`, migration, DPoP …) are named,
 *   so that a suite that lost one of them fails here too.
 *
 * A few scenarios run at a time (`--suite all` starts every one at once, which
 * a loaded machine cannot keep up with). The runner's timing checks (the SSE
 * `retry` delay) can still come out late by a few hundred milliseconds, which it
 * reports as a warning: a scenario whose only complaints are warnings is run
 * once more on its own; a failure never is.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const node = join(root, "node_modules/.bin/node")
const output = mkdtempSync(join(tmpdir(), "mcpgate-conformance-"))

const suites = {
  stable: { version: "0.1.16", cli: join(root, "node_modules/conformance-stable/dist/index.js") },
  next: { version: "0.2.0-alpha.12", cli: join(root, "node_modules/conformance-next/dist/index.js") }
} as const

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = (args: ReadonlyArray<string>, timeout: number): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      node,
      args,
      { cwd: root, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: "1" } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout, stderr })
      }
    )
  })

interface ScenarioResult {
  readonly scenario: string
  readonly passed: number
  readonly failed: number
  readonly warnings: number
}

/** `conformance list --client`: every client scenario of that version. */
const scenariosOf = async (cli: string): Promise<ReadonlyArray<string>> => {
  const listed = await run([cli, "list", "--client"], 20_000)
  return [...listed.stdout.matchAll(/^ {2}- (\S+)/gm)].map((match) => match[1] ?? "")
}

const clean = (result: ScenarioResult) => result.failed === 0 && result.warnings === 0

/** Runs `task` over `items`, at most `limit` at a time, keeping the order of `items`. */
const pool = async <A, B>(items: ReadonlyArray<A>, limit: number, task: (item: A) => Promise<B>) => {
  const results: Array<B> = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index] as A)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/**
 * Scenarios at once: `--suite all` starts every one of them together, which on a
 * loaded 2-core machine makes clients miss the runner's own deadlines (seen: 17 of
 * 48 failing at a load average of 25, every one passing alone).
 */
const concurrency = Number(process.env.CONFORMANCE_CONCURRENCY ?? 6)

const runScenario = async (cli: string, name: string, scenario: string) => {
  const single = await run(
    [
      cli,
      "client",
      "--command",
      "scripts/conformance-client",
      "--scenario",
      scenario,
      "-o",
      join(output, name)
    ],
    90_000
  )
  return { single, result: summaryOfSingle(scenario, `${single.stdout}\n${single.stderr}`) }
}

/**
 * Every scenario (a few at a time), then each one that only had warnings once
 * more on its own. Returns the final result of every scenario and the ones rerun.
 */
const runSuite = async (cli: string, name: string, scenarios: ReadonlyArray<string>) => {
  const runs = await pool(scenarios, concurrency, (scenario) => runScenario(cli, name, scenario))
  const results = new Map(runs.map(({ result }) => [result.scenario, result]))
  const rerun: Array<string> = []
  for (const result of results.values()) {
    if (result.failed > 0 || result.warnings === 0) continue
    rerun.push(result.scenario)
    results.set(result.scenario, (await runScenario(cli, `${name}-rerun`, result.scenario)).result)
  }
  const failedOutput = runs
    .filter(({ result }) => result.failed > 0)
    .map(({ single }) => single.stdout.slice(-1500))
    .join("\n")
  return { failedOutput, results: [...results.values()], rerun }
}

/** A single-scenario run prints `Passed: 3/3, 0 failed, 0 warnings` (on stderr). */
const summaryOfSingle = (scenario: string, stdout: string): ScenarioResult => {
  const match = /Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/.exec(stdout)
  if (match === null) return { scenario, passed: 0, failed: 1, warnings: 0 }
  return { scenario, passed: Number(match[1]), failed: Number(match[3]), warnings: Number(match[4]) }
}

const report = (version: string, results: ReadonlyArray<ScenarioResult>, rerun: ReadonlyArray<string>) => {
  const passing = results.filter(clean)
  const lines = [
    `conformance ${version}: ${passing.length}/${results.length} scenarios pass, ${results.reduce((sum, result) => sum + result.passed, 0)} checks passed`,
    ...results
      .filter((result) => !clean(result))
      .map(
        (result) => `  not passing: ${result.scenario} (${result.failed} failed, ${result.warnings} warnings)`
      ),
    ...(rerun.length === 0 ? [] : [`  rerun alone after a timing warning: ${rerun.join(", ")}`])
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
}

beforeAll(async () => {
  // The client starts three times faster bundled; the suite starts fifty of them at once.
  const built = await run([join(root, "scripts/conformance/build.ts")], 60_000)
  assert.strictEqual(built.code, 0, built.stderr)
}, 60_000)

afterAll(() => rmSync(output, { recursive: true, force: true }))

describe("MCP conformance suite, client side", () => {
  it(`${suites.stable.version}: every scenario of --suite all passes`, async () => {
    const expected = await scenariosOf(suites.stable.cli)
    assert.isAtLeast(expected.length, 26)
    const { failedOutput, results, rerun } = await runSuite(suites.stable.cli, "stable", expected)
    report(suites.stable.version, results, rerun)
    assert.sameMembers(
      results.map((result) => result.scenario),
      [...expected]
    )
    for (const result of results) {
      assert.isTrue(
        clean(result),
        `${result.scenario}: ${result.failed} failed, ${result.warnings} warnings\n${failedOutput}`
      )
      assert.isAbove(result.passed, 0, result.scenario)
    }
    for (const scenario of [
      "auth/cross-app-access-complete-flow",
      "auth/client-credentials-basic",
      "auth/client-credentials-jwt"
    ]) {
      assert.include(expected, scenario)
    }
  }, 240_000)

  it(`${suites.next.version}: every scenario of --suite all passes, the auth ones included`, async () => {
    const expected = await scenariosOf(suites.next.cli)
    const auth = expected.filter((scenario) => scenario.startsWith("auth/"))
    assert.isAtLeast(auth.length, 33)
    for (const scenario of [
      "auth/iss-supported",
      "auth/metadata-issuer-mismatch",
      "auth/authorization-server-migration",
      "auth/dpop",
      "auth/dpop-nonce"
    ]) {
      assert.include(auth, scenario)
    }
    const { failedOutput, results, rerun } = await runSuite(suites.next.cli, "next", expected)
    report(suites.next.version, results, rerun)
    assert.sameMembers(
      results.map((result) => result.scenario),
      [...expected]
    )
    for (const result of results) {
      assert.isTrue(
        clean(result),
        `${result.scenario}: ${result.failed} failed, ${result.warnings} warnings\n${failedOutput}`
      )
      // The skills extension's scenarios (sep-2640-*) check nothing of a client without skills.
      if (!result.scenario.startsWith("sep-2640-")) assert.isAbove(result.passed, 0, result.scenario)
    }
  }, 240_000)
})
