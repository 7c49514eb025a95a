/**
 * The admin page's activity panel in Debian Chromium (playwright-core) against
 * a real gateway: after tool calls on the stdio test server, each tool has a
 * row with its calls, errors and p50/p95 and two uPlot charts; screenshot in
 * test-results/activity.png (docs/screenshots/ with MCPGATE_UPDATE_SCREENSHOTS=1).
 * The activity route, like every admin route, needs the admin token.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import { Effect } from "effect"
import * as Browser from "./support/Browser.ts"
import * as WebGateway from "./support/WebGateway.ts"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const resultsDirectory = path.join(repoRoot, "test-results")

const run = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (error) => error })

describe("the admin activity panel", () => {
  it.live(
    "charts calls, errors and latency per server and tool",
    () =>
      Effect.gen(function* () {
        const server = Configs.stdioServer("t")
        const gateway = yield* WebGateway.start({
          configText: JSON.stringify({
            mcpServers: { t: { command: server.command, args: server.args } },
            builtins: { fetch: { enabled: false }, webSearch: { enabled: false } }
          })
        })
        yield* gateway.manager.awaitStatus((statuses) =>
          statuses.some((status) => status.state === "connected")
        )
        for (let index = 0; index < 5; index++)
          yield* gateway.manager.call("t__echo", { text: `call ${index}` })
        for (let index = 0; index < 2; index++) yield* gateway.manager.call("t__fail", {})

        const anonymous = yield* run(() => fetch(`${gateway.url}/admin/api/activity`))
        assert.strictEqual(anonymous.status, 401)
        const report = (yield* run(() =>
          fetch(`${gateway.url}/admin/api/activity`, {
            headers: { authorization: `Bearer ${gateway.adminToken}` }
          }).then((response) => response.json())
        )) as { tools: ReadonlyArray<{ tool: string; calls: number; errors: number; p95: number | null }> }
        assert.deepStrictEqual(
          report.tools.map(({ tool, calls, errors }) => ({ tool, calls, errors })),
          [
            { tool: "echo", calls: 5, errors: 0 },
            { tool: "fail", calls: 2, errors: 2 }
          ]
        )
        assert.isTrue(report.tools.every((tool) => tool.p95 !== null && tool.p95 > 0))

        const browser = yield* Browser.launch
        const page = yield* run(() => browser.newPage())
        const watched = Browser.watchPage(page, gateway.url)
        yield* run(async () => {
          await page.goto(`${gateway.url}/admin`)
          await page.getByLabel("Admin token").fill(gateway.adminToken)
          await page.getByRole("button", { name: "Sign in", exact: true }).click()
          await page.locator("#dashboard").waitFor({ state: "visible" })
        })
        const echo = page.locator('.activity-row[data-server="t"][data-tool="echo"]')
        const fail = page.locator('.activity-row[data-server="t"][data-tool="fail"]')
        yield* run(() => echo.waitFor())
        assert.match(
          (yield* run(() => echo.textContent())) ?? "",
          /5 calls · 0 errors · p50 \d+ ms · p95 \d+ ms/
        )
        assert.match((yield* run(() => fail.textContent())) ?? "", /2 calls · 2 errors/)
        assert.strictEqual(yield* run(() => echo.locator("canvas").count()), 2, "two charts per tool")
        assert.strictEqual(
          yield* run(() => page.locator("#activity-summary").textContent()),
          "7 tool calls in the last 60 minutes."
        )

        const section = page.locator("section", { has: page.locator("#activity-title") })
        yield* run(async () => {
          await section.scrollIntoViewIfNeeded()
          await page.mouse.move(0, 0)
          await fs.mkdir(resultsDirectory, { recursive: true })
          const file = path.join(resultsDirectory, "activity.png")
          await section.screenshot({ path: file })
          if (process.env.MCPGATE_UPDATE_SCREENSHOTS === "1") {
            await fs.mkdir(path.join(repoRoot, "docs", "screenshots"), { recursive: true })
            await fs.copyFile(file, path.join(repoRoot, "docs", "screenshots", "activity.png"))
          }
          assert.isAbove((await fs.stat(file)).size, 5_000, "the screenshot is not empty")
        })
        const problems = watched.problems.filter((problem) => !/status of 401/.test(problem))
        assert.deepStrictEqual(problems, [], problems.join("\n"))
      }).pipe(Effect.scoped),
    60_000
  )
})
