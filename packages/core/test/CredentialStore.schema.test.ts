/**
 * The credential schema and its versioned document (src/Credential.ts): keys,
 * migration, the v1 fixture that every later version must keep reading, and
 * redaction.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Equal, Exit, Redacted } from "effect"
import {
  Credential,
  type CredentialDocumentError,
  canonicalUrl,
  formatDocument,
  keyOf,
  metadata,
  migrate,
  parseDocument,
  TokenSet
} from "../src/Credential.ts"
import { assertNoSecret, fullCredential, secrets } from "./support/CredentialStoreBehaviour.ts"

const fixture = path.join(import.meta.dirname, "fixtures", "credentials", "v1.json")

const documentFailure = (effect: Effect.Effect<unknown, CredentialDocumentError>) => Effect.flip(effect)

describe("keyOf", () => {
  it("is <server>|<canonical url>", () => {
    assert.strictEqual(
      keyOf({ server: "notion", url: "https://mcp.notion.com/mcp" }),
      "notion|https://mcp.notion.com/mcp"
    )
  })

  it("canonicalises the URL: case of scheme and host, default port, trailing slash, fragment, user info", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["HTTPS://MCP.Example.COM:443/mcp/", "https://mcp.example.com/mcp"],
      ["https://mcp.example.com", "https://mcp.example.com"],
      ["https://mcp.example.com/", "https://mcp.example.com"],
      ["https://mcp.example.com/mcp#frag", "https://mcp.example.com/mcp"],
      ["https://user:pw@mcp.example.com/mcp", "https://mcp.example.com/mcp"],
      ["http://127.0.0.1:8080/mcp?tenant=a", "http://127.0.0.1:8080/mcp?tenant=a"],
      ["  https://x.example/Path  ", "https://x.example/Path"],
      ["not a url", "not a url"]
    ]
    for (const [input, expected] of cases) assert.strictEqual(canonicalUrl(input), expected, input)
  })

  it("keeps the path, query and port significant", () => {
    const base = keyOf({ server: "s", url: "https://x.example/mcp" })
    for (const url of [
      "https://x.example/other",
      "https://x.example/mcp?v=2",
      "https://x.example:8443/mcp",
      "http://x.example/mcp"
    ]) {
      assert.notStrictEqual(keyOf({ server: "s", url }), base, url)
    }
  })

  it("cannot be made to collide by a | in the server name", () => {
    const a = keyOf({ server: "a|https://b.example", url: "https://c.example" })
    const b = keyOf({ server: "a", url: "https://b.example|https://c.example" })
    assert.notStrictEqual(a, b)
    assert.strictEqual(a, "a%7Chttps://b.example|https://c.example")
    assert.notStrictEqual(keyOf({ server: "a%7C", url: "u" }), keyOf({ server: "a|", url: "u" }))
    // Any string is a valid name, even a lone surrogate.
    assert.strictEqual(keyOf({ server: "\ud800", url: "u" }), "\ud800|u")
  })
})

describe("migrate", () => {
  it.effect("accepts version 1 as it is", () =>
    Effect.gen(function* () {
      const document = { version: 1, credentials: {} }
      assert.strictEqual(yield* migrate(document), document)
    })
  )

  it.effect("a newer version is unsupported-version, never dropped", () =>
    Effect.gen(function* () {
      const error = yield* documentFailure(migrate({ version: 2, credentials: {} }))
      assert.strictEqual(error.reason, "unsupported-version")
      assert.include(error.message, "version 2")
    })
  )

  it.effect("a missing or invalid version, or not an object, is corrupt", () =>
    Effect.gen(function* () {
      for (const document of [{}, { version: "1" }, { version: 0 }, { version: 1.5 }, [], null, "x", 1]) {
        const error = yield* documentFailure(migrate(document))
        assert.strictEqual(error.reason, "corrupt", JSON.stringify(document))
      }
    })
  )
})

describe("the v1 document", () => {
  it.effect("the v1 fixture parses into the expected credentials and formats back to the same document", () =>
    Effect.gen(function* () {
      const text = yield* Effect.promise(() => fs.readFile(fixture, "utf8"))
      const credentials = yield* parseDocument(text)
      assert.deepStrictEqual(
        [...credentials.keys()],
        [
          "local|http://127.0.0.1:8931/mcp",
          "notion|https://mcp.notion.example/mcp",
          "pending|https://pending.example/mcp"
        ]
      )
      assert.isTrue(Equal.equals(credentials.get("notion|https://mcp.notion.example/mcp"), fullCredential()))
      const local = credentials.get("local|http://127.0.0.1:8931/mcp")
      assert.strictEqual(
        Redacted.value(local?.tokens?.accessToken ?? Redacted.make("")),
        "fixture-access-token"
      )
      assert.isUndefined(credentials.get("pending|https://pending.example/mcp")?.tokens)
      assert.deepStrictEqual(JSON.parse(yield* formatDocument(credentials.values())), JSON.parse(text))
    })
  )

  it.effect("on disk the secrets are plain strings; in memory they are Redacted", () =>
    Effect.gen(function* () {
      const credential = fullCredential()
      const text = yield* formatDocument([credential])
      const onDisk = JSON.parse(text).credentials[keyOf(credential)]
      assert.strictEqual(onDisk.tokens.accessToken, secrets.access)
      assert.strictEqual(onDisk.tokens.refreshToken, secrets.refresh)
      assert.strictEqual(onDisk.registration.clientSecret, secrets.client)
      const back = (yield* parseDocument(text)).get(keyOf(credential))
      assert.isTrue(Redacted.isRedacted(back?.tokens?.accessToken))
      assertNoSecret(JSON.stringify(back), "JSON of a parsed credential")
    })
  )

  it.effect("the credential, not the document key, decides the key", () =>
    Effect.gen(function* () {
      const credential = fullCredential()
      const text = JSON.stringify({
        version: 1,
        credentials: {
          "hand-edited": JSON.parse(yield* formatDocument([credential])).credentials[keyOf(credential)]
        }
      })
      assert.deepStrictEqual([...(yield* parseDocument(text)).keys()], [keyOf(credential)])
    })
  )

  it.effect("bad JSON and schema mismatches are corrupt, with messages that never quote the document", () =>
    Effect.gen(function* () {
      const badJson = yield* documentFailure(
        parseDocument(`{"version":1,"credentials":{"a":"${secrets.access}`)
      )
      assert.strictEqual(badJson.reason, "corrupt")
      assert.strictEqual(badJson.message, "is not valid JSON")
      const mismatch = yield* documentFailure(
        parseDocument(
          JSON.stringify({
            version: 1,
            credentials: {
              a: {
                server: "a",
                url: "https://a.example",
                updatedAt: 1,
                registration: { method: secrets.client, clientId: "c", redirectUris: [] },
                tokens: { accessToken: 42, refreshToken: secrets.refresh, tokenType: "Bearer" }
              }
            }
          })
        )
      )
      assert.strictEqual(mismatch.reason, "corrupt")
      assert.include(mismatch.message, "does not match the credential schema")
      assert.include(mismatch.message, "accessToken")
      assertNoSecret(mismatch.message, "the schema mismatch message")
    })
  )

  it.effect("a schema mismatch names each path and what was expected, on one line, never a value", () =>
    Effect.gen(function* () {
      const mismatch = yield* documentFailure(
        parseDocument(
          JSON.stringify({
            version: 1,
            credentials: {
              a: {
                server: "a",
                url: "https://a.example",
                updatedAt: secrets.refresh,
                registration: { method: secrets.client, clientId: "c", redirectUris: [secrets.access, 7] },
                tokens: { accessToken: [secrets.access], tokenType: "Bearer", expiresAt: secrets.access }
              }
            }
          })
        )
      )
      assert.strictEqual(mismatch.reason, "corrupt")
      assert.notInclude(mismatch.message, "\n")
      for (const expected of [
        "credentials.a.updatedAt: expected a number, got a string",
        'credentials.a.registration.method: expected one of "pre-registered", "cimd" or "dcr"',
        "credentials.a.registration.redirectUris[1]: expected a string, got a number",
        "credentials.a.tokens.accessToken: expected a string, got an array",
        "credentials.a.tokens.expiresAt: expected a number, got a string"
      ]) {
        assert.include(mismatch.message, expected)
      }
      assertNoSecret(mismatch.message, "the schema mismatch message")
      assertNoSecret(String(mismatch), "String(the schema mismatch)")
    })
  )
})

describe("Credential", () => {
  it("validates on construction", () => {
    const exit = Effect.runSyncExit(
      Effect.try(() => new Credential({ server: "s", url: "u", updatedAt: Number.NaN }))
    )
    assert.isTrue(Exit.isFailure(exit))
  })

  it("metadata of a credential without tokens or registration says so", () => {
    const credential = new Credential({ server: "s", url: "https://s.example/", updatedAt: 5 })
    assert.deepStrictEqual(metadata(credential), {
      key: "s|https://s.example",
      server: "s",
      url: "https://s.example/",
      hasClientSecret: false,
      hasAccessToken: false,
      hasRefreshToken: false,
      updatedAt: 5
    })
    const withTokens = new Credential({
      server: "s",
      url: "https://s.example/",
      updatedAt: 5,
      tokens: new TokenSet({ accessToken: Redacted.make("a"), tokenType: "Bearer" })
    })
    assert.isTrue(metadata(withTokens).hasAccessToken)
    assert.isFalse(metadata(withTokens).hasRefreshToken)
  })
})
