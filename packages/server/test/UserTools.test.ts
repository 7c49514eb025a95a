/**
 * Per-user connections are pooled and closed when idle
 * (docs/teams.md#per-user-tool-calls): one manager per user while they use
 * it, a new one after `idle` without a call, and never another user's.
 */
import { assert, describe, it } from "@effect/vitest"
import { keyOf } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Configs from "@mcpgate/testing/Configs"
import { serverConfig, startServers } from "@mcpgate/testing/Harness"
import { Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { UiRecords } from "../src/security/UiRecords.ts"
import { UserCredentials } from "../src/teams/UserCredentials.ts"
import { ownerOfKey, UserTools } from "../src/teams/UserTools.ts"

describe("UserTools", () => {
  it.effect("pools a user's connections while in use and closes them after the idle time", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const config = Configs.gateway([serverConfig("notion", mcp.url, { identity: "user" })])
      const context = yield* Layer.build(
        UserTools.layer(config, { idle: "1 minute" }).pipe(
          Layer.provideMerge(UserCredentials.layer(config)),
          Layer.provide([CredentialStore.layerMemory, UiRecords.layerMemory])
        )
      )
      const tools = Context.get(context, UserTools)
      assert.isTrue(tools.isUserServer("notion"))
      const first = yield* tools.withManager("alice", Effect.succeed)
      const status = yield* first.status
      assert.deepStrictEqual(
        status.map((server) => [server.name, server.state]),
        [["notion", "needs_auth"]]
      )
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(yield* tools.withManager("alice", Effect.succeed), first)
      assert.notStrictEqual(yield* tools.withManager("bob", Effect.succeed), first)
      yield* TestClock.adjust("61 seconds")
      assert.notStrictEqual(yield* tools.withManager("alice", Effect.succeed), first)
    }).pipe(Effect.scoped)
  )
})

describe("UserTools.ownerOfKey", () => {
  it("reads the user and the per-user server back from a credential key, whatever the names hold", () => {
    const servers = [
      serverConfig("notion", "https://mcp.notion.com/mcp", { identity: "user" }),
      serverConfig("odd|name%40", "https://odd.example/mcp/", { identity: "user" })
    ]
    for (const user of ["alice", "bob@example.com", "100%|pure%40", "%7C"]) {
      for (const server of servers) {
        const key = keyOf({ principal: user, server: server.name, url: server.url ?? "" })
        const owner = ownerOfKey(key, servers)
        assert.strictEqual(owner?.user, user, key)
        assert.strictEqual(owner?.server.name, server.name, key)
      }
    }
    // The gateway's own credential, another server's, and a key of no server name no user.
    assert.isUndefined(ownerOfKey(keyOf({ server: "notion", url: "https://mcp.notion.com/mcp" }), servers))
    assert.isUndefined(
      ownerOfKey(keyOf({ principal: "alice", server: "linear", url: "https://mcp.linear.app" }), servers)
    )
    assert.isUndefined(
      ownerOfKey(
        keyOf({ principal: "alice", server: "notion", url: "https://elsewhere.example/mcp" }),
        servers
      )
    )
  })
})
