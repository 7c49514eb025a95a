/**
 * Keychain entries belong to one state directory (README "Credentials"): two
 * installations with different `MCPGATE_HOME` share the keychain service but
 * never each other's credentials, and the refresh lock (a file in the state
 * directory) covers every process that can read an entry. Entries written by
 * the previous, unscoped version are adopted once by the default state
 * directory. Against a real Secret Service (support/SecretService.ts).
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Equal, Fiber, Layer, Logger, Option } from "effect"
import { Credential, formatDocument, keyOf } from "../src/Credential.ts"
import { CredentialStore, type CredentialStoreError, keychainIndexAccount } from "../src/CredentialStore.ts"
import * as Keychain from "../src/internal/Keychain.ts"
import { fullCredential } from "./support/CredentialStoreBehaviour.ts"
import * as SecretService from "./support/SecretService.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const uniqueService = () => `mcpgate-test-${randomUUID()}`

const use = <A, E>(
  storeLayer: Layer.Layer<CredentialStore, CredentialStoreError>,
  body: (store: CredentialStore["Service"]) => Effect.Effect<A, E>
) => Effect.flatMap(CredentialStore, body).pipe(Effect.provide(storeLayer))

/** The store of an installation with its own state directory. */
const at = (directory: string, service: string) => CredentialStore.layerKeychain({ directory, service })

/** The store of an installation on the default state directory of `home` (no MCPGATE_HOME). */
const atDefault = (home: string, service: string) =>
  CredentialStore.layerKeychain({ service }).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ HOME: home })))
  )

/** Collects the log lines written while `effect` runs. */
const logged = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make((options) => {
      lines.push([options.message].flat().map(String).join(" "))
    })
    const result = yield* effect.pipe(Effect.provide(Logger.layer([logger])))
    return { result, lines }
  })

/** What the previous mcpgate wrote: account = keyOf, plus the `__index__` entry. */
const writeLegacy = (service: string, credentials: ReadonlyArray<Credential>) =>
  Effect.gen(function* () {
    for (const credential of credentials) {
      yield* Keychain.setPassword(
        service,
        keyOf(credential),
        yield* formatDocument([credential]),
        "2 seconds"
      )
    }
    const keys = credentials.map(keyOf).sort()
    yield* Keychain.setPassword(
      service,
      keychainIndexAccount,
      JSON.stringify({ version: 1, keys }),
      "2 seconds"
    )
  })

/** `fullCredential` saved at another time. */
const savedAt = (updatedAt: number, access: string) =>
  new Credential({ ...fullCredential("notion", "https://mcp.notion.example/mcp", { access }), updatedAt })

layer(SecretService.layer, { excludeTestServices: true, timeout: "60 seconds" })(
  "keychain entries scoped to the state directory",
  (it) => {
    it.effect("two state directories never see each other's credentials", () =>
      Effect.gen(function* () {
        const service = uniqueService()
        const one = yield* tempDirectory
        const two = yield* tempDirectory
        const first = fullCredential("notion", "https://mcp.notion.example/mcp", { access: "ACCESS-one" })
        const second = fullCredential("notion", "https://mcp.notion.example/mcp", { access: "ACCESS-two" })

        yield* use(at(one, service), (store) => store.set(first))
        yield* use(at(two, service), (store) =>
          Effect.gen(function* () {
            assert.isTrue(
              Option.isNone(yield* store.get(first)),
              "the other installation's login is not visible"
            )
            assert.deepStrictEqual(yield* store.list, [])
            assert.isFalse(yield* store.delete(first))
            yield* store.set(second)
          })
        )
        yield* use(at(one, service), (store) =>
          Effect.gen(function* () {
            assert.isTrue(Equal.equals(Option.getOrThrow(yield* store.get(first)), first))
            assert.strictEqual((yield* store.list).length, 1)
            assert.isTrue(yield* store.delete(first))
          })
        )
        yield* use(at(two, service), (store) =>
          Effect.gen(function* () {
            assert.isTrue(Equal.equals(Option.getOrThrow(yield* store.get(second)), second))
          })
        )
      })
    )

    it.effect(
      "the same directory by another path (a symlink) is the same installation, with the same locks",
      () =>
        Effect.gen(function* () {
          const service = uniqueService()
          const parent = yield* tempDirectory
          const real = path.join(parent, "state")
          const link = path.join(parent, "link")
          yield* Effect.promise(async () => {
            await fs.mkdir(real)
            await fs.symlink(real, link)
          })
          const credential = fullCredential()
          yield* use(at(real, service), (store) => store.set(credential))
          yield* use(at(link, service), (store) =>
            Effect.gen(function* () {
              assert.isTrue(Equal.equals(Option.getOrThrow(yield* store.get(credential)), credential))
            })
          )
          // A lock held through one path excludes a holder through the other.
          const held = yield* Deferred.make<void>()
          const holder = yield* Effect.forkChild(
            use(at(real, service), (store) =>
              store.withLock(credential, Effect.andThen(Deferred.succeed(held, undefined), Effect.never))
            )
          )
          yield* Deferred.await(held)
          const error = yield* Effect.flip(
            use(
              CredentialStore.layerKeychain({ directory: link, service, lockTimeout: "200 millis" }),
              (store) => store.withLock(credential, Effect.void)
            )
          )
          yield* Fiber.interrupt(holder)
          assert.strictEqual(error._tag, "CredentialStoreError")
          assert.strictEqual((error as CredentialStoreError).reason, "locked")
        })
    )

    it.effect(
      "entries of the previous version are adopted once by the default state directory and by no other",
      () =>
        Effect.gen(function* () {
          const service = uniqueService()
          const home = yield* tempDirectory
          const elsewhere = yield* tempDirectory
          const notion = fullCredential("notion", "https://mcp.notion.example/mcp")
          const linear = fullCredential("linear", "https://mcp.linear.example/mcp")
          yield* writeLegacy(service, [notion, linear])

          // Another installation neither sees nor takes them, and says where they went.
          const other = yield* logged(use(at(elsewhere, service), (store) => store.list))
          assert.deepStrictEqual(other.result, [])
          assert.isTrue(
            other.lines.some(
              (line) => line.includes("2 credentials") && line.includes("default state directory")
            ),
            other.lines.join("\n")
          )
          assert.isTrue(Option.isSome(yield* Keychain.getPassword(service, keyOf(notion), "2 seconds")))

          // The default state directory adopts them, says so, and removes the unscoped entries.
          const adopted = yield* logged(use(atDefault(home, service), (store) => store.list))
          assert.deepStrictEqual(
            adopted.result.map((c) => c.server),
            ["linear", "notion"]
          )
          assert.isTrue(Equal.equals(adopted.result[1], notion))
          assert.isTrue(
            adopted.lines.some((line) => line.includes("adopted 2 credentials")),
            adopted.lines.join("\n")
          )
          for (const account of [keyOf(notion), keyOf(linear), keychainIndexAccount]) {
            assert.isTrue(Option.isNone(yield* Keychain.getPassword(service, account, "2 seconds")), account)
          }

          // Once: the next start has nothing to adopt and says nothing about it.
          const again = yield* logged(use(atDefault(home, service), (store) => store.list))
          assert.strictEqual(again.result.length, 2)
          assert.isFalse(
            again.lines.some((line) => line.includes("adopted") || line.includes("earlier mcpgate")),
            again.lines.join("\n")
          )
          const stillElsewhere = yield* use(at(elsewhere, service), (store) => store.list)
          assert.deepStrictEqual(stillElsewhere, [])
        })
    )

    it.effect(
      "adoption keeps the newer of an unscoped entry and the scoped one (an old process still refreshing)",
      () =>
        Effect.gen(function* () {
          const service = uniqueService()
          const home = yield* tempDirectory
          const scoped = savedAt(2_000, "ACCESS-scoped")
          yield* use(atDefault(home, service), (store) => store.set(scoped))

          // A stale unscoped copy (older) is dropped, the scoped one stays.
          const stale = savedAt(1_000, "ACCESS-stale")
          yield* writeLegacy(service, [stale])
          const kept = yield* use(atDefault(home, service), (store) => store.get(scoped))
          assert.isTrue(Equal.equals(Option.getOrThrow(kept), scoped))
          assert.isTrue(Option.isNone(yield* Keychain.getPassword(service, keyOf(stale), "2 seconds")))

          // A newer unscoped one (an old mcpgate refreshed it meanwhile) replaces it.
          const fresh = savedAt(3_000, "ACCESS-fresh")
          yield* writeLegacy(service, [fresh])
          const replaced = yield* use(atDefault(home, service), (store) => store.get(scoped))
          assert.isTrue(Equal.equals(Option.getOrThrow(replaced), fresh))
        })
    )
  }
)
