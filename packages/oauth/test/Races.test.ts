/**
 * Two managers over one store, as two processes (or two installations whose
 * locks do not cover each other) are: whatever one writes, the other must not
 * undo from something it read before. Each test orders the requests with the
 * test servers' hold hooks, so the interleaving is the same on every run.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { ServerConfig } from "@mcpgate/core/Config"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { type CredentialStoreShape, makeMemory } from "@mcpgate/core/CredentialStore"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import {
  allIssuedTokens,
  errorTexts,
  failureOf,
  fingerprint,
  holdFirst,
  leakedTokens,
  logCapture,
  logLines,
  managerOn,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { Clock, Effect, Fiber, Option, Redacted } from "effect"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
})

const bearer = (token: Redacted.Redacted<string>) => `Bearer ${Redacted.value(token)}`

const stored = (store: CredentialStoreShape, server: ServerConfig) =>
  Effect.map(store.get({ server: server.name, url: server.url ?? "" }), Option.getOrUndefined)

const expire = (store: CredentialStoreShape, server: ServerConfig) =>
  Effect.gen(function* () {
    const credential = yield* stored(store, server)
    const tokens = credential?.tokens
    if (credential === undefined || tokens === undefined) return yield* Effect.die("no tokens to expire")
    const now = yield* Clock.currentTimeMillis
    yield* store.set(
      new Credential({ ...credential, tokens: new TokenSet({ ...tokens, expiresAt: now - 1000 }) })
    )
  })

/** One store, and a view of it whose locks are another store's (an installation the lock does not cover). */
const sharedStore = Effect.gen(function* () {
  const store = yield* makeMemory()
  const otherLocks = yield* makeMemory()
  return { store, unlocked: { ...store, withLock: otherLocks.withLock } satisfies CredentialStoreShape }
})

describe("tokens are only cleared while they are the ones that failed", () => {
  it.live("invalid_grant for a refresh token another installation already rotated keeps its new tokens", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("rotated", mcp.url)
      const { store, unlocked } = yield* sharedStore
      const first = yield* managerOn(store)
      const second = yield* managerOn(unlocked)
      yield* first.login(server)
      yield* expire(store, server)

      // The second installation's refresh reaches the server last, with the old refresh token.
      const gate = holdFirst()
      as.hold = (path) => (path === "/token" ? gate.hook() : Promise.resolve())
      const late = yield* second.accessToken(server).pipe(Effect.result, Effect.forkChild)
      yield* gate.arrived
      const token = yield* first.accessToken(server)
      gate.release()
      const outcome = yield* Fiber.join(late)

      assert.deepStrictEqual(
        as.tokenRequests.filter((request) => request.grantType === "refresh_token").map((r) => r.error),
        [undefined, "invalid_grant"]
      )
      const after = yield* stored(store, server)
      assert.isDefined(after?.tokens, "the tokens the first installation saved are still there")
      assert.strictEqual(fingerprint(after?.tokens?.accessToken), fingerprint(token))
      // The loser uses what the winner stored instead of reporting a lost login.
      assert.strictEqual(outcome._tag, "Success")
      if (outcome._tag === "Success") assert.strictEqual(fingerprint(outcome.success), fingerprint(token))
    }).pipe(Effect.provide(logCapture), Effect.scoped)
  )

  it.live("invalid_client for a client another installation already replaced keeps its new login", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("replaced", mcp.url)
      const { store, unlocked } = yield* sharedStore
      const first = yield* managerOn(store)
      const second = yield* managerOn(unlocked)
      yield* first.login(server)
      yield* expire(store, server)
      as.forgetClients()

      const gate = holdFirst()
      as.hold = (path) => (path === "/token" ? gate.hook() : Promise.resolve())
      const late = yield* second.accessToken(server).pipe(Effect.result, Effect.forkChild)
      yield* gate.arrived
      // The first installation finds the client forgotten, registers again and logs in.
      assert.strictEqual((yield* failureOf(first.accessToken(server)))._tag, "NeedsLogin")
      const login = yield* first.login(server)
      const token = yield* first.accessToken(server)
      gate.release()
      const outcome = yield* Fiber.join(late)

      const after = yield* stored(store, server)
      assert.strictEqual(after?.registration?.clientId, login.clientId)
      assert.strictEqual(fingerprint(after?.tokens?.accessToken), fingerprint(token))
      assert.strictEqual(as.registrations.length, 2, "the loser registered no third client")
      assert.strictEqual(outcome._tag, "Success")
      assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
    }).pipe(Effect.provide(logCapture), Effect.scoped)
  )

  it.live("a move to another authorization server does not wipe a login another process made there", () =>
    Effect.gen(function* () {
      let resource = ""
      const before = yield* AuthServer.start({ resource: () => resource })
      const after = yield* AuthServer.start({ resource: () => resource })
      let current = before
      const mcp = yield* ProtectedMcpServer.start({ issuer: () => current.issuer })
      resource = mcp.url
      const server = serverConfig("moved", mcp.url)
      const store = yield* makeMemory()
      const first = yield* managerOn(store)
      const second = yield* managerOn(store)
      yield* first.login(server)
      const oldToken = yield* first.accessToken(server)

      current = after
      const refused = yield* callTool(mcp.url, bearer(oldToken), "whoami")
      assert.strictEqual(refused.status, 401)
      // The first process rediscovers slowly; meanwhile the second logs in at the new server.
      const gate = holdFirst()
      mcp.holdMetadata = gate.hook
      const late = yield* first
        .onUnauthorized(server, { wwwAuthenticate: refused.wwwAuthenticate, rejectedToken: oldToken })
        .pipe(Effect.result, Effect.forkChild)
      yield* gate.arrived
      yield* second.login(server)
      const newToken = yield* second.accessToken(server)
      gate.release()
      const outcome = yield* Fiber.join(late)

      const credential = yield* stored(store, server)
      assert.strictEqual(credential?.issuer, after.issuer)
      assert.strictEqual(fingerprint(credential?.tokens?.accessToken), fingerprint(newToken))
      assert.strictEqual(outcome._tag, "Success")
      if (outcome._tag === "Success") {
        assert.strictEqual((yield* callTool(mcp.url, bearer(outcome.success), "whoami")).status, 200)
      }
    }).pipe(Effect.provide(logCapture), Effect.scoped)
  )
})

describe("every read-modify-write re-reads under the lock", () => {
  it.live(
    "storing a new registration before a login never drops tokens another process stored meanwhile",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers()
        const server = serverConfig("registering", mcp.url)
        const store = yield* makeMemory()
        const first = yield* managerOn(store)
        const second = yield* managerOn(store)

        // The first login registers slowly; the second registers and logs in meanwhile.
        const gate = holdFirst()
        as.hold = (path) => (path === "/reg" ? gate.hook() : Promise.resolve())
        const slow = yield* first.login(server).pipe(Effect.flip, Effect.forkChild)
        yield* gate.arrived
        const done = yield* second.login(server)
        // The first login then fails at the user (denied): it must leave the second one's login alone.
        as.denyLogins = true
        gate.release()
        const failure = yield* Fiber.join(slow)
        errorTexts.push(failure.message)
        assert.strictEqual(failure._tag === "OAuthError" ? failure.reason : failure._tag, "access-denied")

        const credential = yield* stored(store, server)
        assert.isDefined(credential?.tokens, "the second process's tokens are still stored")
        assert.strictEqual(credential?.registration?.clientId, done.clientId)
        const token = yield* second.accessToken(server)
        assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
      }).pipe(Effect.provide(logCapture), Effect.scoped)
  )
})
