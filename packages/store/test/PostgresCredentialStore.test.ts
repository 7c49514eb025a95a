/**
 * The Postgres credential store against a real PostgreSQL (Debian's, started
 * by @mcpgate/testing/Postgres): the behaviour suite every store passes, then
 * what only a shared store promises: nothing in clear in a dump, locks and
 * cache invalidation across replicas, a missing key refused, a database
 * outage reported as "unavailable" and recovered from.
 */

import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, assert, beforeAll, layer } from "@effect/vitest"
import { Credential, keyOf, TokenSet } from "@mcpgate/core/Credential"
import { CredentialChanges } from "@mcpgate/core/CredentialChanges"
import { CredentialStore, type CredentialStoreError } from "@mcpgate/core/CredentialStore"
import * as Encryption from "@mcpgate/core/Encryption"
import * as Postgres from "@mcpgate/testing/Postgres"
import {
  ConfigProvider,
  Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  Schedule,
  Scope,
  Stream
} from "effect"
import {
  assertNoSecret,
  behaviourSuite,
  fullCredential,
  secrets,
  slow
} from "../../core/test/support/CredentialStoreBehaviour.ts"
import { layerPostgres } from "../src/PostgresCredentialStore.ts"
import * as StoreDatabase from "../src/StoreDatabase.ts"
import * as StoreRecords from "../src/StoreRecords.ts"

const key = Buffer.alloc(32, 7).toString("base64")
const keyring = Encryption.parseKeys(key)

// One server for the file (started once: initdb takes seconds); each store gets its own database.
let server: Postgres.PostgresServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.provide(Postgres.start(), serverScope))
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), 60_000)

let databases = 0
/** A fresh database on the shared server, for a store that must start empty. */
const freshDatabase = Effect.suspend(() => {
  databases += 1
  return Postgres.createDatabase(server, `t${databases}_${process.pid}`)
})

const storeLayer = (url: string, options: object = {}) =>
  Layer.unwrap(
    Effect.map(keyring, (ring) => layerPostgres({ url: Redacted.make(url), keyring: ring, ...options }))
  )

const freshStoreLayer = (options: object) =>
  Layer.unwrap(Effect.map(freshDatabase, (url) => storeLayer(url, options)))

/** Two replicas' stores over one database. */
const twoStores = <A, E>(
  body: (
    a: CredentialStore["Service"],
    b: CredentialStore["Service"],
    url: string,
    bChanges: Stream.Stream<string>
  ) => Effect.Effect<A, E, Scope.Scope>,
  options: object = {}
) =>
  Effect.gen(function* () {
    const url = yield* freshDatabase
    const a = yield* Layer.build(storeLayer(url, options))
    const b = yield* Layer.build(storeLayer(url, options))
    return yield* body(
      Context.get(a, CredentialStore),
      Context.get(b, CredentialStore),
      url,
      Context.get(b, CredentialChanges).changes
    )
  }).pipe(Effect.scoped)

const accessOf = (credential: Option.Option<Credential>) =>
  Option.match(credential, {
    onNone: () => "",
    onSome: (c) => (c.tokens === undefined ? "" : Redacted.value(c.tokens.accessToken))
  })

const withAccess = (credential: Credential, access: string) =>
  new Credential({
    ...credential,
    tokens: new TokenSet({
      ...(credential.tokens ?? { tokenType: "Bearer" }),
      accessToken: Redacted.make(access)
    })
  })

layer(Layer.empty, { excludeTestServices: true, timeout: "120 seconds" })(
  "CredentialStore.layerPostgres",
  (it) => {
    it.layer(Layer.empty)("behaviour", (it) => behaviourSuite(it, freshStoreLayer))

    it.effect(
      "a dump of the database holds no secret in clear; the row opens only with the key",
      () =>
        Effect.gen(function* () {
          const url = yield* freshDatabase
          yield* Effect.gen(function* () {
            const store = yield* CredentialStore
            yield* store.set(fullCredential())
            assert.strictEqual(store.backend, "postgres")
            assertNoSecret(store.description, "the description")
            assert.isFalse(store.description.includes(url), "the description shows the URL with its password")
          }).pipe(Effect.provide(storeLayer(url)))
          const database = url.slice(url.lastIndexOf("/") + 1)
          const dump = yield* server.tool("pg_dump", [
            "-h",
            "127.0.0.1",
            "-p",
            String(server.port),
            "-U",
            "mcpgate",
            database
          ])
          assert.include(dump, "mcpgate_credentials")
          assert.include(dump, "notion|https://mcp.notion.example/mcp")
          assertNoSecret(dump, "pg_dump")
          // Another key cannot open it: an error naming the key id, not a secret.
          const other = Buffer.alloc(32, 9).toString("base64")
          const error = (yield* Effect.flip(
            Effect.gen(function* () {
              const store = yield* CredentialStore
              return yield* store.get({ server: "notion", url: "https://mcp.notion.example/mcp" })
            }).pipe(
              Effect.provide(
                Layer.unwrap(
                  Effect.map(Encryption.parseKeys(other), (ring) =>
                    layerPostgres({ url: Redacted.make(url), keyring: ring })
                  )
                )
              )
            )
          )) as CredentialStoreError
          assert.strictEqual(error.reason, "invalid-config")
          assert.include(error.message, (yield* keyring).current.id)
          assertNoSecret(error.message, "the wrong-key error")
        }),
      slow
    )

    it.effect("without MCPGATE_ENCRYPTION_KEY the store refuses to start, saying why", () =>
      Effect.gen(function* () {
        const url = yield* freshDatabase
        const error = (yield* Effect.flip(
          Effect.provide(
            CredentialStore.use(Effect.succeed),
            layerPostgres({ url: Redacted.make(url) }).pipe(
              Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({})))
            )
          )
        )) as CredentialStoreError
        assert.strictEqual(error.reason, "invalid-config")
        assert.include(error.message, "MCPGATE_ENCRYPTION_KEY")
      })
    )

    it.effect(
      "a change on one replica reaches the other's cache within 2 s; a cached read needs no database",
      () =>
        twoStores((a, b, url, bChanges) =>
          Effect.gen(function* () {
            const credential = fullCredential()
            // b reads only after it has heard of the write: no notice is left to empty its cache.
            const heard = yield* Effect.forkChild(Stream.runHead(bChanges))
            yield* Effect.sleep("100 millis")
            yield* a.set(withAccess(credential, "first"))
            assert.deepStrictEqual(
              yield* Fiber.join(heard).pipe(Effect.timeout("5 seconds")),
              Option.some(keyOf(credential))
            )
            assert.strictEqual(accessOf(yield* b.get(credential)), "first")
            // While another session holds the table exclusively, only a cached read can answer.
            const blocker = yield* Layer.build(
              PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })
            ).pipe(Effect.map((context) => Context.get(context, PgClient.PgClient)))
            const locked = yield* Deferred.make<void>()
            const release = yield* Deferred.make<void>()
            const holder = yield* Effect.forkChild(
              blocker.withTransaction(
                Effect.gen(function* () {
                  yield* blocker`LOCK TABLE mcpgate_credentials IN ACCESS EXCLUSIVE MODE`
                  yield* Deferred.succeed(locked, undefined)
                  yield* Deferred.await(release)
                })
              )
            )
            yield* Deferred.await(locked)
            assert.strictEqual(accessOf(yield* b.get(credential)), "first")
            yield* Deferred.succeed(release, undefined)
            yield* Fiber.join(holder)

            // Within 2 s of the write on a, b reads the new token.
            yield* a.set(withAccess(credential, "second"))
            yield* b.get(credential).pipe(
              Effect.map(accessOf),
              Effect.repeat({
                until: (access) => access === "second",
                schedule: Schedule.spaced("20 millis")
              }),
              Effect.timeout("2 seconds")
            )
            yield* a.delete(credential)
            yield* b
              .get(credential)
              .pipe(
                Effect.map(Option.isNone),
                Effect.repeat({ until: (gone) => gone, schedule: Schedule.spaced("20 millis") }),
                Effect.timeout("2 seconds")
              )
          })
        ),
      slow
    )

    it.effect(
      "withLock is exclusive across replicas: the second waits, then times out with reason locked",
      () =>
        twoStores(
          (a, b) =>
            Effect.gen(function* () {
              const credential = fullCredential("busy", "https://busy.example/mcp")
              const held = yield* Deferred.make<void>()
              const holder = yield* Effect.forkChild(
                a.withLock(credential, Effect.andThen(Deferred.succeed(held, undefined), Effect.never))
              )
              yield* Deferred.await(held)
              const error = (yield* Effect.flip(b.withLock(credential, Effect.void))) as CredentialStoreError
              assert.strictEqual(error.reason, "locked")
              assert.include(error.message, '"busy"')
              yield* Fiber.interrupt(holder)
              // Released with the holder: b gets it now.
              assert.strictEqual(yield* b.withLock(credential, Effect.succeed("got it")), "got it")
            }),
          { lockTimeout: "300 millis" }
        ),
      slow
    )

    it.effect(
      "with the database stopped, reads fail with reason unavailable; after it returns the store works again",
      () =>
        Effect.gen(function* () {
          const server = yield* Postgres.start()
          yield* Effect.gen(function* () {
            const store = yield* CredentialStore
            const credential = fullCredential()
            yield* store.set(credential)
            yield* server.stop
            const error = (yield* Effect.flip(store.get(credential))) as CredentialStoreError
            assert.strictEqual(error.reason, "unavailable")
            assert.include(error.message, "unavailable")
            assert.isFalse(error.message.includes(server.url), "the message shows the password")
            assertNoSecret(error.message, "the outage error")
            yield* server.start
            const back = yield* store
              .get(credential)
              .pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 }))
            assert.strictEqual(accessOf(back), secrets.access)
          }).pipe(Effect.provide(storeLayer(server.url)))
        }).pipe(Effect.scoped),
      60_000
    )

    it.effect(
      "records: taken once, by whichever replica asks first; expired ones are gone; sealed in a dump",
      () =>
        Effect.gen(function* () {
          const url = yield* freshDatabase
          const ring = yield* keyring
          const replica = () =>
            Effect.gen(function* () {
              const database = yield* Layer.build(StoreDatabase.layer(Redacted.make(url)))
              yield* StoreDatabase.migrate.pipe(Effect.provideContext(database))
              return yield* StoreRecords.make("pending-login", ring).pipe(Effect.provideContext(database))
            })
          const a = yield* replica()
          const b = yield* replica()
          const verifier = "PKCE-VERIFIER-2b7e9c-secret"
          yield* a.put("state-1", `{"verifier":"${verifier}"}`, Date.now() + 600_000)
          yield* a.put("state-old", "{}", Date.now() - 1_000)
          const database = url.slice(url.lastIndexOf("/") + 1)
          const dump = yield* server.tool("pg_dump", [
            "-h",
            "127.0.0.1",
            "-p",
            String(server.port),
            "-U",
            "mcpgate",
            database
          ])
          assert.include(dump, "state-1")
          assert.notInclude(dump, verifier)
          const both = yield* Effect.all([b.take("state-1"), a.take("state-1")], { concurrency: 2 })
          assert.strictEqual(both.filter(Option.isSome).length, 1, "one replica redeems it, not both")
          assert.include(Option.getOrThrow(both.find(Option.isSome) ?? Option.none()), verifier)
          assert.isTrue(Option.isNone(yield* b.take("state-old")))
          assert.isTrue(Option.isNone(yield* b.take("unknown")))
        }).pipe(Effect.scoped),
      slow
    )
  }
)
