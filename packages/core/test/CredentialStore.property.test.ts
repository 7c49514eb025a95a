/**
 * Fuzzing the file layer with arbitrary credentials (fast-check, fixed seed so
 * a failure reproduces): whatever is set is what get returns, byte for byte,
 * including odd Unicode and lone surrogates in secrets.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Equal, Layer, Option, Redacted } from "effect"
import fc from "fast-check"
import {
  ClientRegistration,
  Credential,
  formatDocument,
  keyOf,
  parseDocument,
  TokenSet
} from "../src/Credential.ts"
import { CredentialStore } from "../src/CredentialStore.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const seed = 20_251_126
const text = fc.string({ unit: "binary", maxLength: 40 })
const secret = fc
  .string({ unit: "binary", minLength: 1, maxLength: 200 })
  .map((value) => Redacted.make(value))
const epochMillis = fc.oneof(
  fc.integer({ min: 0, max: 4_102_444_800_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true })
)

const registration = fc
  .record(
    {
      method: fc.constantFrom("pre-registered" as const, "cimd" as const, "dcr" as const),
      clientId: text,
      clientSecret: secret,
      clientSecretExpiresAt: epochMillis,
      redirectUris: fc.array(fc.webUrl(), { maxLength: 3 }),
      tokenEndpointAuthMethod: text,
      registeredAt: epochMillis
    },
    { requiredKeys: ["method", "clientId", "redirectUris"] }
  )
  .map((fields) => new ClientRegistration(fields))

const tokens = fc
  .record(
    {
      accessToken: secret,
      refreshToken: secret,
      tokenType: text,
      expiresAt: epochMillis,
      scope: text
    },
    { requiredKeys: ["accessToken", "tokenType"] }
  )
  .map((fields) => new TokenSet(fields))

const credential = fc
  .record(
    {
      server: fc.string({ unit: "binary", minLength: 1, maxLength: 30 }),
      url: fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), text),
      issuer: fc.webUrl(),
      resource: fc.webUrl(),
      registration: registration,
      tokens: tokens,
      updatedAt: epochMillis
    },
    { requiredKeys: ["server", "url", "updatedAt"] }
  )
  .map((fields) => new Credential(fields))

layer(Layer.empty, { excludeTestServices: true, timeout: "30 seconds" })("arbitrary credentials", (it) => {
  it.effect("format then parse gives back an equal credential", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(credential, async (value) => {
          const parsed = await Effect.runPromise(Effect.flatMap(formatDocument([value]), parseDocument))
          return Equal.equals(parsed.get(keyOf(value)), value)
        }),
        { seed, numRuns: 300 }
      )
    )
  )

  it.effect("file layer: set then get gives back an equal credential", () =>
    Effect.gen(function* () {
      const store = yield* CredentialStore
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(credential, async (value) => {
            const got = await Effect.runPromise(Effect.andThen(store.set(value), store.get(value)))
            return Option.isSome(got) && Equal.equals(got.value, value)
          }),
          { seed, numRuns: 60 }
        )
      )
      // Everything written is still there and readable as one document.
      assert.isAbove((yield* store.list).length, 0)
    }).pipe(
      Effect.provide(
        Layer.unwrap(Effect.map(tempDirectory, (directory) => CredentialStore.layerFile({ directory })))
      )
    )
  )
})
