/**
 * Keychain entries have a size limit on some platforms (Windows Credential
 * Manager: 2,560 bytes). Documents are stored compact and, above the limit,
 * split into chunk entries behind a head entry, written so that a crash at any
 * step leaves the previous or the new credential, never a wrong one. Simulated
 * with a small limit on a REAL Secret Service (support/SecretService.ts).
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Equal, Exit, Layer, Option, Redacted } from "effect"
import { ClientRegistration, Credential, keyOf, TokenSet } from "../src/Credential.ts"
import { CredentialStore, keychainIndexAccount, type LockOptions } from "../src/CredentialStore.ts"
import * as Keychain from "../src/internal/Keychain.ts"
import * as KeychainEntries from "../src/internal/KeychainEntries.ts"
import { keychainAccount, keychainScope } from "../src/internal/KeychainStore.ts"
import { behaviourSuite, fullCredential } from "./support/CredentialStoreBehaviour.ts"
import * as SecretService from "./support/SecretService.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const limit = 512

const uniqueService = () => `mcpgate-test-${randomUUID()}`

const smallLimitLayer = (options: LockOptions) =>
  Layer.unwrap(
    Effect.map(tempDirectory, (directory) =>
      CredentialStore.layerKeychain({ directory, service: uniqueService(), maxEntryBytes: limit, ...options })
    )
  )

/** A JWT-shaped token (header.payload.signature, base64url) of about `length` characters. */
const jwt = (length: number, seed: string) => {
  const part = (n: number) =>
    Buffer.from(`${seed}:${"x".repeat(n)}`)
      .toString("base64url")
      .slice(0, n)
  return `${part(36)}.${part(length - 124)}.${part(86)}`
}

const bigCredential = (access: string, refresh = jwt(900, "refresh")) =>
  new Credential({
    server: "entra",
    url: "https://mcp.entra.example/mcp",
    issuer: "https://login.entra.example/tenant/v2.0",
    resource: "https://mcp.entra.example/mcp",
    registration: new ClientRegistration({
      method: "dcr",
      clientId: "client-123",
      clientSecret: Redacted.make("CLIENT-SECRET-big"),
      redirectUris: ["http://127.0.0.1:33418/callback"]
    }),
    tokens: new TokenSet({
      accessToken: Redacted.make(access),
      refreshToken: Redacted.make(refresh),
      tokenType: "Bearer",
      expiresAt: 1_760_000_360_000,
      scope: "openid profile offline_access api://mcp/.default"
    }),
    updatedAt: 1_760_000_000_500
  })

const withStore = <A, E>(
  directory: string,
  service: string,
  body: (store: CredentialStore["Service"]) => Effect.Effect<A, E>,
  maxEntryBytes: number | "none" = limit
) =>
  Effect.flatMap(CredentialStore, body).pipe(
    Effect.provide(
      CredentialStore.layerKeychain({
        directory,
        service,
        maxEntryBytes: maxEntryBytes === "none" ? undefined : maxEntryBytes
      })
    )
  )

/** Every entry the store may have written for `key` in `directory`'s scope, with its text. */
const entriesOf = (directory: string, service: string, key: string) =>
  Effect.gen(function* () {
    const account = keychainAccount(keychainScope(yield* Effect.promise(() => fs.realpath(directory))), key)
    const found = new Map<string, string>()
    const head = yield* Keychain.getPassword(service, account, "2 seconds")
    if (Option.isSome(head)) found.set(account, head.value)
    // A slot's chunks are always numbered from 0 without a gap (written in order, removed from the end).
    for (const slot of [0, 1]) {
      for (let index = 0; ; index++) {
        const name = KeychainEntries.chunkAccount(account, slot, index)
        const chunk = yield* Keychain.getPassword(service, name, "2 seconds")
        if (Option.isNone(chunk)) break
        found.set(name, chunk.value)
      }
    }
    return { account, found }
  })

layer(SecretService.layer, { excludeTestServices: true, timeout: "120 seconds" })(
  "keychain entries under a size limit",
  (it) => {
    it.layer(Layer.empty)("behaviour with a 512-byte limit", (it) => behaviourSuite(it, smallLimitLayer))

    it.effect("without a limit an entry is one compact document", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory
        const service = uniqueService()
        const credential = fullCredential()
        yield* withStore(directory, service, (store) => store.set(credential), "none")
        const { account, found } = yield* entriesOf(directory, service, keyOf(credential))
        assert.deepStrictEqual([...found.keys()], [account])
        const text = found.get(account) ?? ""
        assert.notInclude(text, "\n")
        assert.strictEqual(text, JSON.stringify(JSON.parse(text)))
      })
    )

    it.effect(
      "a JWT-sized credential round-trips through entries that each fit the limit",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const service = uniqueService()
          const credential = bigCredential(jwt(4000, "access"))
          yield* withStore(directory, service, (store) =>
            Effect.gen(function* () {
              yield* store.set(credential)
              assert.isTrue(Equal.equals(Option.getOrThrow(yield* store.get(credential)), credential))
              const listed = yield* store.list
              assert.strictEqual(listed.length, 1)
              assert.isTrue(Equal.equals(listed[0], credential))
            })
          )
          const { account, found } = yield* entriesOf(directory, service, keyOf(credential))
          assert.isAbove(found.size, 8, "split into several entries")
          for (const [name, text] of found) {
            assert.isAtMost(Buffer.byteLength(text), limit, `${name} holds ${Buffer.byteLength(text)} bytes`)
          }
          const head = JSON.parse(found.get(account) ?? "{}")
          assert.strictEqual(
            head.version,
            2,
            "an older mcpgate reads the head as a newer version and leaves it"
          )
          assert.strictEqual(head.chunks.count, found.size - 1)
          // The index is an entry like any other: it fits too, and reads back.
          const index = yield* entriesOf(directory, service, keychainIndexAccount)
          for (const text of index.found.values()) assert.isAtMost(Buffer.byteLength(text), limit)
        }),
      60_000
    )

    it.effect(
      "replacing and deleting a split credential leaves no chunk behind",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const service = uniqueService()
          const large = bigCredential(jwt(4000, "one"))
          const larger = bigCredential(jwt(6000, "two"))
          const smaller = bigCredential(jwt(1500, "three"))
          const small = new Credential({
            server: "entra",
            url: "https://mcp.entra.example/mcp",
            tokens: new TokenSet({ accessToken: Redacted.make("opaque-token"), tokenType: "Bearer" }),
            updatedAt: 1
          })
          yield* withStore(directory, service, (store) =>
            Effect.gen(function* () {
              for (const credential of [large, larger, smaller, large]) {
                yield* store.set(credential)
                assert.isTrue(Equal.equals(Option.getOrThrow(yield* store.get(credential)), credential))
                const { found } = yield* entriesOf(directory, service, keyOf(credential))
                const head = JSON.parse([...found.values()][0] ?? "{}")
                assert.strictEqual(found.size, head.chunks.count + 1, "only the current chunks are kept")
              }
              yield* store.set(small)
              const afterSmall = yield* entriesOf(directory, service, keyOf(small))
              assert.strictEqual(afterSmall.found.size, 1, "a credential that fits is one entry again")
              yield* store.set(larger)
              assert.isTrue(yield* store.delete(larger))
              assert.isTrue(Option.isNone(yield* store.get(larger)))
              assert.deepStrictEqual(yield* store.list, [])
            })
          )
          const { found } = yield* entriesOf(directory, service, keyOf(larger))
          assert.deepStrictEqual([...found.keys()], [])
        }),
      60_000
    )

    it.effect(
      "a write stopped at any step leaves the previous or the new credential, never a wrong one",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const service = uniqueService()
          const previous = bigCredential(jwt(4000, "previous"))
          const next = bigCredential(jwt(5000, "next"))
          const after = bigCredential(jwt(3000, "after"))
          yield* withStore(directory, service, (store) => store.set(previous))

          const stopAt = (step: KeychainEntries.WriteStep) =>
            withStore(directory, service, (store) => store.set(next)).pipe(
              Effect.provideService(KeychainEntries.BeforeStep, (reached) =>
                reached === step ? Effect.interrupt : Effect.void
              ),
              Effect.exit
            )

          // Stopped after the new chunks, before the head: the previous credential is intact.
          assert.isTrue(Exit.isFailure(yield* stopAt("head")))
          const kept = yield* withStore(directory, service, (store) => store.get(previous))
          assert.isTrue(Equal.equals(Option.getOrThrow(kept), previous))

          // Stopped after the head, before the old chunks are removed: the new credential is whole.
          assert.isTrue(Exit.isFailure(yield* stopAt("cleanup")))
          const switched = yield* withStore(directory, service, (store) => store.get(next))
          assert.isTrue(Equal.equals(Option.getOrThrow(switched), next))

          // The next complete write removes whatever the stopped ones left.
          yield* withStore(directory, service, (store) => store.set(after))
          const { found } = yield* entriesOf(directory, service, keyOf(after))
          const head = JSON.parse([...found.values()][0] ?? "{}")
          assert.strictEqual(found.size, head.chunks.count + 1)
          const back = yield* withStore(directory, service, (store) => store.get(after))
          assert.isTrue(Equal.equals(Option.getOrThrow(back), after))
        }),
      60_000
    )
  }
)

describe("the platform's entry limit", () => {
  it("is 2,560 bytes on Windows and none elsewhere", () => {
    assert.strictEqual(KeychainEntries.defaultMaxEntryBytes("win32"), 2560)
    assert.isUndefined(KeychainEntries.defaultMaxEntryBytes("linux"))
    assert.isUndefined(KeychainEntries.defaultMaxEntryBytes("darwin"))
  })

  it("counts what the platform stores: UTF-16 on Windows, UTF-8 elsewhere", () => {
    assert.strictEqual(KeychainEntries.entryBytes("aé🦀", "win32"), 8)
    assert.strictEqual(KeychainEntries.entryBytes("aé🦀", "linux"), 7)
  })
})
