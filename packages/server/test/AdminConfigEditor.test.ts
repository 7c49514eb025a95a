/**
 * `server.configEditor`: what the admin API's config editor may change. With
 * "full" the admin token can start programs on the host (a stdio `command`), so
 * a gateway reachable from other machines defaults to "no-commands".
 */
import * as fs from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ConfigAnswer } from "../src/api/AdminSchemas.ts"
import { decode, errorOf } from "./support/AdminApiClient.ts"
import * as AdminGateway from "./support/AdminGateway.ts"

const file = (server: string, extra = "") => `{
  "mcpServers": {
    "tool": { "command": "true", "args": ["--a"], "env": { "A": "1" }, "enabled": false }${extra}
  },
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  "server": { ${server} }
}
`

const put = (gateway: AdminGateway.AdminGateway, text: string) =>
  gateway.request("/admin/api/mcp/config", { method: "PUT", token: gateway.adminToken, body: { text } })

const editorOf = (gateway: AdminGateway.AdminGateway) =>
  Effect.flatMap(gateway.request("/admin/api/mcp/config", { token: gateway.adminToken }), (response) =>
    Effect.map(decode(ConfigAnswer)(response), (config) => config.editor)
  )

const refusedWith = (response: AdminGateway.Response, code: string) =>
  Effect.gen(function* () {
    assert.strictEqual(response.status, 403, response.text)
    const error = yield* errorOf(response)
    assert.strictEqual(error.type, "permission_error")
    assert.strictEqual(error.code, code)
    return error.message
  })

describe("server.configEditor", () => {
  it.live('"full" (the default on loopback) may add and change stdio commands', () =>
    Effect.gen(function* () {
      const gateway = yield* AdminGateway.start({ configText: file("") })
      assert.strictEqual(yield* editorOf(gateway), "full")
      const added = yield* put(gateway, file("", `, "more": { "command": "true", "enabled": false }`))
      assert.strictEqual(added.status, 200, added.text)
    }).pipe(Effect.scoped)
  )

  it.live('"no-commands" refuses to add or change command, args, env or cwd, naming the server', () =>
    Effect.gen(function* () {
      const server = `"configEditor": "no-commands"`
      const original = file(server)
      const gateway = yield* AdminGateway.start({ configText: original })
      assert.strictEqual(yield* editorOf(gateway), "no-commands")
      const attempts = {
        added: file(server, `, "more": { "command": "sh", "args": ["-c", "id"], "enabled": false }`),
        command: original.replace('"command": "true"', '"command": "sh"'),
        args: original.replace('["--a"]', '["--b"]'),
        env: original.replace('"A": "1"', '"A": "2"'),
        cwd: original.replace('"enabled": false }', '"cwd": "/tmp", "enabled": false }')
      }
      for (const [what, text] of Object.entries(attempts)) {
        assert.notStrictEqual(text, original, what)
        const message = yield* refusedWith(yield* put(gateway, text), "config_commands_locked")
        assert.match(message, /server "(tool|more)"/, what)
        assert.include(message, '"no-commands"', what)
        assert.include(message, "programs on the host", what)
      }
      // Nothing was written.
      assert.strictEqual(yield* Effect.promise(() => fs.readFile(gateway.configPath, "utf8")), original)
      // Unlocking the editor through the editor is refused too.
      const unlock = original.replace('"no-commands"', '"full"')
      yield* refusedWith(yield* put(gateway, unlock), "config_commands_locked")

      // Anything else may change: timeouts, tool filters, enabling, removing a server.
      const allowed = original
        .replace('"enabled": false }', '"enabled": true, "timeout": 5, "tools": { "deny": ["x"] } }')
        .replace('"builtins"', '"defaultTimeout": 12, "builtins"')
      const saved = yield* put(gateway, allowed)
      assert.strictEqual(saved.status, 200, saved.text)
      const removed = yield* put(gateway, file(server).replace(/"tool": \{[^}]*\}[^}]*\}/, ""))
      assert.strictEqual(removed.status, 200, removed.text)
    }).pipe(Effect.scoped)
  )

  it.live('defaults to "no-commands" when the gateway is reachable from elsewhere (publicUrl or bind)', () =>
    Effect.gen(function* () {
      for (const [server, securityHost] of [
        [`"publicUrl": "https://gateway.example.com", "apiKeys": ["k-1"]`, "127.0.0.1"],
        [`"apiKeys": ["k-2"]`, "0.0.0.0"]
      ] as const) {
        const gateway = yield* AdminGateway.start({ configText: file(server), securityHost })
        assert.strictEqual(yield* editorOf(gateway), "no-commands", server)
        const added = yield* put(gateway, file(server, `, "more": { "command": "true", "enabled": false }`))
        const message = yield* refusedWith(added, "config_commands_locked")
        assert.include(message, 'server "more"')
      }
    }).pipe(Effect.scoped)
  )

  it.live('"read-only" refuses every save; reading and reloading the file still work', () =>
    Effect.gen(function* () {
      const original = file(`"configEditor": "read-only"`)
      const gateway = yield* AdminGateway.start({ configText: original })
      assert.strictEqual(yield* editorOf(gateway), "read-only")
      const message = yield* refusedWith(yield* put(gateway, original), "config_read_only")
      assert.include(message, "read-only")
      const reload = yield* gateway.request("/admin/api/mcp/reload", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(reload.status, 200, reload.text)
    }).pipe(Effect.scoped)
  )
})
