// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${env:…}` references are part of the input space
/**
 * Fuzzing the config parser (docs/configuration.md): whatever the text, `decodeText` returns a
 * config or a `ConfigError` whose issues point inside the text; it never
 * throws, never pollutes `Object.prototype`, and every config it accepts
 * survives `encodeText` → `decodeText` unchanged.
 *
 * Fixed seed and bounded runs in the normal suite; a longer run on demand:
 *   FUZZ_RUNS=100000 node_modules/.bin/vitest run --config vitest.workspace.ts packages/core/test/FuzzConfig.test.ts
 * (FUZZ_SEED=<n> explores another part of the space.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import { type ConfigError, decodeText, encodeText } from "../src/ConfigFile.ts"
import { reveal } from "./support/Reveal.ts"

const longRun = process.env.FUZZ_RUNS !== undefined
const runs = (normal: number) => (longRun ? Number(process.env.FUZZ_RUNS) : normal)
const params = (normal: number) => ({
  seed: Number(process.env.FUZZ_SEED ?? 20_260_701),
  numRuns: runs(normal)
})
const timeout = longRun ? 24 * 60 * 60_000 : 10_000

const env = { HOME: "/home/fuzz", TOKEN: "t0k3n", EMPTY: "", "WEIRD NAME": "w" }

/** What must hold for any outcome of `decodeText(text)`. */
const checkOutcome = (text: string) => {
  const decoded = decodeText(text, { file: "fuzz.json", env })
  assert.isUndefined(({} as Record<string, unknown>).polluted, "Object.prototype was polluted")
  if (Result.isSuccess(decoded)) {
    // Whatever was accepted reads back the same after being written out.
    const again = decodeText(encodeText(decoded.success), { file: "again.json", env: {} })
    if (Result.isFailure(again))
      assert.fail(`the written config does not read back: ${again.failure.message}`)
    assert.deepStrictEqual(reveal(again.success), reveal(decoded.success))
    return
  }
  const error: ConfigError = decoded.failure
  assert.strictEqual(error._tag, "ConfigError")
  assert.isAbove(error.message.length, 0)
  assert.notInclude(error.message, "\n", "the headline is one line")
  assert.isAbove(error.issues.length, 0)
  const lines = text.split(/\r\n|\r|\n/).length
  for (const issue of error.issues) {
    assert.isString(issue.path)
    assert.isAbove(issue.message.length, 0)
    if (issue.line !== undefined) {
      assert.isTrue(
        Number.isInteger(issue.line) && issue.line >= 1 && issue.line <= lines,
        `line ${issue.line}`
      )
      assert.isTrue(Number.isInteger(issue.column) && (issue.column ?? 0) >= 1, `column ${issue.column}`)
    }
  }
}

// Pieces a config is made of, so random texts look enough like configs to get past the parser.
const knownKeys = [
  "mcpServers",
  "servers",
  "maxToolCalls",
  "max_tool_calls",
  "defaultTimeout",
  "default_timeout",
  "builtins",
  "server",
  "command",
  "args",
  "env",
  "cwd",
  "url",
  "headers",
  "type",
  "transport",
  "enabled",
  "timeout",
  "tools",
  "allow",
  "deny",
  "auth",
  "clientId",
  "client_id",
  "clientSecret",
  "scopes",
  "resource",
  "flow",
  "callbackPort",
  "allowHttp",
  "fetch",
  "webSearch",
  "provider",
  "endpoint",
  "host",
  "port",
  "apiKeys",
  "adminToken",
  "publicUrl",
  "upstream",
  "baseUrl",
  "apiKey",
  "_comment",
  "__proto__",
  "constructor",
  "toString"
]
const key = fc.oneof(fc.constantFrom(...knownKeys), fc.string({ maxLength: 8 }))
const scalar = fc.oneof(
  fc.constantFrom(
    "stdio",
    "sse",
    "http",
    "streamable-http",
    "oauth2",
    "pkce",
    "device",
    "client_credentials",
    "auto",
    "omit",
    "https://mcp.example.com/mcp",
    "http://127.0.0.1:3001/sse",
    "${env:TOKEN}",
    "${TOKEN}",
    "${env:MISSING}",
    "${env:}",
    "$${env:TOKEN}",
    "${",
    "npx",
    "",
    "*",
    "a*b"
  ),
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -2, max: 70_000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null)
)
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 5 })
  )
})).value
const almostConfig = fc.record(
  {
    mcpServers: fc.dictionary(
      fc.oneof(
        fc.constantFrom("notion", "a.b", "my server", "__proto__", "builtin"),
        fc.string({ maxLength: 6 })
      ),
      fc.dictionary(key, value, { maxKeys: 6 }),
      { maxKeys: 3 }
    ),
    servers: fc.dictionary(fc.string({ maxLength: 6 }), fc.dictionary(key, value, { maxKeys: 4 }), {
      maxKeys: 2
    }),
    maxToolCalls: scalar,
    defaultTimeout: scalar,
    builtins: value,
    server: fc.dictionary(key, value, { maxKeys: 6 }),
    extra: fc.dictionary(key, value, { maxKeys: 2 })
  },
  { requiredKeys: [] }
)

// Valid configs, then the same with one random key set somewhere: most mutations are
// refused, some are accepted, so both the errors and the write-back are exercised.
const serverName = fc.oneof(
  fc.constantFrom("notion", "a.b", "my server", "日本"),
  fc.string({ minLength: 1, maxLength: 6 })
)
const word = fc.string({ unit: fc.constantFrom("a", "b", "-", "_", ".", "é", " ", "$", "{"), maxLength: 8 })
const stdioServer = fc.record(
  {
    command: fc.constantFrom("npx", "node", "/usr/bin/env"),
    args: fc.array(word, { maxLength: 3 }),
    env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,6}$/), fc.oneof(word, fc.constant("${env:TOKEN}"))),
    enabled: fc.boolean(),
    timeout: fc.integer({ min: 1, max: 600 })
  },
  { requiredKeys: ["command"] }
)
const httpServer = fc.record(
  {
    url: fc.constantFrom(
      "https://mcp.example.com/mcp",
      "http://127.0.0.1:3001/sse",
      "https://x.example/${env:TOKEN}"
    ),
    type: fc.constantFrom("sse", "http", "streamable-http"),
    headers: fc.dictionary(fc.stringMatching(/^[A-Za-z-]{1,8}$/), word, { maxKeys: 2 }),
    tools: fc.record({ allow: fc.array(word, { maxLength: 2 }), deny: fc.array(word, { maxLength: 2 }) }),
    auth: fc.record(
      {
        type: fc.constant("oauth2"),
        scopes: fc.array(fc.stringMatching(/^[a-z:]{1,8}$/), { maxLength: 3 }),
        flow: fc.constantFrom("pkce", "device", "client_credentials"),
        clientId: word,
        resource: fc.constantFrom("auto", "omit", "https://mcp.example.com/mcp")
      },
      { requiredKeys: ["type"] }
    )
  },
  { requiredKeys: ["url"] }
)
const validConfig = fc.record(
  {
    mcpServers: fc.dictionary(serverName, fc.oneof(stdioServer, httpServer), { maxKeys: 3 }),
    maxToolCalls: fc.integer({ min: 1, max: 50 }),
    defaultTimeout: fc.integer({ min: 1, max: 300 }),
    server: fc.record(
      { host: fc.constant("127.0.0.1"), port: fc.integer({ min: 0, max: 65_535 }) },
      { requiredKeys: [] }
    ),
    _comment: word
  },
  { requiredKeys: ["mcpServers"] }
)

/** Sets `key` to `value` in the object that `steps` lead to (own property, even for `__proto__`). */
const mutate = (root: unknown, steps: ReadonlyArray<number>, key: string, value: unknown): unknown => {
  const copy = structuredClone(root)
  let target: unknown = copy
  for (const step of steps) {
    if (typeof target !== "object" || target === null) break
    const children = Object.values(target).filter((child) => typeof child === "object" && child !== null)
    const next = children[step % Math.max(1, children.length)]
    if (next === undefined) break
    target = next
  }
  if (typeof target === "object" && target !== null) {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return copy
}

const document = fc.oneof(
  validConfig,
  fc
    .tuple(validConfig, fc.array(fc.nat(), { maxLength: 4 }), key, value)
    .map(([config, steps, k, v]) => mutate(config, steps, k, v)),
  almostConfig
)

/** JSON text with JSONC noise: comments and trailing commas where the format allows them. */
const jsoncText = (input: unknown, noise: ReadonlyArray<number>): string => {
  let i = 0
  const pick = () => noise[i++ % Math.max(1, noise.length)] ?? 0
  return (JSON.stringify(input, null, 2) ?? "null")
    .split("\n")
    .map((line) => {
      const n = pick()
      if (n === 1) return `${line} // comment`
      if (n === 2) return `/* c */ ${line}`
      if (n === 3 && /[}\]"\d]$/.test(line)) return `${line},`
      return line
    })
    .join("\n")
}

describe("fuzzing the config parser", () => {
  it(
    "any text: a config or a ConfigError whose issues point inside the text",
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 300 }), fc.json()), checkOutcome),
        params(1500)
      )
    },
    timeout
  )

  it(
    "config-shaped documents with random values, unknown keys, references and JSONC noise",
    () => {
      fc.assert(
        fc.property(document, fc.array(fc.nat(5), { maxLength: 40 }), (input, noise) =>
          checkOutcome(jsoncText(input, noise))
        ),
        params(800)
      )
    },
    timeout
  )

  it(
    "a valid config cut anywhere, or with one character changed, fails cleanly",
    () => {
      const valid = `{
  // a realistic file
  "mcpServers": {
    "notion": { "url": "https://mcp.notion.com/mcp", "auth": { "type": "oauth2", "scopes": ["read"] } },
    "everything": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "env": { "A": "\${env:TOKEN}" } }
  },
  "maxToolCalls": 10,
  "server": { "host": "127.0.0.1", "port": 8808, "upstream": { "baseUrl": "http://127.0.0.1:11434/v1" } },
}`
      checkOutcome(valid)
      assert.isTrue(Result.isSuccess(decodeText(valid, { file: "valid.json", env })))
      fc.assert(
        fc.property(
          fc.nat(valid.length),
          fc.nat(valid.length - 1),
          fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
          (cut, at, replacement) => {
            checkOutcome(valid.slice(0, cut))
            checkOutcome(`${valid.slice(0, at)}${replacement}${valid.slice(at + 1)}`)
          }
        ),
        params(1500)
      )
    },
    timeout
  )

  it("the documents reach the validator: some are accepted, most are refused for what they hold", () => {
    const samples = fc.sample(fc.tuple(document, fc.array(fc.nat(5), { maxLength: 40 })), {
      seed: 20_260_701,
      numRuns: 500
    })
    const outcomes = samples.map(([input, noise]) => decodeText(jsoncText(input, noise), { file: "f", env }))
    const accepted = outcomes.filter(Result.isSuccess).length
    const refusedInside = outcomes.filter(
      (outcome) => Result.isFailure(outcome) && outcome.failure.issues.some((issue) => issue.path !== "$")
    ).length
    assert.isAbove(accepted, 50, `accepted ${accepted} of 500`)
    assert.isAbove(refusedInside, 100, `refused at a path ${refusedInside} of 500`)
  })

  it("a __proto__ key is data, never the prototype", () => {
    const text =
      '{"__proto__": {"polluted": true}, "mcpServers": {"__proto__": {"command": "x", "polluted": 1}}}'
    checkOutcome(text)
    assert.isUndefined(({} as Record<string, unknown>).polluted)
  })
})
