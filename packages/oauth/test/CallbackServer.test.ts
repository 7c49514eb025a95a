import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { openerCommand, splitCommand } from "../src/Browser.ts"
import { resourceMatches } from "../src/Discovery.ts"
import { escapeHtml, listen, stableCallbackPort } from "../src/internal/CallbackServer.ts"
import { chooseAuthMethod } from "../src/Registration.ts"

describe("the loopback callback", () => {
  it.live("answers with an escaped page once the login reports back", () =>
    Effect.gen(function* () {
      const port = stableCallbackPort("escape-test", "http://127.0.0.1:1/mcp")
      const redirectUri = `http://127.0.0.1:${port}/callback`
      const server = yield* listen("escape-test", { host: "127.0.0.1", port, path: "/callback", redirectUri })
      const browser = yield* Effect.promise(() =>
        fetch(
          `${redirectUri}?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=s`
        )
      ).pipe(Effect.forkChild)
      const request = yield* server.request
      assert.strictEqual(request.url.searchParams.get("state"), "s")
      yield* request.reply({
        ok: false,
        message: `denied: ${request.url.searchParams.get("error_description")}`
      })
      const response = yield* Fiber.join(browser)
      const html = yield* Effect.promise(() => response.text())
      assert.strictEqual(response.status, 400)
      assert.notInclude(html, "<script>")
      assert.include(html, "denied: &lt;script&gt;alert(1)&lt;/script&gt;")
      assert.include(response.headers.get("content-security-policy") ?? "", "default-src 'none'")
      // Other paths are not the callback.
      const other = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/favicon.ico`))
      assert.strictEqual(other.status, 404)
    }).pipe(Effect.scoped)
  )
})

describe("small rules", () => {
  it("stable callback ports depend on name and URL only, above the ephemeral range", () => {
    const port = stableCallbackPort("notion", "https://mcp.notion.com/mcp")
    assert.strictEqual(port, stableCallbackPort("notion", "https://MCP.notion.com/mcp/"))
    assert.notStrictEqual(port, stableCallbackPort("linear", "https://mcp.notion.com/mcp"))
    assert.isAtLeast(port, 61000)
    assert.isAtMost(port, 65535)
  })

  it("a resource matches this server or a parent of it on the same origin", () => {
    assert.isTrue(resourceMatches("https://a.example/mcp", "https://a.example/mcp"))
    assert.isTrue(resourceMatches("https://a.example", "https://a.example/mcp"))
    assert.isTrue(resourceMatches("https://a.example/api", "https://a.example/api/mcp"))
    assert.isFalse(resourceMatches("https://a.example/ap", "https://a.example/api/mcp"))
    assert.isFalse(resourceMatches("https://evil.example/mcp", "https://a.example/mcp"))
    assert.isFalse(resourceMatches("https://a.example/mcp#x", "https://a.example/mcp"))
  })

  it("token endpoint authentication: public when possible", () => {
    assert.strictEqual(chooseAuthMethod(["none", "client_secret_basic"], true), "none")
    assert.strictEqual(chooseAuthMethod(["none", "client_secret_post"], false), "client_secret_post")
    assert.strictEqual(chooseAuthMethod(undefined, true), "client_secret_basic")
    assert.strictEqual(chooseAuthMethod(["private_key_jwt"], true), "none")
  })

  it("$BROWSER commands", () => {
    assert.deepStrictEqual(splitCommand(`"/opt/my browser/bin" --new-tab 'a b'`), [
      "/opt/my browser/bin",
      "--new-tab",
      "a b"
    ])
    assert.deepStrictEqual(openerCommand("firefox --private", "https://x/?a=1&b=2"), [
      "firefox",
      "--private",
      "https://x/?a=1&b=2"
    ])
    assert.deepStrictEqual(openerCommand("open-url %s --now", "https://x"), [
      "open-url",
      "https://x",
      "--now"
    ])
    assert.deepStrictEqual(openerCommand(undefined, "https://x", "linux"), ["xdg-open", "https://x"])
    assert.deepStrictEqual(openerCommand(undefined, "https://x", "darwin"), ["open", "https://x"])
    assert.strictEqual(openerCommand("", "https://x", "win32")[0], "rundll32")
    assert.strictEqual(
      escapeHtml(`<a href="x">'&'</a>`),
      "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    )
  })
})
