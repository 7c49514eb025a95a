/**
 * What lets a `/mcp` session continue on another replica (docs/store.md#mcp-sessions),
 * against a real PostgreSQL: a stream's events written by one replica are replayed
 * by another, sealed in the dump; session records move their expiry on only while
 * they live; a session ended on one replica is announced to the others.
 */
import { afterAll, assert, beforeAll, layer } from "@effect/vitest"
import * as Encryption from "@mcpgate/core/Encryption"
import * as Postgres from "@mcpgate/testing/Postgres"
import { Deferred, Duration, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import * as McpSessionEnds from "../src/McpSessionEnds.ts"
import * as PostgresMcpEventStore from "../src/PostgresMcpEventStore.ts"
import * as StoreDatabase from "../src/StoreDatabase.ts"
import * as StoreRecords from "../src/StoreRecords.ts"

const keyring = Effect.runSync(Encryption.parseKeys(Buffer.alloc(32, 9).toString("base64")))

let server: Postgres.PostgresServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.provide(Postgres.start(), serverScope))
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), 60_000)

let databases = 0
const freshDatabase = Effect.suspend(() => {
  databases += 1
  return Postgres.createDatabase(server, `e${databases}_${process.pid}`)
})

/** One replica's view of the database: its pool, migrated. */
const replica = (url: string) =>
  Effect.gen(function* () {
    const database = yield* Layer.build(StoreDatabase.layer(Redacted.make(url)))
    yield* StoreDatabase.migrate.pipe(Effect.provideContext(database))
    return {
      events: yield* PostgresMcpEventStore.make(keyring).pipe(Effect.provideContext(database)),
      records: yield* StoreRecords.make("mcp-session", keyring).pipe(Effect.provideContext(database)),
      ends: yield* McpSessionEnds.make.pipe(Effect.provideContext(database))
    }
  })

const dumpOf = (url: string) =>
  server.tool("pg_dump", [
    "-h",
    "127.0.0.1",
    "-p",
    String(server.port),
    "-U",
    "mcpgate",
    url.slice(url.lastIndexOf("/") + 1)
  ])

layer(Layer.empty, { excludeTestServices: true, timeout: "120 seconds" })(
  "/mcp sessions in Postgres",
  (it) => {
    it.effect("a stream written on one replica is replayed on another, sealed in the database", () =>
      Effect.gen(function* () {
        const url = yield* freshDatabase
        const a = yield* replica(url)
        const b = yield* replica(url)
        const secret = "tool-result-4f1d9e-secret"
        const priming = yield* a.events.append("s1", "stream-1", {})
        yield* a.events.append("s1", "stream-2", { jsonrpc: "2.0", method: "other/stream" })
        const answer = yield* a.events.append("s1", "stream-1", { jsonrpc: "2.0", id: 2, result: { secret } })
        yield* a.events.append("s2", "stream-1", { jsonrpc: "2.0", method: "other/session" })

        assert.deepStrictEqual(yield* b.events.streamOf("s1", priming), Option.some("stream-1"))
        const replay = yield* b.events.after("s1", priming)
        assert.deepStrictEqual(
          replay,
          Option.some({
            stream: "stream-1",
            events: [{ id: answer, message: { jsonrpc: "2.0", id: 2, result: { secret } } }]
          })
        )
        // Another session's event id, a made-up one and a non-number name nothing.
        assert.isTrue(Option.isNone(yield* b.events.after("s2", priming)))
        assert.isTrue(Option.isNone(yield* b.events.after("s1", "999999")))
        assert.isTrue(Option.isNone(yield* b.events.streamOf("s1", "not-an-id")))
        assert.notInclude(yield* dumpOf(url), secret)

        yield* b.events.forget("s1")
        assert.isTrue(Option.isNone(yield* a.events.after("s1", priming)))
      }).pipe(Effect.scoped)
    )

    it.effect("a record's expiry moves on only while it lives; an ended session is announced", () =>
      Effect.gen(function* () {
        const url = yield* freshDatabase
        const a = yield* replica(url)
        const b = yield* replica(url)
        const heard = yield* Deferred.make<string>()
        yield* Effect.forkScoped(b.ends.watch((id) => Deferred.succeed(heard, id).pipe(Effect.asVoid)))
        yield* a.records.put("session-1", "{}", Date.now() + 60_000)
        assert.isTrue(yield* b.records.refresh("session-1", Date.now() + 120_000))
        yield* a.records.put("session-old", "{}", Date.now() - 1_000)
        assert.isFalse(
          yield* b.records.refresh("session-old", Date.now() + 120_000),
          "an expired one stays expired"
        )
        yield* a.records.remove("session-1")
        assert.isFalse(yield* b.records.refresh("session-1", Date.now() + 120_000))
        // The watcher may need a moment to LISTEN: announce until it hears.
        const id = yield* a.ends
          .announce("session-1")
          .pipe(
            Effect.andThen(Deferred.await(heard).pipe(Effect.timeout(Duration.millis(500)))),
            Effect.retry({ times: 20 })
          )
        assert.strictEqual(id, "session-1")
      }).pipe(Effect.scoped)
    )
  }
)
