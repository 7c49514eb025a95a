/**
 * Per-user connections are pooled and closed when idle
 * (docs/teams.md#per-user-tool-calls): one manager per user while they use
 * it, a new one after `idle` without a call, and never another user's.
 */
import { assert, describe, it } from "@effect/vitest"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Configs from "@mcpgate/testing/Configs"
import { serverConfig, startServers } from "@mcpgate/testing/Harness"
import { Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { UserCredentials } from "../src/teams/UserCredentials.ts"
import { UserTools } from "../src/teams/UserTools.ts"

describe("UserTools", () => {
  it.effect("pools a user's connections while in use and closes them after the idle time", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const config = Configs.gateway([serverConfig("notion", mcp.url, { identity: "user" })])
      const context = yield* Layer.build(
        UserTools.layer(config, { idle: "1 minute" }).pipe(
          Layer.provideMerge(UserCredentials.layer(config)),
          Layer.provide(CredentialStore.layerMemory)
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
