/**
 * The admin API and `/v1/mcp/*` through effect's typed client (`HttpApiClient`),
 * built from the same http-api groups as the handlers (src/api/): every answer
 * decodes with the groups' schemas, and every refusal comes back as the class
 * of its status with its code, `WWW-Authenticate` and `Retry-After` included.
 */
import { randomBytes } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { httpTestServer } from "@mcpgate/testing/HttpTestServer"
import { Effect } from "effect"
import * as ApiErrors from "../src/api/ApiErrors.ts"
import * as AdminApiClient from "./support/AdminApiClient.ts"
import * as AdminGateway from "./support/AdminGateway.ts"

const apiKey = `sk-test-${randomBytes(12).toString("hex")}`

const configText = (mcpUrl: string) => `{
  "mcpServers": { "alpha": { "url": "${mcpUrl}", "transport": "streamable-http" } },
  "defaultTimeout": 5,
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  "server": { "apiKeys": ["\${env:TEST_API_KEY}"] }
}
`

const setup = (options: { readonly signInFailures?: number } = {}) =>
  Effect.gen(function* () {
    const mcp = yield* httpTestServer()
    const text = configText(`${mcp.base("")}/mcp`)
    const gateway = yield* AdminGateway.start({
      configText: text,
      env: { TEST_API_KEY: apiKey },
      ...(options.signInFailures === undefined ? {} : { signInFailures: options.signInFailures })
    })
    yield* gateway.manager
      .awaitStatus((all) => all.some((status) => status.name === "alpha" && status.state === "connected"))
      .pipe(Effect.timeout("10 seconds"))
    return { gateway, text }
  })

describe("the typed admin client", () => {
  it.live("lists and reconnects servers; a refusal is the class of its status with its code", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      const client = yield* AdminApiClient.make(gateway)

      const { servers, builtinTools } = yield* client.servers.list()
      assert.deepStrictEqual(
        servers.map((server) => [server.name, server.state, server.auth.state]),
        [["alpha", "connected", "not-required"]]
      )
      assert.deepStrictEqual(
        servers[0]?.tools.map((tool) => tool.publicName),
        ["alpha__echo", "alpha__slow", "alpha__whoami"]
      )
      assert.deepStrictEqual(builtinTools, [])

      const reconnected = yield* client.servers.reconnect({ params: { name: "alpha" } })
      assert.isTrue(reconnected.ok)
      assert.strictEqual(reconnected.server.name, "alpha")

      const ghost = yield* Effect.flip(client.servers.reconnect({ params: { name: "ghost" } }))
      assert.instanceOf(ghost, ApiErrors.NotFound)
      assert.strictEqual(ghost._tag === "NotFound" ? ghost.code : undefined, "server_not_found")

      const noCredential = yield* Effect.flip(client.servers.logout({ params: { name: "alpha" } }))
      assert.instanceOf(noCredential, ApiErrors.Conflict)
      assert.strictEqual(noCredential._tag === "Conflict" ? noCredential.code : undefined, "no_credential")

      const noOAuth = yield* Effect.flip(client.servers.authenticate({ params: { name: "alpha" } }))
      assert.instanceOf(noOAuth, ApiErrors.BadRequest)
      assert.strictEqual(noOAuth._tag === "BadRequest" ? noOAuth.code : undefined, "oauth_not_configured")
    }).pipe(Effect.scoped)
  )

  it.live("edits the config: a save with its hash, a stale hash, a broken text with issues, a reload", () =>
    Effect.gen(function* () {
      const { gateway, text } = yield* setup()
      const client = yield* AdminApiClient.make(gateway)
      const loaded = yield* client.config.get()
      assert.strictEqual(loaded.text, text)
      assert.strictEqual(loaded.editor, "full")
      assert.match(loaded.hash, /^[0-9a-f]{64}$/)

      const edited = text.replace('"defaultTimeout": 5', '"defaultTimeout": 6')
      const saved = yield* client.config.put({ payload: { text: edited, baseHash: loaded.hash } })
      assert.deepStrictEqual(saved, { ok: true, path: gateway.configPath, restartRequired: false })

      const stale = yield* Effect.flip(client.config.put({ payload: { text, baseHash: loaded.hash } }))
      assert.instanceOf(stale, ApiErrors.Conflict)
      assert.strictEqual(stale._tag === "Conflict" ? stale.code : undefined, "config_changed")

      const broken = yield* Effect.flip(client.config.put({ payload: { text: '{\n  "mcpServers": {\n' } }))
      assert.instanceOf(broken, ApiErrors.BadRequest)
      const issues = broken._tag === "BadRequest" ? broken.issues : undefined
      assert.strictEqual(broken._tag === "BadRequest" ? broken.code : undefined, "invalid_config")
      assert.isAbove(issues?.length ?? 0, 0)
      assert.isNumber(issues?.[0]?.line)

      const reloaded = yield* client.config.reload()
      assert.deepStrictEqual(reloaded, { ok: true, path: gateway.configPath, restartRequired: false })
    }).pipe(Effect.scoped)
  )

  it.live(
    "signs in for a session; a wrong token is a 401 with its challenge, then a 429 with Retry-After",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ signInFailures: 2 })
        const client = yield* AdminApiClient.make(gateway)
        assert.deepStrictEqual(yield* client.session.open({ payload: { token: gateway.adminToken } }), {
          ok: true
        })

        const stranger = yield* AdminApiClient.make(gateway, "wrong-token")
        const refused = yield* Effect.flip(stranger.servers.list())
        assert.instanceOf(refused, ApiErrors.Unauthorized)
        if (refused._tag !== "Unauthorized") return
        assert.strictEqual(refused.code, "invalid_admin_token")
        assert.strictEqual(refused.challenge, 'Bearer realm="mcpgate-admin"')

        yield* Effect.flip(stranger.servers.list())
        const limited = yield* Effect.flip(stranger.servers.list())
        assert.instanceOf(limited, ApiErrors.TooManyRequests)
        if (limited._tag !== "TooManyRequests") return
        assert.strictEqual(limited.code, "too_many_failed_sign_ins")
        assert.isTrue(limited.retryAfter >= 1 && limited.retryAfter <= 60, String(limited.retryAfter))
      }).pipe(Effect.scoped)
  )
})

describe("the typed admin client, activity", () => {
  it.live("reads the last hour's tool activity; without the admin token it is a 401", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      for (let index = 0; index < 3; index++)
        yield* gateway.manager.call("alpha__echo", { text: `call ${index}` })
      const client = yield* AdminApiClient.make(gateway)
      const report = yield* client.activity.recent()
      assert.strictEqual(report.windowMinutes, 60)
      const echo = report.tools.find((tool) => tool.server === "alpha" && tool.tool === "echo")
      assert.isDefined(echo)
      assert.isAtLeast(echo?.calls ?? 0, 3)
      assert.isTrue(echo !== undefined && echo.p50 !== null && echo.p50 > 0)
      const stranger = yield* AdminApiClient.make(gateway, "wrong-token")
      const refused = yield* Effect.flip(stranger.activity.recent())
      assert.instanceOf(refused, ApiErrors.Unauthorized)
    }).pipe(Effect.scoped)
  )
})

describe("the typed /v1/mcp client", () => {
  it.live("lists tools and servers and runs a tool with a key; without one it is a 401", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      const client = yield* AdminApiClient.mcpJson(gateway, apiKey)
      const { tools } = yield* client.mcp.tools()
      assert.includeMembers(
        tools.map((tool) => tool.name),
        ["alpha__echo", "alpha__slow", "alpha__whoami"]
      )
      const { servers } = yield* client.mcp.servers()
      assert.deepStrictEqual(
        servers.map((server) => [server.name, server.state]),
        [["alpha", "connected"]]
      )
      const executed = yield* client.mcp.execute({
        payload: { tool_name: "alpha__echo", arguments: { text: "typed" } }
      })
      assert.deepStrictEqual(executed, { tool_name: "alpha__echo", content: "typed", is_error: false })

      const unknown = yield* Effect.flip(client.mcp.execute({ payload: { tool_name: "nope__nope" } }))
      assert.instanceOf(unknown, ApiErrors.NotFound)
      assert.strictEqual(unknown._tag === "NotFound" ? unknown.code : undefined, "unknown_tool")

      const anonymous = yield* AdminApiClient.mcpJson(gateway)
      const refused = yield* Effect.flip(anonymous.mcp.tools())
      assert.instanceOf(refused, ApiErrors.Unauthorized)
      if (refused._tag !== "Unauthorized") return
      assert.strictEqual(refused.code, "invalid_api_key")
      assert.strictEqual(refused.challenge, 'Bearer realm="mcpgate"')
    }).pipe(Effect.scoped)
  )
})
