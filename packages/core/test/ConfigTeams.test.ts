// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts hold ${env:VAR} references, not templates
/** `server.users` and `server.auth` (docs/teams.md) as the config file declares them. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { parse } from "../src/ConfigFile.ts"
import { encodeText } from "../src/ConfigSchema.ts"

const text = JSON.stringify({
  server: {
    users: {
      alice: { apiKeys: ["${env:ALICE_KEY}"], admin: true },
      bob: {},
      _comment: "names starting with _ are comments"
    },
    auth: {
      issuer: "https://login.example.com/realms/acme",
      clientId: "mcpgate",
      clientSecret: "${env:OIDC_SECRET}",
      adminClaim: "realm_access.roles=mcpgate-admin"
    }
  }
})

describe("server.users and server.auth", () => {
  it.effect("decode with their defaults, secrets redacted, and write back unchanged", () =>
    Effect.gen(function* () {
      const config = yield* parse(text, "mcpgate.json", {
        ALICE_KEY: "alice-s3cret",
        OIDC_SECRET: "oidc-s3cret"
      })
      const users = config.server.users ?? {}
      assert.deepStrictEqual(Object.keys(users), ["alice", "bob"])
      assert.deepStrictEqual(users.alice?.apiKeys.map(Redacted.value), ["alice-s3cret"])
      assert.strictEqual(users.alice?.admin, true)
      assert.deepStrictEqual(users.bob, { apiKeys: [], admin: false })
      const auth = config.server.auth
      assert.strictEqual(auth?.userClaim, "sub")
      assert.strictEqual(auth?.adminClaim, "realm_access.roles=mcpgate-admin")
      assert.notInclude(String(auth?.clientSecret), "oidc-s3cret")
      const again = yield* parse(encodeText(config), "mcpgate.json")
      assert.deepStrictEqual(again.server.users?.bob, users.bob)
      assert.strictEqual(again.server.auth?.issuer, auth?.issuer)
      // Absent stays absent (no empty `users` written into every file).
      const plain = yield* parse("{}", "mcpgate.json")
      assert.isUndefined(plain.server.users)
      assert.notInclude(encodeText(plain), "users")
    })
  )

  it.effect("name the path of a mistake", () =>
    Effect.gen(function* () {
      const typo = yield* Effect.flip(
        parse('{ "server": { "users": { "alice": { "apiKey": ["k"] } } } }', "mcpgate.json")
      )
      assert.include(typo.message, "server.users.alice.apiKey")
      assert.include(typo.message, 'did you mean "apiKeys"')
      const missing = yield* Effect.flip(
        parse('{ "server": { "auth": { "clientId": "x" } } }', "mcpgate.json")
      )
      assert.include(missing.message, "server.auth")
      assert.include(missing.message, '"issuer"')
    })
  )
})
