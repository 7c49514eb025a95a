/**
 * Per-user credentials in the stores (docs/teams.md#per-user-credentials):
 * a user's credential has its own key, survives a write to disk with its
 * user, and `forPrincipal` sees that user's only.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Credential, keyOf } from "../src/Credential.ts"
import { CredentialStore, forPrincipal } from "../src/CredentialStore.ts"
import { fullCredential } from "./support/CredentialStoreBehaviour.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const url = "https://mcp.notion.example/mcp"

describe("per-user credentials", () => {
  it("keys never collide: a user's key is neither the gateway's nor another server's", () => {
    assert.strictEqual(keyOf({ server: "notion", url }), "notion|https://mcp.notion.example/mcp")
    assert.strictEqual(
      keyOf({ server: "notion", url, principal: "alice" }),
      "alice%40notion|https://mcp.notion.example/mcp"
    )
    const keys = [
      keyOf({ server: "alice%40notion", url }),
      keyOf({ server: "notion", url, principal: "alice" }),
      keyOf({ server: "40notion", url, principal: "alice%" }),
      keyOf({ server: "notion", url, principal: "alice|x" }),
      keyOf({ server: "x|notion", url, principal: "alice" })
    ]
    assert.strictEqual(new Set(keys).size, keys.length)
  })

  it.effect("the file store keeps each user's credential apart, with its user, across a reopen", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const layer = CredentialStore.layerFile({ directory })
      yield* Effect.gen(function* () {
        const store = yield* CredentialStore
        yield* store.set(fullCredential("notion", url, { access: "gateway-token" }))
        yield* forPrincipal(store, "alice").set(fullCredential("notion", url, { access: "alice-token" }))
        yield* forPrincipal(store, "bob").set(fullCredential("notion", url, { access: "bob-token" }))
      }).pipe(Effect.provide(layer))
      // A new layer reads the file again.
      const store = yield* Effect.provide(
        Effect.service(CredentialStore),
        CredentialStore.layerFile({ directory })
      )
      const all = yield* store.list
      assert.deepStrictEqual(
        all.map((credential) => credential.principal ?? "-"),
        ["alice", "bob", "-"]
      )
      const alice = forPrincipal(store, "alice")
      assert.deepStrictEqual(
        (yield* alice.list).map((credential) => credential.principal),
        ["alice"]
      )
      const mine = Option.getOrThrow(yield* alice.get({ server: "notion", url }))
      assert.instanceOf(mine, Credential)
      assert.strictEqual(mine.principal, "alice")
      assert.isTrue(yield* alice.delete({ server: "notion", url }))
      assert.isTrue(Option.isSome(yield* store.get({ server: "notion", url })))
      assert.isTrue(Option.isSome(yield* forPrincipal(store, "bob").get({ server: "notion", url })))
    })
  )
})
