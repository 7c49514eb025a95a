// biome-ignore-all lint/suspicious/noTemplateCurlyInString: strings with ${ are the point of this test
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Result } from "effect"
import * as fc from "fast-check"
import type { AuthConfig, McpgateConfig, ServerConfig, ToolFilter } from "../src/Config.ts"
import { ConfigFile, decodeText, encodeText } from "../src/ConfigFile.ts"
import { reveal } from "./support/Reveal.ts"

/** `{ key: value }` when defined, else `{}` (the model has optional keys, never undefined values). */
const opt = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => {
  const out: Partial<Record<K, V>> = {}
  if (value !== undefined) out[key] = value
  return out
}
const maybe = <A>(arb: fc.Arbitrary<A>) => fc.option(arb, { nil: undefined })

// Strings mixing any Unicode with the interpolation syntax, which must survive literally.
const tricky = fc.constantFrom(
  "${",
  "$${",
  "$$",
  "$",
  "}",
  "${env:HOME}",
  "${HOME}",
  "\\",
  '"',
  "\n",
  "_",
  "é",
  "🦀"
)
const text = fc
  .array(fc.oneof(fc.string({ unit: "grapheme", maxLength: 6 }), tricky), { maxLength: 4 })
  .map((parts) => parts.join(""))
const nonEmptyText = text.filter((s) => s.length > 0)

// `_`-prefixed names are comments, so a server cannot have one.
const serverName = fc
  .oneof(
    nonEmptyText,
    fc.constantFrom("notion", "ünïcödé", "日本語", "a.b", "my server", "constructor", "toString")
  )
  .filter((name) => !name.startsWith("_"))

const httpUrl = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.constantFrom("https://mcp.example.com/${x}/ü", "http://127.0.0.1:3001/sse?a=$${b}")
)
const seconds = fc.double({ min: Number.MIN_VALUE, max: 1e9, noNaN: true, noDefaultInfinity: true })
// Keys of data maps may be anything valid, including "__proto__".
const headerName = fc.oneof(fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/), fc.constant("__proto__"))
const headerValue = text.filter((s) => !/[\r\n\0]/.test(s))
const envName = fc.oneof(
  nonEmptyText.filter((s) => !/[=\0]/.test(s)),
  fc.constantFrom("__proto__", "_PRIVATE", "constructor")
)
const scope = fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,10}$/)

/** Secrets decode to `Redacted` (the config's `secret: true` fields). */
const secret = (value: string) => Redacted.make(value)

const record = <V>(key: fc.Arbitrary<string>, value: fc.Arbitrary<V>) =>
  fc
    .uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 3 })
    .map((entries) => Object.fromEntries(entries))

const tools: fc.Arbitrary<ToolFilter> = fc
  .tuple(maybe(fc.array(nonEmptyText, { maxLength: 3 })), maybe(fc.array(nonEmptyText, { maxLength: 3 })))
  .map(([allow, deny]) => ({ ...opt("allow", allow), ...opt("deny", deny) }))

const auth: fc.Arbitrary<AuthConfig> = fc
  .record({
    clientId: maybe(nonEmptyText),
    clientSecret: maybe(nonEmptyText.map(secret)),
    clientMetadataUrl: maybe(httpUrl),
    authServerMetadataUrl: maybe(httpUrl),
    authorizationUrl: maybe(httpUrl),
    tokenUrl: maybe(httpUrl),
    deviceAuthorizationUrl: maybe(httpUrl),
    scopes: maybe(fc.array(scope, { maxLength: 3 })),
    resource: fc.oneof(fc.constantFrom("auto", "omit"), fc.webUrl()),
    audience: maybe(nonEmptyText),
    flow: fc.constantFrom("pkce", "device", "client_credentials"),
    privateKey: maybe(nonEmptyText.map(secret)),
    signingAlgorithm: fc.constantFrom("RS256", "PS384", "ES256", "EdDSA"),
    callbackPort: maybe(fc.integer({ min: 1, max: 65535 })),
    redirectUri: maybe(httpUrl),
    allowHttp: fc.boolean()
  })
  .map((a) => ({
    type: "oauth2",
    ...opt("clientId", a.clientId),
    ...opt("clientSecret", a.clientSecret),
    ...opt("clientMetadataUrl", a.clientMetadataUrl),
    ...opt("authServerMetadataUrl", a.authServerMetadataUrl),
    ...opt("authorizationUrl", a.authorizationUrl),
    ...opt("tokenUrl", a.tokenUrl),
    ...opt("deviceAuthorizationUrl", a.deviceAuthorizationUrl),
    ...opt("scopes", a.scopes),
    resource: a.resource,
    ...opt("audience", a.audience),
    flow: a.flow,
    ...opt("privateKey", a.privateKey),
    signingAlgorithm: a.signingAlgorithm,
    ...opt("callbackPort", a.callbackPort),
    ...opt("redirectUri", a.redirectUri),
    allowHttp: a.allowHttp
  }))

const common = fc.record({ enabled: fc.boolean(), timeout: maybe(seconds), tools: maybe(tools) })

const stdioServer = fc
  .record({
    command: nonEmptyText,
    args: fc.array(text, { maxLength: 3 }),
    env: record(envName, text),
    cwd: maybe(nonEmptyText),
    common
  })
  .map(
    (s): Omit<ServerConfig, "name"> => ({
      transport: "stdio",
      command: s.command,
      args: s.args,
      env: s.env,
      ...opt("cwd", s.cwd),
      headers: {},
      enabled: s.common.enabled,
      ...opt("timeout", s.common.timeout),
      ...opt("tools", s.common.tools)
    })
  )

const httpServer = fc
  .record({
    transport: fc.constantFrom("auto", "sse", "streamable-http"),
    url: httpUrl,
    headers: record(headerName, headerValue),
    auth: maybe(auth),
    common
  })
  .map(
    (s): Omit<ServerConfig, "name"> => ({
      transport: s.transport,
      args: [],
      env: {},
      url: s.url,
      headers: s.headers,
      enabled: s.common.enabled,
      ...opt("timeout", s.common.timeout),
      ...opt("tools", s.common.tools),
      ...opt("auth", s.auth)
    })
  )

const servers = fc
  .uniqueArray(fc.tuple(serverName, fc.oneof(stdioServer, httpServer)), {
    selector: ([name]) => name,
    maxLength: 4
  })
  .map((entries) => Object.fromEntries(entries.map(([name, server]) => [name, { name, ...server }])))

const config: fc.Arbitrary<McpgateConfig> = fc
  .record({
    mcpServers: servers,
    maxToolCalls: fc.integer({ min: 1, max: 1000 }),
    store: fc.oneof(
      fc.constant({ type: "local" as const }),
      fc.record({
        type: fc.constant("postgres" as const),
        url: fc.constantFrom("postgres://u:p@db.example:5432/mcpgate", "postgresql://db/mcpgate").map(secret)
      })
    ),
    defaultTimeout: seconds,
    fetch: fc.record({ enabled: fc.boolean(), allowPrivateNetwork: fc.boolean() }),
    webSearch: fc.oneof(
      fc.record({
        enabled: fc.boolean(),
        provider: fc.constant("duckduckgo" as const),
        endpoint: maybe(httpUrl)
      }),
      fc.record({ enabled: fc.boolean(), provider: fc.constant("searxng" as const), endpoint: httpUrl })
    ),
    host: nonEmptyText,
    port: fc.integer({ min: 0, max: 65535 }),
    publicUrl: maybe(httpUrl),
    adminToken: maybe(nonEmptyText.map(secret)),
    apiKeys: maybe(fc.array(nonEmptyText.map(secret), { maxLength: 3 })),
    upstream: maybe(fc.record({ baseUrl: httpUrl, apiKey: maybe(text.map(secret)) })),
    configEditor: maybe(fc.constantFrom("full" as const, "no-commands" as const, "read-only" as const))
  })
  .map((c) => ({
    mcpServers: c.mcpServers,
    maxToolCalls: c.maxToolCalls,
    defaultTimeout: c.defaultTimeout,
    store: c.store,
    builtins: {
      fetch: c.fetch,
      webSearch: {
        enabled: c.webSearch.enabled,
        provider: c.webSearch.provider,
        ...opt("endpoint", c.webSearch.endpoint)
      }
    },
    server: {
      host: c.host,
      port: c.port,
      ...opt("publicUrl", c.publicUrl),
      ...opt("adminToken", c.adminToken),
      ...opt("apiKeys", c.apiKeys),
      ...opt("configEditor", c.configEditor),
      ...opt(
        "upstream",
        c.upstream === undefined
          ? undefined
          : { baseUrl: c.upstream.baseUrl, ...opt("apiKey", c.upstream.apiKey) }
      )
    }
  }))

describe("ConfigFile round trip", () => {
  it("encodeText then decodeText gives back any valid config", () => {
    fc.assert(
      fc.property(config, (c) => {
        const decoded = decodeText(encodeText(c), { file: "roundtrip.json", env: {} })
        if (Result.isFailure(decoded)) assert.fail(decoded.failure.message)
        assert.deepStrictEqual(reveal(decoded.success), reveal(c))
      }),
      { seed: 20261126, numRuns: 500 }
    )
  })

  it.effect("save then load gives back any valid config (200 runs in a temp dir)", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "mcpgate-roundtrip-"))),
        (d) => Effect.promise(() => NodeFs.rm(d, { recursive: true, force: true }))
      )
      const env = { HOME: dir, MCPGATE_HOME: NodePath.join(dir, "home") }
      const file = yield* ConfigFile.pipe(Effect.provide(ConfigFile.layerWith({ env, cwd: dir })))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(config, async (c) => {
            await Effect.runPromise(file.save(c))
            const loaded = await Effect.runPromise(file.reload)
            assert.deepStrictEqual(reveal(loaded.config), reveal(c))
          }),
          { seed: 20261126, numRuns: 200 }
        )
      )
    })
  )

  it("the generator covers the tricky cases", () => {
    const samples = fc.sample(config, { seed: 20261126, numRuns: 300 })
    const json = JSON.stringify(samples)
    assert.include(json, "$${")
    assert.isTrue(samples.some((c) => Object.keys(c.mcpServers).some((name) => /\P{ASCII}/u.test(name))))
    assert.isTrue(samples.some((c) => Object.values(c.mcpServers).some((s) => s.auth?.scopes !== undefined)))
    assert.isTrue(
      samples.some((c) => Object.values(c.mcpServers).some((s) => Object.hasOwn(s.env, "__proto__")))
    )
    assert.isTrue(
      samples.some((c) => Object.values(c.mcpServers).some((s) => Object.hasOwn(s.headers, "__proto__")))
    )
  })
})
