/**
 * Teams in a real browser (Debian Chromium through playwright-core,
 * docs/teams.md): Alice signs in with the organisation's provider
 * (oidc-provider), connects her own account to a protected MCP server on
 * `/connections`, and chats on `/chat` with its `whoami` tool, which answers
 * with her subject; Bob connects too; an admin (by `adminClaim`) revokes
 * Bob's connection in `/admin`, and Bob's `/connections` then shows it
 * disconnected. The test provider signs in whoever `account` names (no form
 * to fill); each user starts with the browser's cookies cleared.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import { serverConfig, startServers } from "@mcpgate/testing/Harness"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import type { Page } from "playwright-core"
import * as Browser from "./support/Browser.ts"
import * as TeamsGateway from "./support/TeamsGateway.ts"

const resultsDirectory = fileURLToPath(new URL("../../../test-results/", import.meta.url))

const run = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (error) => error })

/** The text of the tool result in the model's request, if it has one. */
const toolResult = (body: Record<string, unknown>): string | undefined => {
  const messages = Array.isArray(body.messages)
    ? (body.messages as ReadonlyArray<Record<string, unknown>>)
    : []
  const tool = messages.find((message) => message.role === "tool")
  return tool === undefined ? undefined : String(tool.content)
}

const row = (page: Page, server: string) => page.locator(`tr[data-server="${server}"]`)

describe("Teams in Chromium", () => {
  it.live(
    "Alice signs in, connects notion on /connections and chats with its tools; an admin revokes Bob",
    () =>
      Effect.gen(function* () {
        const { as: notionAs, mcp } = yield* startServers()
        // A model that calls notion__whoami once, then says what it answered.
        const upstream = yield* ScriptedUpstream.make((body) => {
          const result = toolResult(body)
          return result === undefined
            ? { toolCalls: [{ id: "call_1", name: "notion__whoami", arguments: "{}" }] }
            : { content: `The tool says: ${result}` }
        })
        const { url, as } = yield* TeamsGateway.start({
          servers: [Configs.stdioServer("local"), serverConfig("notion", mcp.url, { identity: "user" })],
          expectConnected: 1,
          claims: (account) => (account === "root" ? { groups: ["mcpgate-admins"] } : { groups: [] }),
          server: () => ({
            upstream: { baseUrl: upstream.baseUrl },
            auth: { issuer: "", clientId: "", userClaim: "sub", adminClaim: "groups=mcpgate-admins" }
          })
        })
        const context = yield* Browser.launch
        yield* Effect.promise(() => fs.mkdir(resultsDirectory, { recursive: true }))
        const page = yield* run(() => context.newPage())

        /** Signs `user` in afresh (no cookies of an earlier user) by opening `/connections`. */
        const openConnections = async (user: string) => {
          await context.clearCookies()
          as.account = user
          notionAs.account = user
          await page.goto(`${url}/connections`)
          await page.waitForURL(`${url}/connections`)
          await page.locator("#signed-in-as", { hasText: `Signed in as ${user}` }).waitFor()
          await row(page, "notion").waitFor()
        }
        const connect = async () => {
          const notion = row(page, "notion")
          assert.strictEqual(await notion.locator(".connection-state").textContent(), "Needs connecting")
          await notion.getByRole("button", { name: "Connect" }).click()
          // Through notion's provider and the gateway's callback, back here.
          await page.waitForURL(/\/connections\?connected=notion$/, { timeout: 20_000 })
          await row(page, "notion")
            .locator(".connection-state", { hasText: /^Connected/ })
            .waitFor()
        }

        yield* run(async () => {
          await openConnections("alice")
          await connect()
          await page.screenshot({ path: path.join(resultsDirectory, "teams-connections.png") })

          await page.goto(`${url}/chat`)
          await page.locator("#model option[value='scripted-model']").waitFor({ state: "attached" })
          const tools = page.getByRole("switch", { name: "MCP tools" })
          if (!(await tools.isChecked())) await tools.check()
          await page.getByLabel("Message").fill("Who am I?")
          await page.keyboard.press("Enter")
          await new Promise((r) => setTimeout(r, 5000))
          console.log(
            "DEBUG",
            await page.locator("main").textContent(),
            JSON.stringify(upstream.chatBodies()).slice(0, 3000)
          )
          await page
            .locator("#transcript", { hasText: "The tool says: hello alice" })
            .waitFor({ timeout: 20_000 })
          await page.screenshot({ path: path.join(resultsDirectory, "teams-chat.png") })
        })
        // The model asked with Alice's tools: notion's whoami among them.
        const asked = upstream.chatBodies()[0] as { tools?: ReadonlyArray<{ function?: { name?: string } }> }
        assert.include(
          (asked.tools ?? []).map((tool) => tool.function?.name),
          "notion__whoami"
        )

        yield* run(async () => {
          await openConnections("bob")
          await connect()

          // The admin signs in with the provider from the admin page and revokes Bob.
          await context.clearCookies()
          as.account = "root"
          await page.goto(`${url}/admin`)
          await page.getByRole("link", { name: "Sign in with your organisation's account" }).click()
          await page.waitForURL(`${url}/admin`)
          await page.locator("#dashboard").waitFor({ state: "visible" })
          const bob = page.locator('li[data-user="bob"]')
          await bob.locator('li[data-server="notion"]').waitFor()
          assert.strictEqual(await page.locator('li[data-user="alice"] li[data-server="notion"]').count(), 1)
          await bob.getByRole("button", { name: "Revoke" }).click()
          await page.locator("#users-summary", { hasText: "Revoked bob's connection to notion." }).waitFor()
          // Bob is not in server.users: with no connection left, he is not listed at all.
          await bob.locator('li[data-server="notion"]').waitFor({ state: "detached" })
          await page.screenshot({ path: path.join(resultsDirectory, "teams-admin-users.png") })
          assert.strictEqual(await page.locator('li[data-user="alice"] li[data-server="notion"]').count(), 1)

          await openConnections("bob")
          assert.strictEqual(
            await row(page, "notion").locator(".connection-state").textContent(),
            "Needs connecting"
          )
          await openConnections("alice")
          assert.match(
            (await row(page, "notion").locator(".connection-state").textContent()) ?? "",
            /^Connected/
          )
        })
        const stat = yield* Effect.promise(() => fs.stat(path.join(resultsDirectory, "teams-chat.png")))
        assert.isAbove(stat.size, 10_000)
      }).pipe(Effect.scoped),
    120_000
  )
})
