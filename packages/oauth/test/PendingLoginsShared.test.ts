/**
 * Pending logins in a shared store travel as text: what one replica puts, any
 * other takes back whole (URL, PKCE verifier, client registration), once.
 */
import { assert, describe, it } from "@effect/vitest"
import { ClientRegistration } from "@mcpgate/core/Credential"
import { serverConfig } from "@mcpgate/testing/Harness"
import { Effect, Equal, Option, Redacted } from "effect"
import { makeShared, type PendingLogin, type PendingLoginStorage } from "../src/PendingLogins.ts"

/** What a store does with the documents: keeps text by id, hands it out once. */
const textStorage = () => {
  const documents = new Map<string, string>()
  const storage: PendingLoginStorage = {
    put: (id, document) => Effect.sync(() => void documents.set(id, document)),
    take: (id) =>
      Effect.sync(() => {
        const document = documents.get(id)
        documents.delete(id)
        return Option.fromUndefinedOr(document)
      })
  }
  return { documents, storage }
}

const verifier = "verifier-8c1f0e-secret"
const clientSecret = "client-secret-44a1-secret"

const login = (expiresAt: number): PendingLogin => ({
  server: serverConfig("notes", "https://notes.example/mcp"),
  discovered: {
    serverUrl: "https://notes.example/mcp",
    resource: "https://notes.example/mcp",
    authorizationServer: {
      issuer: "https://auth.example",
      metadata: { issuer: "https://auth.example", token_endpoint: "https://auth.example/token" },
      source: "metadata"
    },
    dpop: false
  },
  registration: new ClientRegistration({
    method: "dcr",
    clientId: "client-1",
    clientSecret: Redacted.make(clientSecret),
    redirectUris: ["https://gw.example/admin/api/mcp/oauth/callback"]
  }),
  scopes: ["read", "write"],
  authorization: {
    url: new URL("https://auth.example/authorize?state=s-1"),
    state: "s-1",
    codeVerifier: Redacted.make(verifier),
    redirectUri: "https://gw.example/admin/api/mcp/oauth/callback"
  },
  expiresAt
})

describe("PendingLogins.makeShared", () => {
  it.effect("a login put by one replica is taken whole by another, once", () =>
    Effect.gen(function* () {
      const { documents, storage } = textStorage()
      const original = login(Date.now() + 600_000)
      yield* makeShared(storage).put(original)
      const taken = Option.getOrThrow(yield* makeShared(storage).take("s-1"))
      assert.strictEqual(taken.authorization.url.href, original.authorization.url.href)
      assert.instanceOf(taken.authorization.url, URL)
      assert.strictEqual(Redacted.value(taken.authorization.codeVerifier), verifier)
      assert.instanceOf(taken.registration, ClientRegistration)
      assert.isTrue(Equal.equals(taken.registration, original.registration))
      assert.deepStrictEqual(taken.scopes, ["read", "write"])
      assert.strictEqual(taken.server.name, "notes")
      assert.strictEqual(taken.discovered.authorizationServer.issuer, "https://auth.example")
      assert.isTrue(Option.isNone(yield* makeShared(storage).take("s-1")))
      assert.strictEqual(documents.size, 0)
    })
  )

  it.live("an expired or unreadable document is no login", () =>
    Effect.gen(function* () {
      const { documents, storage } = textStorage()
      yield* makeShared(storage).put(login(Date.now() - 1))
      assert.isTrue(Option.isNone(yield* makeShared(storage).take("s-1")))
      documents.set("s-2", "{not json")
      assert.isTrue(Option.isNone(yield* makeShared(storage).take("s-2")))
    })
  )
})
