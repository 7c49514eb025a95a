/**
 * The admin and chat pages in a real browser (Debian Chromium through
 * playwright-core) against a real gateway: oidc-provider in front of a
 * protected MCP server, server-everything over stdio, an MCP server with
 * Markdown descriptions, a server that is down, and the scripted upstream.
 *
 * Screenshots go to test-results/ (with MCPGATE_UPDATE_SCREENSHOTS=1 they are
 * also copied to docs/screenshots/ for the README).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, layer } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Context, Effect, Layer } from "effect"
import type { BrowserContext, Locator, Page } from "playwright-core"
import { type OAuthServers, startServers } from "./support/AdminOAuth.ts"
import * as Browser from "./support/Browser.ts"
import * as WebGateway from "./support/WebGateway.ts"

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const resultsDirectory = path.join(repoRoot, "test-results")

// ---------------------------------------------------------------------------
// The scripted model

interface Message {
  readonly role: string
  readonly content?: unknown
}

const echoArguments = '{"message":"hello from the chat"}'
const sumArguments = '{"a":2,"b":3}'
const twoToolsReasoning = "The user wants two tools at once: echo the greeting and add 2 and 3."

export const twoToolsAnswer = [
  "## Results",
  "",
  "Both tools answered. The **echo** tool said `hello from the chat`.",
  "",
  "- echo: *Echo: hello from the chat*",
  "- get-sum: the sum of 2 and 3 is **5**",
  "",
  "| tool | result |",
  "| --- | --- |",
  "| echo | hello from the chat |",
  "| get-sum | 5 |"
].join("\n")

const brokenToolAnswer = "The tool failed: my arguments were cut off."

/** Markup a model might send: it must show as text or be neutralised, never run. */
const markupAnswer = [
  "Here is some **markup**:",
  "",
  '<img src="x" onerror="window.__xss = true">',
  "",
  "<script>window.__xss = true</script>",
  "",
  "[a link](javascript:window.__xss=true) and [a real one](https://example.org/)",
  "",
  "```js",
  "console.log('code stays code')",
  "```"
].join("\n")

const longStory = [
  "<think>Plan: a long story in many short paragraphs.</think>",
  ...Array.from(
    { length: 40 },
    (_, index) =>
      `Paragraph ${index + 1}: the gateway kept the tools in order and the model kept talking.\n\n`
  )
].join("")

const script = (body: Record<string, unknown>): ScriptedUpstream.Turn => {
  const messages = (body.messages ?? []) as ReadonlyArray<Message>
  const lastUser = messages.findLastIndex((message) => message.role === "user")
  const prompt = String(messages[lastUser]?.content ?? "")
  const answered = messages.slice(lastUser + 1).some((message) => message.role === "tool")
  if (prompt.includes("two tools")) {
    return answered
      ? { content: twoToolsAnswer, chunkDelayMs: 20 }
      : {
          reasoning: twoToolsReasoning,
          toolCalls: [
            { id: "call_echo", name: "everything__echo", arguments: echoArguments },
            { id: "call_sum", name: "everything__get-sum", arguments: sumArguments }
          ]
        }
  }
  if (prompt.includes("long story")) return { content: longStory, chunkDelayMs: 20 }
  if (prompt.includes("markup")) return { content: markupAnswer }
  if (prompt.includes("broken tool")) {
    return answered
      ? { content: brokenToolAnswer }
      : { toolCalls: [{ id: "call_broken", name: "everything__get-sum", arguments: '{"a": 2, "b": ' }] }
  }
  return { content: "Hello from the scripted model." }
}

// ---------------------------------------------------------------------------
// The suite: one gateway and one browser for every test

interface SuiteShape {
  readonly gateway: WebGateway.WebGateway
  readonly upstream: ScriptedUpstream.ScriptedUpstream
  readonly oauth: OAuthServers
  readonly browser: BrowserContext
}

class Suite extends Context.Service<Suite, SuiteShape>()("test/WebBrowser/Suite") {}

const configText = (urls: {
  notes: string
  docs: string
  offline: string
  upstream: string
}) => `// The browser suite's gateway.
{
  "mcpServers": {
    "everything": { "command": ${JSON.stringify(process.execPath)}, "args": [${JSON.stringify(Configs.everythingPath)}, "stdio"] },
    "notes": { "url": ${JSON.stringify(urls.notes)}, "auth": { "type": "oauth2" } },
    "docs": { "url": ${JSON.stringify(urls.docs)} },
    "offline": { "url": ${JSON.stringify(urls.offline)} }
  },
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  "server": { "upstream": { "baseUrl": ${JSON.stringify(urls.upstream)} } }
}
`

const suiteLayer = Layer.effect(
  Suite,
  Effect.gen(function* () {
    const oauth = yield* startServers
    const docs = yield* WebGateway.docsServer
    const closed = yield* ScriptedUpstream.closedPort
    const upstream = yield* ScriptedUpstream.make(script)
    const gateway = yield* WebGateway.start({
      configText: configText({
        notes: oauth.mcp.url,
        docs: docs.url,
        offline: `http://127.0.0.1:${closed}/mcp`,
        upstream: upstream.baseUrl
      })
    })
    const browser = yield* Browser.launch
    yield* gateway.manager
      .awaitStatus((all) =>
        ["everything:connected", "docs:connected", "notes:needs_auth"].every((wanted) =>
          all.some((status) => `${status.name}:${status.state}` === wanted)
        )
      )
      .pipe(Effect.timeout("20 seconds"))
    yield* Effect.promise(() => fs.mkdir(resultsDirectory, { recursive: true }))
    return { gateway, upstream, oauth, browser }
  })
)

// ---------------------------------------------------------------------------
// Helpers

const run = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (error) => error })

/** Failed loads the test causes on purpose (a 401 before signing in) are not problems. */
const expectedNoise = [/Failed to load resource: the server responded with a status of 401/]

const assertNoProblems = (watched: Browser.PageProblems, allowed: ReadonlyArray<RegExp> = []) => {
  const problems = watched.problems.filter(
    (problem) => ![...allowed].some((pattern) => pattern.test(problem))
  )
  assert.deepStrictEqual(problems, [], problems.join("\n"))
}

const screenshot = async (page: Page, name: string) => {
  const file = path.join(resultsDirectory, `${name}.png`)
  // No hover or focus styles in the picture.
  await page.mouse.move(0, 0)
  await page.evaluate(() => (globalThis as unknown as Browser.Dom).document.activeElement?.blur())
  await page.screenshot({ path: file })
  if (process.env.MCPGATE_UPDATE_SCREENSHOTS === "1") {
    const docs = path.join(repoRoot, "docs", "screenshots")
    await fs.mkdir(docs, { recursive: true })
    await fs.copyFile(file, path.join(docs, `${name}.png`))
  }
  const stat = await fs.stat(file)
  assert.isAbove(stat.size, 10_000, `${file} looks empty`)
}

const card = (page: Page, server: string): Locator => page.locator(`li.card[data-server="${server}"]`)

/** Opens /admin; signs in when the page asks for it. */
const openAdmin = async (suite: SuiteShape) => {
  const page = await suite.browser.newPage()
  const watched = Browser.watchPage(page, suite.gateway.url)
  await page.goto(`${suite.gateway.url}/admin`)
  const form = page.locator("#sign-in")
  const dashboard = page.locator("#dashboard")
  await page.locator("#sign-in:visible, #dashboard:visible").waitFor()
  if (await form.isVisible()) {
    await page.getByLabel("Admin token").fill(suite.gateway.adminToken)
    await page.getByRole("button", { name: "Sign in", exact: true }).click()
    await dashboard.waitFor({ state: "visible" })
    // The 401 that sent the page to the form is expected; anything else still counts.
    const rest = watched.problems.filter((problem) => !expectedNoise.some((pattern) => pattern.test(problem)))
    watched.problems.splice(0, watched.problems.length, ...rest)
  }
  await page.locator("#live[data-state=live]").waitFor()
  return { page, watched }
}

/** Signs `notes` in through the popup and waits for its card to show it, without a reload. */
const signInThroughPopup = async (page: Page) => {
  const notes = card(page, "notes")
  const popup = page.waitForEvent("popup")
  await notes.getByRole("button", { name: "Sign in" }).click()
  const window = await popup
  // The callback page tells the opener and closes itself.
  await window.waitForEvent("close", { timeout: 15_000 })
  await notes.locator("[data-role=state]", { hasText: /^connected$/ }).waitFor()
  await notes.locator("[data-role=auth]", { hasText: /^authenticated · expires in (1 h|59 min)$/ }).waitFor()
}

const layerOptions = { excludeTestServices: true, timeout: "60 seconds" } as const
/** Per test: a browser test waits for real servers and a real OAuth round trip. */
const testTimeout = 30_000

// ---------------------------------------------------------------------------

layer(suiteLayer, layerOptions)("the web UI in Chromium", (it) => {
  describe("the admin page", () => {
    it.effect(
      "signs in with the admin token, which becomes an HttpOnly cookie and is never stored by the page",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          yield* run(async () => {
            const page = await suite.browser.newPage()
            const watched = Browser.watchPage(page, suite.gateway.url)
            await page.goto(`${suite.gateway.url}/admin`)
            await page.locator("#sign-in").waitFor()
            const token = page.getByLabel("Admin token")
            assert.strictEqual(await token.getAttribute("type"), "password")
            // The form has focus, so a keyboard user types at once.
            assert.isTrue(await Browser.isFocused(token))

            await token.fill("not-the-token")
            await page.keyboard.press("Enter")
            await page.locator("#sign-in-error", { hasText: "That is not the admin token." }).waitFor()

            await token.fill(suite.gateway.adminToken)
            await page.keyboard.press("Enter")
            await page.locator("#dashboard").waitFor()
            await card(page, "everything").locator("[data-role=state]", { hasText: "connected" }).waitFor()
            assert.strictEqual(await token.inputValue(), "")

            const cookies = await suite.browser.cookies(`${suite.gateway.url}/admin`)
            const session = cookies.find((cookie) => cookie.name === "mcpgate_admin")
            assert.isDefined(session)
            assert.isTrue(session?.httpOnly)
            assert.strictEqual(session?.sameSite, "Strict")
            assert.strictEqual(session?.path, "/admin")
            assert.notInclude(session?.value ?? "", suite.gateway.adminToken)
            const stored = await page.evaluate(() => {
              const dom = globalThis as unknown as Browser.Dom
              return {
                cookie: dom.document.cookie,
                local: JSON.stringify({ ...dom.localStorage }),
                session: JSON.stringify({ ...dom.sessionStorage }),
                url: dom.location.href
              }
            })
            assert.notInclude(stored.cookie, "mcpgate_admin")
            for (const place of [stored.cookie, stored.local, stored.session, stored.url]) {
              assert.notInclude(place, suite.gateway.adminToken)
            }
            // Cards for every server, with transport, state and auth.
            const everything = card(page, "everything")
            await everything.locator("[data-role=transport]", { hasText: "stdio" }).waitFor()
            // Its resources and prompts, read when asked for, under the names /mcp gives them.
            await everything.locator("[data-role=state]", { hasText: "connected" }).waitFor()
            await everything.getByRole("button", { name: "resources and prompts" }).click()
            await everything.locator("code", { hasText: "everything__args-prompt" }).waitFor()
            await everything
              .locator("code", {
                hasText: "mcpgate://everything/demo://resource/static/document/features.md"
              })
              .waitFor()
            const offline = card(page, "offline")
            await offline.locator("[data-role=state]", { hasText: "error" }).waitFor()
            assert.notStrictEqual(
              (await offline.locator("[data-role=error]").textContent())?.trim() ?? "",
              ""
            )
            await card(page, "notes").locator("[data-role=auth]", { hasText: "needs login" }).waitFor()

            // Signing out ends the session: the cookie is gone and the form is back, focused.
            await page.getByRole("button", { name: "Sign out" }).click()
            await page.locator("#sign-in").waitFor()
            assert.isTrue(await Browser.isFocused(token))
            const after = await suite.browser.cookies(`${suite.gateway.url}/admin`)
            assert.isUndefined(after.find((cookie) => cookie.name === "mcpgate_admin"))
            // A session that ends elsewhere (here: the cookie is dropped) brings the form back too.
            await token.fill(suite.gateway.adminToken)
            await page.keyboard.press("Enter")
            await page.locator("#dashboard").waitFor()
            await suite.browser.clearCookies({ name: "mcpgate_admin" })
            await card(page, "docs").getByRole("button", { name: "Reconnect" }).click()
            await page
              .locator("#sign-in-error", { hasText: "Your session has ended. Sign in again." })
              .waitFor()
            await page.close()
            assertNoProblems(watched, expectedNoise)
          })
        }),
      testTimeout
    )

    it.effect(
      "authenticates a protected server in a popup: the card turns connected live; logout changes the badge",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          yield* run(async () => {
            const { page, watched } = await openAdmin(suite)
            const notes = card(page, "notes")
            await notes.locator("[data-role=auth]", { hasText: "needs login" }).waitFor()
            await Browser.mark(page, "sameDocument", true)

            await signInThroughPopup(page)
            await notes.locator("[data-role=notice]", { hasText: "Signed in." }).waitFor()
            // The tools of the freshly connected server are listed.
            await notes.getByRole("button", { name: "2 tools" }).click()
            await notes.getByRole("button", { name: "whoami" }).waitFor()

            // Log out: the token is revoked and the badge changes.
            await notes.getByRole("button", { name: "Log out" }).click()
            await notes.locator("[data-role=auth]", { hasText: /^needs login$/ }).waitFor()
            await notes
              .locator("[data-role=notice]", { hasText: "Logged out; the token was revoked." })
              .waitFor()
            assert.notStrictEqual(await notes.locator("[data-role=state]").textContent(), "connected")
            assert.isAbove(
              suite.oauth.as.revocations.filter((revocation) => revocation.status === 200).length,
              0
            )
            // Focus stays on the card: on its Sign in button.
            assert.strictEqual(await Browser.focusedText(page), "Sign in")

            // And in again, for the rest of the suite.
            await signInThroughPopup(page)
            assert.strictEqual(await Browser.readMark(page, "sameDocument"), true, "the page reloaded")
            await page.close()
            assertNoProblems(watched)
          })
        }),
      testTimeout
    )

    it.effect(
      "opens a tool's full description in a dialog, Markdown rendered and sanitised",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          yield* run(async () => {
            const { page, watched } = await openAdmin(suite)
            const docs = card(page, "docs")
            const toggle = docs.getByRole("button", { name: "2 tools" })
            assert.strictEqual(await toggle.getAttribute("aria-expanded"), "false")
            await toggle.click()
            assert.strictEqual(await toggle.getAttribute("aria-expanded"), "true")
            const open = docs.getByRole("button", { name: "Search notes" })
            await open.click()
            const dialog = page.getByRole("dialog", { name: "Search notes" })
            await dialog.waitFor()
            assert.strictEqual(await dialog.locator("#tool-dialog-name").textContent(), "docs__search")
            const body = dialog.locator("#tool-dialog-body")
            assert.strictEqual(await body.locator("strong").textContent(), "project notes")
            assert.strictEqual(await body.locator("li").count(), 2)
            assert.strictEqual(await body.locator("code").first().textContent(), "query")
            // Raw HTML stays text: no element with a handler, no script; no javascript: link either.
            assert.strictEqual(await body.locator("script, img, [onerror]").count(), 0)
            assert.include(await body.textContent(), '<img src="x" onerror="window.__xss = true">')
            assert.strictEqual(await body.locator('a[href^="javascript:"]').count(), 0)
            const spec = body.getByRole("link", { name: "Spec" })
            assert.strictEqual(await spec.getAttribute("rel"), "noopener noreferrer")
            assert.strictEqual(await spec.getAttribute("target"), "_blank")
            assert.isUndefined(
              await page.evaluate(() => (globalThis as unknown as { __xss?: boolean }).__xss)
            )
            // Escape closes it and focus goes back to the button that opened it.
            await page.keyboard.press("Escape")
            await dialog.waitFor({ state: "hidden" })
            assert.isTrue(await Browser.isFocused(open))
            await page.close()
            assertNoProblems(watched)
          })
        }),
      testTimeout
    )

    it.effect(
      "reconnects a server",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          const before = yield* suite.gateway.manager.serverStatus("docs").pipe(Effect.orDie)
          yield* run(async () => {
            const { page, watched } = await openAdmin(suite)
            const docs = card(page, "docs")
            await docs.getByRole("button", { name: "Reconnect" }).click()
            await docs.locator("[data-role=state]", { hasText: /^connected$/ }).waitFor()
            await docs.getByRole("button", { name: "Reconnect" }).and(page.locator(":enabled")).waitFor()
            await page.close()
            assertNoProblems(watched)
          })
          const after = yield* suite.gateway.manager.serverStatus("docs").pipe(Effect.orDie)
          assert.strictEqual(after.state, "connected")
          assert.isAbove(after.lastConnectedAt ?? 0, before.lastConnectedAt ?? 0)
        }),
      testTimeout
    )

    it.effect(
      "never saves a broken config: the error is shown at its line and the file is unchanged",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          yield* run(async () => {
            const onDisk = await fs.readFile(suite.gateway.configPath)
            const { page, watched } = await openAdmin(suite)
            const editor = page.getByLabel("Configuration file")
            await page.locator("#config-path", { hasText: suite.gateway.configPath }).waitFor()
            const text = await editor.inputValue()
            assert.strictEqual(text, onDisk.toString("utf8"))
            const lines = text.split("\n")
            const line = lines.findIndex((entry) => entry.includes('"builtins"')) + 1
            assert.isAbove(line, 1)
            await editor.fill(text.replace('"builtins"', '"bultins"'))
            await page.getByRole("button", { name: "Save", exact: true }).click()

            const issue = page.locator(`#config-issues li.issue[data-line="${line}"]`)
            await issue.waitFor()
            const issueText = (await issue.textContent()) ?? ""
            assert.include(issueText, `Line ${line}`)
            assert.include(issueText, "builtins")
            await page.locator(`#config-gutter > div.has-issue[data-line="${line}"]`).waitFor()
            assert.strictEqual(await page.locator("#config-gutter > div.has-issue").count(), 1)
            await page.locator(`#config-annotations .annotation[data-line="${line}"]`).waitFor()
            assert.strictEqual(await editor.getAttribute("aria-invalid"), "true")
            assert.strictEqual(await page.locator("#config-status").textContent(), "Not saved.")
            // The caret went to the line.
            const caretLine = await editor.evaluate(
              (element: Browser.DomElement) =>
                (element.value ?? "").slice(0, element.selectionStart).split("\n").length
            )
            assert.strictEqual(caretLine, line)
            assert.deepStrictEqual(await fs.readFile(suite.gateway.configPath), onDisk)

            // Broken JSON is refused the same way.
            await editor.fill(text.replace('"docs": {', '"docs" {'))
            await page.keyboard.press("Control+s")
            await page.locator("#config-issues li.issue[data-line]").first().waitFor()
            assert.deepStrictEqual(await fs.readFile(suite.gateway.configPath), onDisk)

            // Revert clears the marks; reload reads the file again.
            await page.getByRole("button", { name: "Revert" }).click()
            assert.strictEqual(await page.locator("#config-gutter > div.has-issue").count(), 0)
            assert.strictEqual(await editor.inputValue(), text)
            await page.getByRole("button", { name: "Reload config" }).click()
            await page.locator("#config-status", { hasText: "Reloaded from disk." }).waitFor()
            await page.close()
            assertNoProblems(watched, [/status of 400/])
          })
        }),
      testTimeout
    )

    it.effect(
      "is keyboard-usable with visible focus, passes axe-core, and is photographed",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          yield* run(async () => {
            const { page, watched } = await openAdmin(suite)
            await card(page, "notes").locator("[data-role=auth]", { hasText: "authenticated" }).waitFor()
            // The first Tab reaches the skip link, and the focus ring shows.
            await page.keyboard.press("Tab")
            const focused = await page.evaluate(() => {
              const dom = globalThis as unknown as Browser.Dom
              const element = dom.document.activeElement
              if (element === null) return { text: null, outline: "none", width: "0px" }
              const style = dom.getComputedStyle(element)
              return { text: element.textContent, outline: style.outlineStyle, width: style.outlineWidth }
            })
            assert.strictEqual(focused.text, "Skip to content")
            assert.notStrictEqual(focused.outline, "none")
            // A card action by keyboard: Tab to the docs tools toggle and open it with Enter.
            const toggle = card(page, "docs").getByRole("button", { name: "2 tools" })
            await toggle.focus()
            await page.keyboard.press("Enter")
            assert.strictEqual(await toggle.getAttribute("aria-expanded"), "true")
            assert.notStrictEqual(
              await toggle.evaluate(
                (element: Browser.DomElement) =>
                  (globalThis as unknown as Browser.Dom).getComputedStyle(element).outlineStyle
              ),
              "none"
            )
            await card(page, "notes").getByRole("button", { name: "2 tools" }).click()

            const serious = Browser.seriousViolations(await Browser.axe(page))
            assert.deepStrictEqual(serious, [], serious.join("\n"))
            await screenshot(page, "admin")
            // The dialog too.
            await card(page, "docs").getByRole("button", { name: "Search notes" }).click()
            await page.getByRole("dialog").waitFor()
            const inDialog = Browser.seriousViolations(await Browser.axe(page))
            assert.deepStrictEqual(inDialog, [], inDialog.join("\n"))
            await page.close()
            assertNoProblems(watched)
          })
        }),
      testTimeout
    )
  })

  describe("the chat page", () => {
    const openChat = async (suite: SuiteShape) => {
      const page = await suite.browser.newPage()
      const watched = Browser.watchPage(page, suite.gateway.url)
      await page.goto(`${suite.gateway.url}/chat`)
      await page.locator("#model option[value='scripted-model']").waitFor({ state: "attached" })
      // The switch is remembered per origin: every test starts with the tools on.
      const tools = page.getByRole("switch", { name: "MCP tools" })
      if (!(await tools.isChecked())) await tools.check()
      return { page, watched }
    }

    it.effect(
      "runs a turn with two tools: both blocks expand to arguments and results; the answer streams",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          const before = suite.upstream.chatBodies().length
          yield* run(async () => {
            const { page, watched } = await openChat(suite)
            assert.strictEqual(await page.getByLabel("Model").inputValue(), "scripted-model")
            const tools = page.getByRole("switch", { name: "MCP tools" })
            assert.isTrue(await tools.isChecked())
            await page.locator("#tools-status", { hasText: /\d+ tools/ }).waitFor()
            // Watch the answer: completed blocks must never be removed or replaced while it streams.
            await page.evaluate(() => {
              const dom = globalThis as unknown as Browser.Dom
              const state = { removedBlocks: 0, lengths: [] as Array<number> }
              dom.marks = { ...dom.marks, stream: state }
              const transcript = dom.document.getElementById("transcript")
              if (transcript === null) throw new Error("no transcript")
              new dom.MutationObserver((records) => {
                for (const record of records) {
                  for (const node of record.removedNodes) {
                    if (node.classList?.contains("md-block") === true) state.removedBlocks++
                  }
                }
                const answer = dom.document.querySelector(".message.assistant .answer")
                const length = answer?.textContent?.length ?? 0
                if (answer !== null && !state.lengths.includes(length)) state.lengths.push(length)
              }).observe(transcript, {
                childList: true,
                subtree: true,
                characterData: true
              })
            })

            await page.getByLabel("Message").fill("Please use two tools")
            await page.keyboard.press("Enter")
            const turn = page.locator(".message.assistant").last()
            // While it streams, Stop is offered and the log is busy.
            await page.getByRole("button", { name: "Stop" }).waitFor()
            const blocks = turn.locator("details.tool-call")
            await blocks.nth(1).waitFor()
            assert.strictEqual(await blocks.count(), 2)
            await turn.locator(".answer .md-block").first().waitFor()
            assert.strictEqual(await turn.getAttribute("data-state"), "streaming")
            await page.locator(".message.assistant[data-state=done]").waitFor()
            await page.getByRole("button", { name: "Send" }).waitFor()
            assert.strictEqual(await page.locator("#transcript").getAttribute("aria-busy"), "false")

            for (const [index, name, args, result] of [
              [0, "everything__echo", '"message": "hello from the chat"', "Echo: hello from the chat"],
              [1, "everything__get-sum", '"a": 2', "The sum of 2 and 3 is 5"]
            ] as const) {
              const block = blocks.nth(index)
              assert.strictEqual(await block.locator(".tool-name").textContent(), name)
              assert.strictEqual(await block.getAttribute("data-status"), "completed")
              assert.strictEqual(await block.locator(".badge").textContent(), "done")
              assert.match((await block.locator(".tool-duration").textContent()) ?? "", /^\d+(\.\d)? m?s$/)
              assert.isFalse(await block.locator(".tool-args").isVisible())
              await block.locator("summary").click()
              assert.isTrue(await block.locator(".tool-args").isVisible())
              assert.include(await block.locator(".tool-args").textContent(), args)
              assert.include(await block.locator(".tool-result").textContent(), result)
            }

            // Reasoning is collapsed; it opens with the keyboard.
            const reasoning = turn.locator("details.reasoning")
            assert.strictEqual(await reasoning.count(), 1)
            assert.strictEqual(await reasoning.locator("summary").textContent(), "Reasoning")
            await reasoning.locator("summary").focus()
            await page.keyboard.press("Enter")
            assert.include(await reasoning.locator(".reasoning-body").textContent(), twoToolsReasoning)

            // The answer: Markdown, sanitised, in blocks that were appended once.
            const answer = turn.locator(".answer")
            assert.strictEqual(await answer.locator("h2").textContent(), "Results")
            assert.strictEqual(await answer.locator("li").count(), 2)
            assert.strictEqual(await answer.locator("table td").count(), 4)
            assert.strictEqual(await answer.locator("table tr:last-child td").last().textContent(), "5")
            const stream = (await Browser.readMark(page, "stream")) as {
              removedBlocks: number
              lengths: ReadonlyArray<number>
            }
            assert.strictEqual(stream.removedBlocks, 0)
            assert.isAbove(stream.lengths.length, 5, "the answer did not arrive in steps")
            assert.isAbove(await answer.locator(".md-block").count(), 3)
            assert.strictEqual(await answer.locator(".md-tail").count(), 0)

            // For the picture: reasoning and the second call folded, the answer in view.
            await reasoning.locator("summary").click()
            await blocks.nth(1).locator("summary").click()
            await page.evaluate(() => {
              const transcript = (globalThis as unknown as Browser.Dom).document.getElementById("transcript")
              if (transcript !== null) transcript.scrollTop = transcript.scrollHeight
            })
            await screenshot(page, "chat")
            await page.close()
            assertNoProblems(watched)
          })
          // The page asked the gateway to run the tools: the model was offered them.
          const first = suite.upstream.chatBodies()[before] as {
            tools?: ReadonlyArray<{ function: { name: string } }>
          }
          assert.isTrue(first.tools?.some((tool) => tool.function.name === "everything__echo"))
          assert.notProperty(first, "execute_mcp_tools")
        }),
      testTimeout
    )

    it.effect(
      "stop aborts the request mid-stream; with the tools switch off no tools are sent",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          const before = suite.upstream.chatBodies().length
          const partial = yield* run(async () => {
            const { page, watched } = await openChat(suite)
            const tools = page.getByRole("switch", { name: "MCP tools" })
            await tools.focus()
            await page.keyboard.press("Space")
            assert.isFalse(await tools.isChecked())
            await page.getByLabel("Message").fill("Tell me a long story")
            await page.getByRole("button", { name: "Send" }).click()
            const turn = page.locator(".message.assistant").last()
            await page.waitForFunction(
              () =>
                ((globalThis as unknown as Browser.Dom).document.querySelector(
                  ".message.assistant:last-of-type .answer"
                )?.textContent?.length ?? 0) > 80
            )
            await page.getByRole("button", { name: "Stop" }).click()
            await page.locator(".message.assistant[data-state=stopped]").waitFor()
            assert.strictEqual(await turn.locator(".turn-footer").textContent(), "Stopped.")
            await page.getByRole("button", { name: "Send" }).waitFor()
            assert.strictEqual(await page.locator("#chat-status").textContent(), "Stopped.")
            // The <think> block of the content became a reasoning block, not answer text.
            assert.strictEqual(await turn.locator("details.reasoning").count(), 1)
            assert.notInclude(await turn.locator(".answer").textContent(), "Plan:")
            const text = (await turn.locator(".answer").textContent()) ?? ""
            assert.isBelow(text.length, longStory.length / 2)
            await page.close()
            assertNoProblems(watched)
            return text
          })
          // The gateway passed the abort on: the upstream saw its client go away.
          const closed = yield* suite.upstream.closedEarly.pipe(Effect.timeout("10 seconds"))
          assert.strictEqual(closed.path, "/v1/chat/completions")
          const body = suite.upstream.chatBodies()[before] as Record<string, unknown>
          assert.notProperty(body, "tools")
          assert.notProperty(body, "execute_mcp_tools")
          assert.include(partial, "Paragraph 1")
        }),
      testTimeout
    )

    it.effect(
      "keeps the conversation, neutralises markup in answers, and passes axe-core",
      () =>
        Effect.gen(function* () {
          const suite = yield* Suite
          const before = suite.upstream.chatBodies().length
          yield* run(async () => {
            const { page, watched } = await openChat(suite)
            await page.getByLabel("Message").fill("Please use a broken tool")
            await page.keyboard.press("Enter")
            await page.locator(".message.assistant[data-state=done]").waitFor()
            // A failed call says so, with the reason as its result.
            const failed = page.locator("details.tool-call[data-status=failed]")
            assert.strictEqual(await failed.locator(".badge").textContent(), "failed")
            await failed.locator("summary").click()
            assert.include(await failed.locator(".tool-result").textContent(), "not a JSON object")
            await page.getByLabel("Message").fill("Now show me some markup")
            await page.keyboard.press("Enter")
            const second = page.locator(".message.assistant[data-state=done]").nth(1)
            await second.waitFor()
            const answer = second.locator(".answer")
            assert.strictEqual(await answer.locator("strong").textContent(), "markup")
            assert.strictEqual(
              await answer.locator("script, img, [onerror], a[href^='javascript:']").count(),
              0
            )
            assert.include(await answer.textContent(), '<img src="x" onerror="window.__xss = true">')
            assert.include(await answer.textContent(), "<script>window.__xss = true</script>")
            assert.strictEqual(
              await answer.locator("pre code").textContent(),
              "console.log('code stays code')\n"
            )
            assert.strictEqual(
              await answer.getByRole("link", { name: "a real one" }).getAttribute("rel"),
              "noopener noreferrer"
            )
            assert.isFalse(await page.evaluate(() => "__xss" in globalThis))
            for (const summary of await page.locator(".message details summary").all()) await summary.click()
            const serious = Browser.seriousViolations(await Browser.axe(page))
            assert.deepStrictEqual(serious, [], serious.join("\n"))
            // Every control has a name.
            for (const control of await page.locator("button, select, textarea, input").all()) {
              if (!(await control.isVisible())) continue
              const name = await control.evaluate(
                (element: Browser.DomElement) =>
                  element.labels?.[0]?.textContent?.trim() ||
                  element.getAttribute("aria-label") ||
                  element.textContent?.trim() ||
                  ""
              )
              assert.notStrictEqual(name, "", await control.evaluate((element) => element.outerHTML))
            }
            await page.close()
            assertNoProblems(watched)
          })
          // The second question went with the first answer: the page keeps the conversation.
          const bodies = suite.upstream.chatBodies().slice(before)
          const last = bodies[bodies.length - 1] as {
            messages: ReadonlyArray<{ role: string; content: unknown }>
          }
          assert.deepStrictEqual(
            last.messages.map((message) => message.role),
            ["user", "assistant", "user"]
          )
          assert.strictEqual(last.messages[1]?.content, brokenToolAnswer)
        }),
      testTimeout
    )
  })
})

layer(
  Layer.effect(
    Suite,
    Effect.gen(function* () {
      const upstream = yield* ScriptedUpstream.make(script)
      const gateway = yield* WebGateway.start({
        configText: `{
  "mcpServers": {},
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  "server": { "apiKeys": ["\${env:CHAT_KEY}"], "upstream": { "baseUrl": ${JSON.stringify(upstream.baseUrl)} } }
}
`,
        env: { CHAT_KEY: "sk-chat-page-test" }
      })
      const browser = yield* Browser.launch
      return { gateway, upstream, browser, oauth: undefined as unknown as OAuthServers }
    })
  ),
  layerOptions
)("the chat page with API keys", (it) => {
  it.effect(
    "asks for an API key, keeps it in the tab only, and then chats",
    () =>
      Effect.gen(function* () {
        const suite = yield* Suite
        yield* run(async () => {
          const page = await suite.browser.newPage()
          const watched = Browser.watchPage(page, suite.gateway.url)
          await page.goto(`${suite.gateway.url}/chat`)
          const key = page.getByLabel("API key for /v1")
          await key.waitFor()
          assert.isTrue(await Browser.isFocused(key))
          await key.fill("sk-chat-page-test")
          await page.keyboard.press("Enter")
          await page.locator("#model option[value='scripted-model']").waitFor({ state: "attached" })
          assert.strictEqual(
            await page.evaluate(() => ({ ...sessionStorage })["mcpgate.chat.apiKey"]),
            "sk-chat-page-test"
          )
          assert.notInclude(
            await page.evaluate(() => JSON.stringify({ ...localStorage })),
            "sk-chat-page-test"
          )
          await page.getByLabel("Message").fill("hello")
          await page.keyboard.press("Enter")
          await page
            .locator(".message.assistant[data-state=done] .answer", {
              hasText: "Hello from the scripted model."
            })
            .waitFor()
          await page.close()
          assertNoProblems(watched, expectedNoise)
        })
        const request = suite.upstream.requests.find((entry) => entry.path === "/v1/chat/completions")
        // The key opens the gateway; it is not the upstream's key and is not forwarded as one.
        assert.notStrictEqual(request?.headers.authorization, "Bearer sk-chat-page-test")
      }),
    testTimeout
  )
})
