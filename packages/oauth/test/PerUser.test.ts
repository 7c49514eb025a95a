/**
 * Per-user credentials (docs/teams.md#per-user-credentials): one store, one
 * `OAuthManager` per user over `CredentialStore.forPrincipal`. Alice and Bob
 * each log in to the same protected server as themselves; each token is
 * theirs; Alice's refresh and logout never touch Bob's credential.
 */
import { assert, describe, it } from "@effect/vitest"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { forPrincipal, makeMemory } from "@mcpgate/core/CredentialStore"
import { fingerprint, managerOn, serverConfig, startServers } from "@mcpgate/testing/Harness"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { Clock, Effect, Option, Redacted } from "effect"

describe("per-user credentials", () => {
  it.live(
    "Alice and Bob log in to one server as themselves; Alice's refresh and logout leave Bob's alone",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers()
        const server = serverConfig("notion", mcp.url)
        const store = yield* makeMemory()
        const alice = yield* managerOn(forPrincipal(store, "alice"))
        const bob = yield* managerOn(forPrincipal(store, "bob"))

        as.account = "alice"
        yield* alice.login(server)
        as.account = "bob"
        yield* bob.login(server)

        const whoami = (token: Redacted.Redacted<string>) =>
          Effect.map(
            callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami"),
            (call) => call.text ?? ""
          )
        assert.include(yield* whoami(yield* alice.accessToken(server)), "hello alice")
        assert.include(yield* whoami(yield* bob.accessToken(server)), "hello bob")

        // Two credentials, each stamped with its user; the gateway's own key holds nothing.
        const all = yield* store.list
        assert.deepStrictEqual(
          all.map((credential) => [credential.principal, credential.server]),
          [
            ["alice", "notion"],
            ["bob", "notion"]
          ]
        )
        assert.isTrue(Option.isNone(yield* store.get({ server: "notion", url: mcp.url })))
        assert.strictEqual((yield* forPrincipal(store, "alice").list).length, 1)

        // Alice's token looks expired: her next use refreshes hers, and only hers.
        const bobBefore = Option.getOrThrow(
          yield* store.get({ server: "notion", url: mcp.url, principal: "bob" })
        )
        const aliceStored = Option.getOrThrow(
          yield* store.get({ server: "notion", url: mcp.url, principal: "alice" })
        )
        const tokens = aliceStored.tokens
        if (tokens === undefined) return yield* Effect.die("alice has no tokens")
        const now = yield* Clock.currentTimeMillis
        yield* store.set(
          new Credential({ ...aliceStored, tokens: new TokenSet({ ...tokens, expiresAt: now - 1000 }) })
        )
        const refreshesBefore = as.countGrants("refresh_token")
        const refreshed = yield* alice.accessToken(server)
        assert.strictEqual(as.countGrants("refresh_token"), refreshesBefore + 1)
        assert.notStrictEqual(fingerprint(refreshed), fingerprint(tokens.accessToken))
        assert.include(yield* whoami(refreshed), "hello alice")
        const bobAfter = Option.getOrThrow(
          yield* store.get({ server: "notion", url: mcp.url, principal: "bob" })
        )
        assert.strictEqual(
          fingerprint(bobAfter.tokens?.accessToken),
          fingerprint(bobBefore.tokens?.accessToken)
        )
        assert.strictEqual(
          fingerprint(bobAfter.tokens?.refreshToken),
          fingerprint(bobBefore.tokens?.refreshToken)
        )
        assert.strictEqual(bobAfter.updatedAt, bobBefore.updatedAt)

        // Alice disconnects: her credential is revoked and gone, Bob's still works.
        const logout = yield* alice.logout(server)
        assert.isTrue(logout.removed)
        assert.isTrue(Option.isNone(yield* store.get({ server: "notion", url: mcp.url, principal: "alice" })))
        assert.include(yield* whoami(yield* bob.accessToken(server)), "hello bob")
      }).pipe(Effect.scoped)
  )
})
