import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as Encryption from "../src/Encryption.ts"

const keyA = Buffer.alloc(32, 1).toString("base64")
const keyB = Buffer.alloc(32, 2).toString("base64url")

describe("Encryption", () => {
  it.effect("seals with the first key and opens with any key of the ring; bound to its associated data", () =>
    Effect.gen(function* () {
      const old = yield* Encryption.parseKeys(keyA)
      const sealed = Encryption.seal(old, "TOKEN-abc", "row-1")
      assert.isFalse(sealed.includes("TOKEN"))
      assert.strictEqual(Encryption.sealedKeyId(sealed), old.current.id)
      // Rotation: the new key first, the old one still opens what it sealed.
      const rotated = yield* Encryption.parseKeys(` ${keyB} , ${keyA} `)
      assert.strictEqual(yield* Encryption.open(rotated, sealed, "row-1"), "TOKEN-abc")
      assert.strictEqual(Encryption.sealedKeyId(Encryption.seal(rotated, "x", "r")), rotated.current.id)
      // Another row's associated data does not open it.
      const moved = yield* Effect.flip(Encryption.open(rotated, sealed, "row-2"))
      assert.strictEqual(moved.reason, "corrupt")
      // Without the old key: unknown-key, naming the key id.
      const onlyNew = yield* Encryption.parseKeys(keyB)
      const unknown = yield* Effect.flip(Encryption.open(onlyNew, sealed, "row-1"))
      assert.strictEqual(unknown.reason, "unknown-key")
      assert.include(unknown.message, old.current.id)
      // Two seals of the same text differ (a fresh nonce each time).
      assert.notStrictEqual(Encryption.seal(old, "same", "r"), Encryption.seal(old, "same", "r"))
    })
  )

  it.effect("a flipped byte does not open", () =>
    Effect.gen(function* () {
      const ring = yield* Encryption.parseKeys(keyA)
      const sealed = Encryption.seal(ring, "secret", "r")
      const parts = sealed.split(".")
      const body = Buffer.from(parts[3] ?? "", "base64url")
      body[0] = (body[0] ?? 0) ^ 1
      const damaged = [parts[0], parts[1], parts[2], body.toString("base64url")].join(".")
      assert.strictEqual((yield* Effect.flip(Encryption.open(ring, damaged, "r"))).reason, "corrupt")
      assert.strictEqual((yield* Effect.flip(Encryption.open(ring, "plain text", "r"))).reason, "corrupt")
    })
  )

  it.effect("bad keys are refused with a message that names the position, never the key", () =>
    Effect.gen(function* () {
      const short = Buffer.alloc(16, 7).toString("base64")
      const error = yield* Effect.flip(Encryption.parseKeys(`${keyA},${short}`))
      assert.strictEqual(error.reason, "invalid-key")
      assert.include(error.message, "key 2")
      assert.isFalse(error.message.includes(short))
      assert.strictEqual((yield* Effect.flip(Encryption.parseKeys(" , "))).reason, "missing-key")
      assert.strictEqual((yield* Effect.flip(Encryption.parseKeys("not base64!"))).reason, "invalid-key")
    })
  )

  it.effect("keyringFromConfig reads MCPGATE_ENCRYPTION_KEY; without it, missing-key", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(
        Encryption.keyringFromConfig.pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))
        )
      )
      assert.strictEqual(missing.reason, "missing-key")
      assert.include(missing.message, "MCPGATE_ENCRYPTION_KEY")
      const ring = yield* Encryption.keyringFromConfig.pipe(
        Effect.provide(
          ConfigProvider.layer(ConfigProvider.fromUnknown({ MCPGATE_ENCRYPTION_KEY: `${keyA},${keyB}` }))
        )
      )
      assert.strictEqual(ring.all.length, 2)
      assert.strictEqual(Buffer.from(Encryption.generateKey(), "base64").length, 32)
    })
  )
})
