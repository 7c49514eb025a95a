import { afterAll, assert, describe, it } from "@effect/vitest"
import type { ServerConfig } from "@mcpgate/core/Config"
import { ClientRegistration, Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import {
  allIssuedTokens,
  errorTexts,
  failureOf,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { Clock, Effect, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { OAuthManager } from "../src/OAuthManager.ts"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
  assert.isAbove(allIssuedTokens.size, 0)
})

const stored = (server: ServerConfig) =>
  Effect.flatMap(CredentialStore, (store) => store.get({ server: server.name, url: server.url ?? "" })).pipe(
    Effect.map(Option.getOrThrow)
  )

/** Makes the stored access token look expired (as if time had passed). */
const expireStored = (server: ServerConfig) =>
  Effect.gen(function* () {
    const store = yield* CredentialStore
    const credential = yield* stored(server)
    const tokens = credential.tokens
    if (tokens === undefined) throw new Error("no tokens to expire")
    const now = yield* Clock.currentTimeMillis
    yield* store.set(
      new Credential({ ...credential, tokens: new TokenSet({ ...tokens, expiresAt: now - 1000 }) })
    )
  })

const bearer = (token: Redacted.Redacted<string>) => `Bearer ${Redacted.value(token)}`

describe("refresh", () => {
  it.effect("renews silently ahead of expiry, storing the rotated refresh token", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ accessTokenTtl: 3600 })
      const server = serverConfig("ahead", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const first = yield* manager.accessToken(server)
      const firstRefresh = (yield* stored(server)).tokens?.refreshToken

      // Two minutes before expiry (more than the 60 s margin plus 30 s jitter): no refresh.
      yield* TestClock.adjust("58 minutes")
      assert.strictEqual(Redacted.value(yield* manager.accessToken(server)), Redacted.value(first))
      assert.strictEqual(as.countGrants("refresh_token"), 0)

      // 50 s before expiry: refreshed without a login.
      yield* TestClock.adjust("70 seconds")
      const second = yield* manager.accessToken(server)
      assert.notStrictEqual(Redacted.value(second), Redacted.value(first))
      assert.strictEqual(as.countGrants("refresh_token"), 1)
      assert.deepStrictEqual(
        as.tokenRequests.filter((request) => request.grantType === "refresh_token").map((r) => r.resource),
        [mcp.url]
      )
      const after = yield* stored(server)
      assert.isDefined(after.tokens?.refreshToken)
      assert.notStrictEqual(
        Redacted.value(after.tokens?.refreshToken ?? Redacted.make("")),
        Redacted.value(firstRefresh ?? Redacted.make(""))
      )
      assert.strictEqual((yield* callTool(mcp.url, bearer(second), "whoami")).status, 200)
      // Until the next margin, the refreshed token is used as it is.
      assert.strictEqual(Redacted.value(yield* manager.accessToken(server)), Redacted.value(second))
      assert.strictEqual(as.countGrants("refresh_token"), 1)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("refreshes after a 401 during a session (the server revoked the token)", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = serverConfig("revoked", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const first = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(first), "whoami")).status, 200)

      mcp.revokedTokens.add(Redacted.value(first))
      const refused = yield* callTool(mcp.url, bearer(first), "whoami")
      assert.strictEqual(refused.status, 401)
      const retry = yield* manager.onUnauthorized(server, {
        wwwAuthenticate: refused.wwwAuthenticate,
        rejectedToken: first
      })
      assert.notStrictEqual(Redacted.value(retry), Redacted.value(first))
      assert.strictEqual((yield* callTool(mcp.url, bearer(retry), "whoami")).status, 200)
      assert.strictEqual(as.countGrants("refresh_token"), 1)
      assert.strictEqual(as.countGrants("authorization_code"), 1)

      // A second 401 for the old token (another request in flight) uses the new one: no refresh.
      const again = yield* manager.onUnauthorized(server, {
        wwwAuthenticate: refused.wwwAuthenticate,
        rejectedToken: first
      })
      assert.strictEqual(Redacted.value(again), Redacted.value(retry))
      assert.strictEqual(as.countGrants("refresh_token"), 1)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("1,000 concurrent callers on an expired token cause one refresh", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("crowd", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      yield* expireStored(server)
      const tokens = yield* Effect.forEach(
        Array.from({ length: 1000 }, (_, i) => i),
        () => manager.accessToken(server),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(as.countGrants("refresh_token"), 1)
      assert.strictEqual(new Set(tokens.map(Redacted.value)).size, 1)
      const [token] = tokens
      if (token === undefined) throw new Error("no token")
      assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("invalid_grant (a reused refresh token) means NeedsLogin; the registration is kept", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("reuse", mcp.url)
      const manager = yield* OAuthManager
      const store = yield* CredentialStore
      yield* manager.login(server)
      const original = yield* stored(server)
      yield* expireStored(server)
      yield* manager.accessToken(server)
      // Put the consumed refresh token back: the server detects the reuse and revokes the grant.
      yield* store.set(original)
      yield* expireStored(server)
      const error = yield* failureOf(manager.accessToken(server))
      assert.strictEqual(error._tag, "NeedsLogin")
      assert.include(error.message, "mcpgate login reuse")
      assert.deepStrictEqual(
        as.tokenRequests.filter((request) => request.grantType === "refresh_token").map((r) => r.error),
        [undefined, "invalid_grant"]
      )
      const after = yield* stored(server)
      assert.isUndefined(after.tokens)
      assert.strictEqual(after.registration?.clientId, original.registration?.clientId)
      assert.strictEqual((yield* manager.status(server)).state, "needs-login")
      // The next login reuses the registration.
      yield* manager.login(server)
      assert.strictEqual(as.registrations.length, 1)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("a server that forgot its clients: the client is registered again, then one login fixes it", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("amnesia", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const before = yield* stored(server)
      as.forgetClients()
      yield* expireStored(server)
      const error = yield* failureOf(manager.accessToken(server))
      assert.strictEqual(error._tag, "NeedsLogin")
      assert.include(error.message, "no longer knows the client")
      assert.strictEqual(as.registrations.length, 2)
      const after = yield* stored(server)
      assert.notStrictEqual(after.registration?.clientId, before.registration?.clientId)
      assert.isUndefined(after.tokens)

      const result = yield* manager.login(server)
      assert.strictEqual(result.clientId, after.registration?.clientId)
      assert.strictEqual(as.registrations.length, 2)
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("a transient failure keeps the credential and reports a retryable error", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("flaky", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      yield* expireStored(server)
      as.unavailable = true
      const error = yield* failureOf(manager.accessToken(server))
      assert.strictEqual(error._tag, "OAuthError")
      if (error._tag === "OAuthError") {
        assert.isTrue(error.retryable)
        assert.strictEqual(error.reason, "network")
      }
      assert.isDefined((yield* stored(server)).tokens?.refreshToken)
      const status = yield* manager.status(server)
      assert.strictEqual(status.state, "expired")
      assert.strictEqual(status.summary, "expired, refreshable")

      as.unavailable = false
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("logout", () => {
  it.live("revokes at the server (RFC 7009), then deletes the credential", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("bye", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const before = yield* stored(server)
      const result = yield* manager.logout(server)
      assert.deepStrictEqual(result, { removed: true, revoked: true })
      // The refresh token first (its revocation ends the grant), then the access token.
      assert.strictEqual(as.revocations[0]?.status, 200)
      assert.strictEqual(as.revocations.length, 2)

      assert.strictEqual((yield* manager.status(server)).state, "needs-login")
      assert.strictEqual((yield* failureOf(manager.accessToken(server)))._tag, "NeedsLogin")
      assert.deepStrictEqual(yield* manager.logout(server), { removed: false, revoked: false })
      // The revoked refresh token is dead at the server: putting it back does not bring the login back.
      yield* Effect.flatMap(CredentialStore, (store) => store.set(before))
      yield* expireStored(server)
      assert.strictEqual((yield* failureOf(manager.accessToken(server)))._tag, "NeedsLogin")
      assert.deepStrictEqual(
        as.tokenRequests.filter((request) => request.grantType === "refresh_token").map((r) => r.error),
        ["invalid_grant"]
      )
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("machine clients registered dynamically", () => {
  it.live("a forgotten client is registered again and the grant retried, without a user", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("robot", mcp.url, { flow: "client_credentials", scopes: ["mcp:read"] })
      const manager = yield* OAuthManager
      const first = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(first), "whoami")).status, 200)
      assert.strictEqual(as.registrations.length, 1)
      assert.strictEqual((yield* stored(server)).registration?.method, "dcr")

      as.forgetClients()
      yield* expireStored(server)
      const second = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(second), "whoami")).status, 200)
      assert.strictEqual(as.registrations.length, 2)
      assert.deepStrictEqual(
        as.tokenRequests.map((request) => [request.grantType, request.error]),
        [
          ["client_credentials", undefined],
          ["client_credentials", "invalid_client"],
          ["client_credentials", undefined]
        ]
      )
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("a pre-registered client's secret", () => {
  it.live("the secret in the config is used, not the copy stored with the credential", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({
        clients: [
          {
            client_id: "rotated-secret",
            client_secret: "the-current-secret-0123456789",
            grant_types: ["client_credentials"],
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: "client_secret_basic"
          }
        ]
      })
      const server = serverConfig("rotated", mcp.url, {
        flow: "client_credentials",
        clientId: "rotated-secret",
        clientSecret: Redacted.make("the-current-secret-0123456789"),
        scopes: ["mcp:read"]
      })
      const manager = yield* OAuthManager
      const store = yield* CredentialStore
      yield* manager.accessToken(server)
      // What an older config left in the store: the secret from before it was rotated.
      const credential = yield* stored(server)
      const registration = credential.registration
      if (registration === undefined) return yield* Effect.die("no registration")
      yield* store.set(
        new Credential({
          ...credential,
          registration: new ClientRegistration({
            ...registration,
            clientSecret: Redacted.make("the-old-secret-0123456789")
          })
        })
      )
      yield* expireStored(server)
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
      assert.deepStrictEqual(
        as.tokenRequests.map((request) => request.status),
        [200, 200]
      )
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})
