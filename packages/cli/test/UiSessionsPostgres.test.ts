/**
 * With `store: {"type": "postgres"}` the web UI's sessions and pending
 * sign-ins are records of the shared store (docs/teams.md#sign-in): a
 * session opened through one replica's layer is valid through another's,
 * closing it on one closes it everywhere, a pending sign-in is taken once,
 * and the table holds only the digest of a session id, sealed.
 */
import { createHash } from "node:crypto"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Principal from "@mcpgate/core/Principal"
import { UiRecords } from "@mcpgate/server/security/UiRecords"
import * as WebSessions from "@mcpgate/server/security/WebSessions"
import * as StoreDatabase from "@mcpgate/store/StoreDatabase"
import * as Postgres from "@mcpgate/testing/Postgres"
import { ConfigProvider, Context, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { storeLayers } from "../src/StoreLayers.ts"

const key = Buffer.alloc(32, 7).toString("base64")

let server: Postgres.PostgresServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.provide(Postgres.start(), serverScope))
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), 60_000)

/** One replica's records: a pool of its own over the shared database. */
const replica = Effect.gen(function* () {
  const layer = storeLayers({ type: "postgres", url: Redacted.make(server.url) }).uiRecords
  if (layer === undefined) return yield* Effect.die("no shared records for a postgres store")
  const context = yield* Layer.build(
    layer.pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ MCPGATE_ENCRYPTION_KEY: key })))
    )
  )
  return Context.get(context, UiRecords)
})

describe("web sessions in the Postgres store", () => {
  it.live(
    "a session opened on one replica is valid on another; only its digest is stored",
    () =>
      Effect.gen(function* () {
        yield* StoreDatabase.migrate.pipe(Effect.provide(StoreDatabase.layer(Redacted.make(server.url))))
        const [one, two] = [yield* replica, yield* replica]
        const sessionsOn = (records: UiRecords["Service"]) =>
          Effect.map(records.forKind("ui-session"), (storage) => WebSessions.make(storage, 60_000))
        const onOne = yield* sessionsOn(one)
        const onTwo = yield* sessionsOn(two)
        const alice = Principal.user("alice", false, "session")
        const id = Redacted.value(yield* onOne.open(alice))
        assert.deepStrictEqual(yield* onTwo.get(id), Option.some(alice))

        const ids = yield* server.tool("psql", [
          ...["-h", "127.0.0.1", "-p", String(server.port), "-U", "mcpgate", "-d", "mcpgate", "-At"],
          ...["-c", "SELECT id FROM mcpgate_records WHERE kind = 'ui-session'"]
        ])
        assert.deepStrictEqual(ids.trim().split("\n"), [createHash("sha256").update(id).digest("hex")])
        // Sealed: neither the id nor whom it stands for is readable in the database.
        const dumped = yield* Postgres.dump(server)
        assert.notInclude(dumped, id)
        assert.notInclude(dumped, "alice")

        yield* onTwo.close(id)
        assert.isTrue(Option.isNone(yield* onOne.get(id)))

        // A pending sign-in put by one replica is taken by the other, once.
        const pendingOne = yield* one.forKind("ui-signin")
        const pendingTwo = yield* two.forKind("ui-signin")
        yield* pendingOne.put("state-1", "document", Date.now() + 60_000)
        assert.deepStrictEqual(yield* pendingTwo.take("state-1"), Option.some("document"))
        assert.isTrue(Option.isNone(yield* pendingOne.take("state-1")))
      }).pipe(Effect.scoped),
    60_000
  )
})
