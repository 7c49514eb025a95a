/**
 * The one behaviour suite every `CredentialStore` layer must pass (memory,
 * file, keychain, auto). `it` must come from a `layer(…, { excludeTestServices:
 * true })` block: locks and timeouts run on the real clock.
 */
import * as util from "node:util"
import { assert, type Vitest } from "@effect/vitest"
import { Deferred, Effect, Equal, Exit, Fiber, type Layer, Option, Redacted } from "effect"
import { ClientRegistration, Credential, keyOf, metadata, TokenSet } from "../../src/Credential.ts"
import { CredentialStore, type CredentialStoreError, type LockOptions } from "../../src/CredentialStore.ts"

export const secrets = {
  access: "ACCESS-7f3a9c-secret",
  refresh: "REFRESH-51be02-secret",
  client: "CLIENT-SECRET-d41d8c"
} as const

export const fullCredential = (
  server = "notion",
  url = "https://mcp.notion.example/mcp",
  overrides: { readonly access?: string; readonly scope?: string } = {}
): Credential =>
  new Credential({
    server,
    url,
    issuer: "https://auth.notion.example",
    resource: url,
    registration: new ClientRegistration({
      method: "dcr",
      clientId: "client-123",
      clientSecret: Redacted.make(secrets.client),
      clientSecretExpiresAt: 0,
      redirectUris: ["http://127.0.0.1:33418/callback"],
      tokenEndpointAuthMethod: "client_secret_basic",
      registeredAt: 1_760_000_000_000
    }),
    tokens: new TokenSet({
      accessToken: Redacted.make(overrides.access ?? secrets.access),
      refreshToken: Redacted.make(secrets.refresh),
      tokenType: "Bearer",
      expiresAt: 1_760_000_360_000,
      scope: overrides.scope ?? "read write offline_access"
    }),
    updatedAt: 1_760_000_000_500
  })

const minimalCredential = (server: string, url: string, scope: string): Credential =>
  new Credential({
    server,
    url,
    tokens: new TokenSet({ accessToken: Redacted.make(`token-${scope}`), tokenType: "Bearer", scope }),
    updatedAt: 1
  })

/** Per-test limit for tests that do many real I/O round trips (the machine may be busy). */
export const slow = 30_000

export const assertNoSecret = (text: string, where: string): void => {
  for (const secret of Object.values(secrets)) {
    assert.isFalse(text.includes(secret), `${where} shows a secret: ${text}`)
  }
}

/** Registers the suite. `makeLayer` must give a fresh, empty store on each call. */
export const behaviourSuite = (
  it: Vitest.MethodsNonLive,
  makeLayer: (options: LockOptions) => Layer.Layer<CredentialStore, unknown>
): void => {
  const withStore = <A, E>(
    body: (store: CredentialStore["Service"]) => Effect.Effect<A, E>,
    options: LockOptions = {}
  ): Effect.Effect<A, unknown> =>
    Effect.gen(function* () {
      return yield* body(yield* CredentialStore)
    }).pipe(Effect.provide(makeLayer(options)))

  it.effect("get on an empty store is none, list is empty", () =>
    withStore((store) =>
      Effect.gen(function* () {
        assert.isTrue(
          Option.isNone(yield* store.get({ server: "notion", url: "https://mcp.notion.example/mcp" }))
        )
        assert.deepStrictEqual(yield* store.list, [])
        assert.isFalse(yield* store.delete({ server: "notion", url: "https://mcp.notion.example/mcp" }))
      })
    )
  )

  it.effect("set then get returns an equal credential (Redacted compared by value)", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const credential = fullCredential()
        yield* store.set(credential)
        const got = yield* store.get({ server: "notion", url: "https://mcp.notion.example/mcp" })
        assert.isTrue(Option.isSome(got))
        const value = Option.getOrThrow(got)
        assert.isTrue(Equal.equals(value, credential))
        assert.strictEqual(Redacted.value(value.tokens?.accessToken ?? Redacted.make("")), secrets.access)
        assert.strictEqual(Redacted.value(value.tokens?.refreshToken ?? Redacted.make("")), secrets.refresh)
        assert.strictEqual(
          Redacted.value(value.registration?.clientSecret ?? Redacted.make("")),
          secrets.client
        )
        assert.deepStrictEqual(value.registration?.redirectUris, ["http://127.0.0.1:33418/callback"])
        // A different access token is a different credential.
        assert.isFalse(Equal.equals(value, fullCredential(undefined, undefined, { access: "other" })))
      })
    )
  )

  it.effect("set overwrites the credential with the same key", () =>
    withStore((store) =>
      Effect.gen(function* () {
        yield* store.set(fullCredential())
        const replacement = fullCredential(undefined, undefined, { access: "ACCESS-2", scope: "read" })
        yield* store.set(replacement)
        const got = Option.getOrThrow(yield* store.get(replacement))
        assert.isTrue(Equal.equals(got, replacement))
        assert.strictEqual((yield* store.list).length, 1)
      })
    )
  )

  it.effect("delete removes only that credential and reports whether it was there", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const a = fullCredential("a", "https://a.example/mcp")
        const b = fullCredential("b", "https://b.example/mcp")
        yield* store.set(a)
        yield* store.set(b)
        assert.isTrue(yield* store.delete(a))
        assert.isTrue(Option.isNone(yield* store.get(a)))
        assert.isTrue(Option.isSome(yield* store.get(b)))
        assert.isFalse(yield* store.delete(a))
        assert.deepStrictEqual(
          (yield* store.list).map((c) => c.server),
          ["b"]
        )
      })
    )
  )

  it.effect("list returns every credential, sorted by key", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const credentials = [
          minimalCredential("zeta", "https://z.example/mcp", "1"),
          minimalCredential("alpha", "https://a.example/mcp", "2"),
          minimalCredential("mid", "https://m.example/mcp", "3")
        ]
        for (const credential of credentials) yield* store.set(credential)
        const listed = yield* store.list
        assert.deepStrictEqual(
          listed.map((c) => c.server),
          ["alpha", "mid", "zeta"]
        )
        for (const credential of credentials) {
          assert.isTrue(listed.some((c) => Equal.equals(c, credential)))
        }
      })
    )
  )

  it.effect("the same server with a different URL is a different credential; URL spelling is canonical", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const old = minimalCredential("notion", "https://mcp.notion.example/mcp", "old")
        const moved = minimalCredential("notion", "https://mcp2.notion.example/mcp", "new")
        yield* store.set(old)
        assert.isTrue(Option.isNone(yield* store.get(moved)))
        yield* store.set(moved)
        assert.strictEqual(Option.getOrThrow(yield* store.get(old)).tokens?.scope, "old")
        assert.strictEqual(Option.getOrThrow(yield* store.get(moved)).tokens?.scope, "new")
        assert.strictEqual((yield* store.list).length, 2)
        // Case of the host, a trailing slash and a default port do not make a new key.
        const same = Option.getOrThrow(
          yield* store.get({ server: "notion", url: "HTTPS://MCP.notion.example:443/mcp/" })
        )
        assert.strictEqual(same.tokens?.scope, "old")
        // Another server name at the same URL is another credential.
        assert.isTrue(
          Option.isNone(yield* store.get({ server: "notion-2", url: "https://mcp.notion.example/mcp" }))
        )
        assert.isTrue(yield* store.delete(old))
        assert.strictEqual(Option.getOrThrow(yield* store.get(moved)).tokens?.scope, "new")
      })
    )
  )

  it.effect(
    "withLock serialises a read-modify-write of one key from 50 fibers",
    () =>
      withStore((store) =>
        Effect.gen(function* () {
          const key = { server: "counter", url: "https://counter.example/mcp" }
          const increment = store.withLock(
            key,
            Effect.gen(function* () {
              const current = yield* store.get(key)
              const count = Option.match(current, { onNone: () => 0, onSome: (c) => Number(c.tokens?.scope) })
              // Let the other fibers run between the read and the write: without the lock they would overwrite.
              yield* Effect.yieldNow
              yield* Effect.sleep("1 millis")
              yield* store.set(minimalCredential(key.server, key.url, String(count + 1)))
            })
          )
          yield* Effect.all(
            Array.from({ length: 50 }, () => increment),
            { concurrency: "unbounded", discard: true }
          )
          assert.strictEqual(Option.getOrThrow(yield* store.get(key)).tokens?.scope, "50")
        })
      ),
    slow
  )

  it.effect("withLock is re-entrant for the same key and released after failure and interruption", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const key = { server: "nested", url: "https://nested.example/mcp" }
        const nested = yield* store.withLock(key, store.withLock(key, Effect.succeed("inner")))
        assert.strictEqual(nested, "inner")

        const failed = yield* Effect.exit(store.withLock(key, Effect.fail("boom")))
        assert.isTrue(Exit.isFailure(failed))

        const held = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(
          store.withLock(key, Effect.andThen(Deferred.succeed(held, undefined), Effect.never))
        )
        yield* Deferred.await(held)
        yield* Fiber.interrupt(holder)
        assert.strictEqual(yield* store.withLock(key, Effect.succeed("after")), "after")
      })
    )
  )

  it.effect("a lock held too long fails with reason locked; the message names the server, not a secret", () =>
    withStore(
      (store) =>
        Effect.gen(function* () {
          const credential = fullCredential("busy", "https://busy.example/mcp")
          yield* store.set(credential)
          const held = yield* Deferred.make<void>()
          const holder = yield* Effect.forkChild(
            store.withLock(credential, Effect.andThen(Deferred.succeed(held, undefined), Effect.never))
          )
          yield* Deferred.await(held)
          const error = yield* Effect.flip(store.withLock(credential, Effect.void))
          yield* Fiber.interrupt(holder)
          assert.strictEqual(error._tag, "CredentialStoreError")
          const storeError = error as CredentialStoreError
          assert.strictEqual(storeError.reason, "locked")
          assert.include(storeError.message, '"busy"')
          assertNoSecret(storeError.message, "the lock error message")
          assertNoSecret(String(storeError), "String(error)")
          assertNoSecret(util.inspect(storeError, { depth: Number.POSITIVE_INFINITY }), "inspect(error)")
        }),
      { lockTimeout: "150 millis" }
    )
  )

  it.effect("secrets are not visible in String, JSON, inspect, metadata or the description", () =>
    withStore((store) =>
      Effect.gen(function* () {
        const credential = fullCredential()
        yield* store.set(credential)
        const got = yield* store.get(credential)
        const listed = yield* store.list
        const shown = [
          String(credential),
          `${credential}`,
          JSON.stringify(credential),
          util.inspect(credential, { depth: Number.POSITIVE_INFINITY }),
          String(got),
          util.inspect(got, { depth: Number.POSITIVE_INFINITY }),
          JSON.stringify(listed),
          JSON.stringify(metadata(credential)),
          store.description
        ]
        for (const text of shown) assertNoSecret(text, "printed credential")
        const meta = metadata(credential)
        assert.deepStrictEqual(JSON.parse(JSON.stringify(meta)), {
          key: keyOf(credential),
          server: "notion",
          url: "https://mcp.notion.example/mcp",
          issuer: "https://auth.notion.example",
          resource: "https://mcp.notion.example/mcp",
          registrationMethod: "dcr",
          clientId: "client-123",
          hasClientSecret: true,
          hasAccessToken: true,
          hasRefreshToken: true,
          tokenType: "Bearer",
          expiresAt: 1_760_000_360_000,
          scope: "read write offline_access",
          updatedAt: 1_760_000_000_500
        })
      })
    )
  )
}
