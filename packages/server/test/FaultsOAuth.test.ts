/**
 * Faults on the authorization server, seen through the whole gateway: it goes
 * down, or turns slow, exactly when the access token needs a refresh. The
 * credential must survive, calls must say what is wrong (and not "log in"),
 * and everything must work again once the server is back, without a login.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import * as Configs from "@mcpgate/testing/Configs"
import { allIssuedTokens, leakedTokens, logCapture, logLines, serverConfig } from "@mcpgate/testing/Harness"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import { Effect, Redacted } from "effect"
import * as FaultGateway from "./support/FaultGateway.ts"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...FaultGateway.allBodies]), [])
})

/** An authorization server in front of a protected MCP server, the gateway logged in to it. */
const setup = (fields: { readonly timeout?: number } = {}) =>
  Effect.gen(function* () {
    let resource = ""
    const as = yield* AuthServer.start({ resource: () => resource })
    const mcp = yield* ProtectedMcpServer.start({ issuer: () => as.issuer })
    resource = mcp.url
    const home = yield* FaultGateway.tempHome
    const server = serverConfig("protected", mcp.url, {})
    const configured = fields.timeout === undefined ? server : { ...server, timeout: fields.timeout }
    yield* FaultGateway.login(home, configured)
    const gateway = yield* FaultGateway.start(Configs.gateway([configured]), home)
    yield* FaultGateway.eventually(
      async () => ((await gateway.serverState("protected")).state === "connected" ? true : undefined),
      "the protected server to connect"
    )
    return { as, mcp, home, server: configured, gateway }
  })

const whoami = "protected__whoami"

describe("the authorization server fails during a refresh", () => {
  it.live(
    "down: calls fail saying so (not 'log in'), the credential is kept, and the first call after it is back works",
    () =>
      Effect.gen(function* () {
        const { as, home, server, gateway } = yield* setup()
        assert.strictEqual((yield* Effect.promise(() => gateway.execute(whoami))).status, 200)
        const before = yield* FaultGateway.storedCredential(home, server)

        yield* FaultGateway.expireStoredToken(home, server)
        as.unavailable = true
        const refused = yield* Effect.promise(() => gateway.execute(whoami))
        // A gateway-side failure (502), not "needs login" (409): the refresh token is fine, the server is away.
        assert.strictEqual(refused.status, 502, refused.text)
        assert.strictEqual((refused.json as { error: { code: string } }).error.code, "transport")
        assert.notMatch(refused.text, /mcpgate login/)
        assert.match(
          refused.text,
          /refreshing the token at http:\/\/127\.0\.0\.1:\d+\/token failed: HTTP 503/
        )
        assert.notStrictEqual(
          (yield* Effect.promise(() => gateway.serverState("protected"))).state,
          "needs_auth"
        )

        // The refresh token survived the failed refresh.
        const kept = yield* FaultGateway.storedCredential(home, server)
        assert.isDefined(kept?.tokens?.refreshToken)
        assert.strictEqual(
          Redacted.value(kept?.tokens?.refreshToken ?? Redacted.make("")),
          Redacted.value(before?.tokens?.refreshToken ?? Redacted.make("-"))
        )

        as.unavailable = false
        const back = yield* FaultGateway.eventually(async () => {
          const reply = await gateway.execute(whoami)
          return reply.status === 200 ? reply : undefined
        }, "a successful call once the authorization server is back")
        assert.deepStrictEqual(back.json, { tool_name: whoami, content: "hello test-user", is_error: false })
        assert.strictEqual(as.countGrants("authorization_code"), 1, "no new login was needed")
        assert.isAtLeast(as.countGrants("refresh_token"), 1)
      }).pipe(Effect.provide(logCapture), Effect.scoped),
    30_000
  )

  it.live(
    "slow: calls that give up waiting do not cancel the refresh; one refresh serves every later call",
    () =>
      Effect.gen(function* () {
        // The MCP call timeout (1 s) is shorter than the token endpoint's delay (2.5 s).
        const { as, home, server, gateway } = yield* setup({ timeout: 1 })
        yield* FaultGateway.expireStoredToken(home, server)
        as.tokenDelayMillis = 2500
        const started = Date.now()
        const impatient = yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 5 }, () => gateway.execute(whoami)))
        )
        for (const reply of impatient) {
          assert.strictEqual(reply.status, 504, reply.text)
          assert.strictEqual((reply.json as { error: { code: string } }).error.code, "timeout")
        }
        // The refresh goes on in the background and completes once.
        yield* FaultGateway.eventually(
          async () => (as.countGrants("refresh_token") === 1 ? true : undefined),
          "the slow refresh to complete"
        )
        as.tokenDelayMillis = 0
        const after = yield* FaultGateway.eventually(async () => {
          const reply = await gateway.execute(whoami)
          return reply.status === 200 ? reply : undefined
        }, "a successful call after the slow refresh")
        assert.deepStrictEqual(after.json, { tool_name: whoami, content: "hello test-user", is_error: false })
        const more = yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 5 }, () => gateway.execute(whoami)))
        )
        assert.deepStrictEqual(
          more.map((reply) => reply.status),
          [200, 200, 200, 200, 200]
        )
        assert.strictEqual(as.countGrants("refresh_token"), 1, "one refresh for every caller")
        assert.strictEqual(as.countGrants("authorization_code"), 1)
        assert.isBelow(Date.now() - started, 15_000)
      }).pipe(Effect.provide(logCapture), Effect.scoped),
    30_000
  )

  it.live(
    "slow but within the call's time: concurrent calls wait for the one refresh and all succeed",
    () =>
      Effect.gen(function* () {
        const { as, home, server, gateway } = yield* setup()
        yield* FaultGateway.expireStoredToken(home, server)
        as.tokenDelayMillis = 800
        const replies = yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 20 }, () => gateway.execute(whoami)))
        )
        assert.deepStrictEqual(
          replies.map((reply) => reply.status),
          Array.from({ length: 20 }, () => 200)
        )
        assert.strictEqual(as.countGrants("refresh_token"), 1)
      }).pipe(Effect.provide(logCapture), Effect.scoped),
    30_000
  )
})

describe("the authorization server refuses the refresh", () => {
  it.live(
    "POST /v1/mcp/execute answers 409 needs_auth saying where to log in (a 401 would read as a bad gateway key)",
    () =>
      Effect.gen(function* () {
        const { as, home, server, gateway } = yield* setup()
        yield* FaultGateway.expireStoredToken(home, server)
        as.rewriteToken = (request) =>
          request.grantType === "refresh_token"
            ? { status: 400, body: { error: "invalid_grant" } }
            : undefined
        const response = yield* Effect.promise(() =>
          fetch(`${gateway.url}/v1/mcp/execute`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ tool_name: whoami })
          })
        )
        const text = yield* Effect.promise(() => response.text())
        FaultGateway.allBodies.push(text)
        assert.strictEqual(response.status, 409, text)
        // Only a refused API key is a 401 with a challenge on these routes.
        assert.isNull(response.headers.get("www-authenticate"))
        const error = (JSON.parse(text) as { error: { type: string; code: string; message: string } }).error
        assert.strictEqual(error.code, "needs_auth")
        assert.strictEqual(error.type, "tool_error")
        assert.include(error.message, "mcpgate login protected")
        assert.include(error.message, `the admin UI (${gateway.url}/admin)`)
      }).pipe(Effect.provide(logCapture), Effect.scoped),
    30_000
  )
})
