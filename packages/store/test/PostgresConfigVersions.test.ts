/**
 * The config's versions in the store (docs/store.md#config): sealed (no text
 * in a dump), newest first in the history, announced to listeners, and
 * re-sealed by `rotate-key` so the old key can go.
 */
import { afterAll, assert, beforeAll, it } from "@effect/vitest"
import * as Encryption from "@mcpgate/core/Encryption"
import * as Postgres from "@mcpgate/testing/Postgres"
import { Effect, Exit, Fiber, Option, Redacted, Scope, Stream } from "effect"
import * as ConfigVersions from "../src/PostgresConfigVersions.ts"
import * as StoreAdmin from "../src/StoreAdmin.ts"
import * as StoreDatabase from "../src/StoreDatabase.ts"

const keyA = Buffer.alloc(32, 1).toString("base64")
const keyB = Buffer.alloc(32, 2).toString("base64")

let server: Postgres.PostgresServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.provide(Postgres.start(), serverScope))
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), 60_000)

it.live("versions are sealed, listed newest first, announced, and re-sealed by rotate-key", () =>
  Effect.gen(function* () {
    const ringA = yield* Encryption.parseKeys(keyA)
    const ringBA = yield* Encryption.parseKeys(`${keyB},${keyA}`)
    const ringB = yield* Encryption.parseKeys(keyB)
    yield* StoreDatabase.migrate
    const versions = yield* ConfigVersions.make(ringA)
    const ticks = yield* Effect.forkScoped(Stream.runCollect(Stream.take(versions.changes, 2)))
    // The first tick comes when listening starts; wait for it before saving.
    yield* Effect.sleep("200 millis")
    assert.isTrue(Option.isNone(yield* versions.latest))
    const secret = "literal-secret-9d3a"
    const first = yield* versions.save(`{"mcpServers": {}, "x": "${secret}"}`, "admin", ["x"])
    const second = yield* versions.save(`{"mcpServers": {"a": {"command": "true"}}}`, "admin", [
      "mcpServers.a"
    ])
    assert.isAbove(second, first)
    yield* Fiber.join(ticks).pipe(Effect.timeout("5 seconds"))
    const latest = Option.getOrThrow(yield* versions.latest)
    assert.strictEqual(latest.version, second)
    assert.include(latest.text, '"a"')
    const history = yield* versions.history(10)
    assert.deepStrictEqual(
      history.map((entry) => [entry.version, entry.actor, entry.paths]),
      [
        [second, "admin", ["mcpServers.a"]],
        [first, "admin", ["x"]]
      ]
    )
    const dump = yield* server.tool("pg_dump", [
      "-h",
      "127.0.0.1",
      "-p",
      String(server.port),
      "-U",
      "mcpgate",
      "mcpgate"
    ])
    assert.notInclude(dump, secret)

    const rotated = yield* StoreAdmin.rotateKey(ringBA)
    assert.strictEqual(rotated.resealed, 2)
    const underB = yield* ConfigVersions.make(ringB)
    assert.strictEqual(Option.getOrThrow(yield* underB.latest).version, second)
  }).pipe(Effect.scoped, Effect.provide(StoreDatabase.layer(Redacted.make(server.url))))
)
