/**
 * What the declarations in src/Config.ts add beyond the file tests: the
 * `server.configEditor` setting, and the defaults read from the declarations.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaults } from "../src/Config.ts"
import { emptyConfig, encodeText, parse, toFileShape } from "../src/ConfigFile.ts"

describe("server.configEditor", () => {
  it.effect("accepts full, no-commands and read-only, and is absent by default (the server decides)", () =>
    Effect.gen(function* () {
      for (const value of ["full", "no-commands", "read-only"] as const) {
        const config = yield* parse(`{ "server": { "configEditor": "${value}" } }`, "mcpgate.json")
        assert.strictEqual(config.server.configEditor, value)
        const again = yield* parse(encodeText(config), "again.json")
        assert.strictEqual(again.server.configEditor, value)
      }
      const none = yield* parse("{}", "mcpgate.json")
      assert.isFalse(Object.hasOwn(none.server, "configEditor"))
      assert.isFalse(Object.hasOwn(toFileShape(none).server as object, "configEditor"))
    })
  )

  it.effect("anything else names the path and the choices", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parse('{ "server": { "configEditor": "readonly" } }', "mcpgate.json"))
      assert.strictEqual(error.path, "server.configEditor")
      assert.strictEqual(
        error.message,
        'mcpgate.json:1:31 server.configEditor: expected one of "full", "no-commands" or "read-only"'
      )
      const typo = yield* Effect.flip(parse('{ "server": { "configEdit": "full" } }', "mcpgate.json"))
      assert.include(typo.message, 'unknown key (did you mean "configEditor"?)')
    })
  )
})

describe("defaults", () => {
  it("come from the declarations: the empty config and `defaults` agree", () => {
    assert.strictEqual(emptyConfig.maxToolCalls, defaults.maxToolCalls)
    assert.strictEqual(emptyConfig.defaultTimeout, defaults.defaultTimeout)
    assert.strictEqual(emptyConfig.server.host, defaults.host)
    assert.strictEqual(emptyConfig.server.port, defaults.port)
    assert.deepStrictEqual(defaults, {
      maxToolCalls: 10,
      defaultTimeout: 30,
      host: "127.0.0.1",
      port: 8808,
      signingAlgorithm: "RS256",
      resource: "auto",
      flow: "pkce"
    })
  })
})
