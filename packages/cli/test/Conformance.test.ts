/**
 * The MCP conformance suite's client scenarios, run by the suite's own runner
 * against `scripts/conformance-client` (mcpgate's layers: `McpConnection`,
 * `AuthorizedFetch`, `OAuthManager`), exactly as CI would call it:
 *
 *   conformance client --command scripts/conformance-client --suite all
 *
 * - 0.1.16 (stable) and 0.2.0-alpha.12 (next, with the 2026-07-28 draft):
 *   every scenario passes, with no warning; the `auth/*` ones that matter most
 *   (cross-app access, client credentials, `iss`, migration, DPoP …) are named,
 *   so that a suite that lost one of them fails here too.
 *
 * The runner starts every scenario at once; on a loaded machine its timing
 * checks (the SSE `retry` delay) can come out late by a few hundred
 * milliseconds, which it reports as a warning. A scenario whose only
 * complaints are warnings is run once more on its own; a failure never is.
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

/** The runner's `=== SUITE SUMMARY ===` lines: `✓ name: 3 passed, 0 failed[, 1 warnings]`. */
const summaryOf = (stdout: string): ReadonlyArray<ScenarioResult> => {
  const summary = stdout.slice(stdout.indexOf("=== SUITE SUMMARY ==="))
  return [...summary.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed(?:, (\d+) warnings)?$/gmu)].map(
    (match) => ({
      scenario: match[1] ?? "",
      passed: Number(match[2]),
      failed: Number(match[3]),
      warnings: Number(match[4] ?? 0)
    })
  )
}

/** `conformance list --client`: every client scenario of that version. */
const scenariosOf = async (cli: string): Promise<ReadonlyArray<string>> => {
  const listed = await run([cli, "list", "--client"], 20_000)
  return [...listed.stdout.matchAll(/^ {2}- (\S+)/gm)].map((match) => match[1] ?? "")
}

const clean = (result: ScenarioResult) => result.failed === 0 && result.warnings === 0

/**
 * The whole suite, then each scenario that only had warnings once more on its
 * own. Returns the final result of every scenario and the ones rerun.
 */
const runSuite = async (cli: string, name: string) => {
  const suite = await run(
    [cli, "client", "--command", "scripts/conformance-client", "--suite", "all", "-o", join(output, name)],
    150_000
  )
  const results = new Map(summaryOf(suite.stdout).map((result) => [result.scenario, result]))
  const rerun: Array<string> = []
  for (const result of results.values()) {
    if (result.failed > 0 || result.warnings === 0) continue
    rerun.push(result.scenario)
    const single = await run(
      [
        cli,
        "client",
        "--command",
        "scripts/conformance-client",
        "--scenario",
        result.scenario,
        "-o",
        join(output, `${name}-rerun`)
      ],
      60_000
    )
    const again = summaryOfSingle(result.scenario, `${single.stdout}\n${single.stderr}`)
    results.set(result.scenario, again)
  }
  return { suite, results: [...results.values()], rerun }
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
    const { suite, results, rerun } = await runSuite(suites.stable.cli, "stable")
    report(suites.stable.version, results, rerun)
    assert.sameMembers(
      results.map((result) => result.scenario),
      [...expected],
      suite.stdout.slice(-3000)
    )
    for (const result of results) {
      assert.isTrue(clean(result), `${result.scenario}: ${result.failed} failed, ${result.warnings} warnings`)
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
    const { suite, results, rerun } = await runSuite(suites.next.cli, "next")
    report(suites.next.version, results, rerun)
    assert.sameMembers(
      results.map((result) => result.scenario),
      [...expected],
      suite.stdout.slice(-3000)
    )
    for (const result of results) {
      assert.isTrue(clean(result), `${result.scenario}: ${result.failed} failed, ${result.warnings} warnings`)
      // The skills extension's scenarios (sep-2640-*) check nothing of a client without skills.
      if (!result.scenario.startsWith("sep-2640-")) assert.isAbove(result.passed, 0, result.scenario)
    }
  }, 240_000)
})
