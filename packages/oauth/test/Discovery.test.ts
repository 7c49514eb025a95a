import { afterAll, assert, describe, it } from "@effect/vitest"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { makeMemory } from "@mcpgate/core/CredentialStore"
import {
  allIssuedTokens,
  errorTexts,
  failureOf,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  managerOn,
  serverConfig
} from "@mcpgate/testing/Harness"
import { Clock, Effect, Layer, Option } from "effect"
import { Discovery, make as makeDiscovery } from "../src/Discovery.ts"
import { OAuthManager } from "../src/OAuthManager.ts"
import * as FakeOAuth from "./support/FakeOAuth.ts"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
})

const layer = Layer.mergeAll(managerLayer(), Discovery.layer)
const run = <A, E>(effect: Effect.Effect<A, E, OAuthManager | Discovery | import("effect").Scope.Scope>) =>
  effect.pipe(Effect.provide(layer), Effect.provide(logCapture), Effect.scoped)

describe("discovery", () => {
  it.live("uses the challenge's resource_metadata and never the root document", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prm: { custom: "/custom/metadata.json" } })
        const discovered = yield* (yield* Discovery).discover(serverConfig("custom", fake.url))
        assert.strictEqual(discovered.protectedResource?.url, `${fake.origin}/custom/metadata.json`)
        assert.strictEqual(discovered.authorizationServer.issuer, fake.issuer)
        assert.strictEqual(discovered.resource, `${fake.origin}/mcp`)
        assert.notInclude(fake.paths(), "/.well-known/oauth-protected-resource")
      })
    )
  )

  it.live("without a challenge: the path-inserted document first, then the root one", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prm: "root", challengeMetadata: false })
        const discovered = yield* (yield* Discovery).discover(serverConfig("root", fake.url))
        assert.deepStrictEqual(
          fake.paths().filter((path) => path.includes("oauth-protected-resource")),
          ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
        )
        // The published resource (here the origin) is what goes to the server, exactly.
        assert.strictEqual(discovered.resource, fake.origin)
      })
    )
  )

  it.live("authorization server metadata in the spec's path-aware order", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({
          issuerPath: "/tenant1",
          metadataPath: "/tenant1/.well-known/openid-configuration"
        })
        const discovered = yield* (yield* Discovery).discover(serverConfig("tenant", fake.url))
        assert.strictEqual(discovered.authorizationServer.issuer, `${fake.origin}/tenant1`)
        assert.deepStrictEqual(
          fake.paths().filter((path) => path.includes("well-known") && !path.includes("protected-resource")),
          [
            "/.well-known/oauth-authorization-server/tenant1",
            "/.well-known/openid-configuration/tenant1",
            "/tenant1/.well-known/openid-configuration"
          ]
        )
      })
    )
  )

  it.live("OpenID configuration at the root for an issuer without a path", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ metadataPath: "/.well-known/openid-configuration" })
        const discovered = yield* (yield* Discovery).discover(serverConfig("oidc", fake.url))
        assert.strictEqual(
          discovered.authorizationServer.metadataUrl,
          `${fake.origin}/.well-known/openid-configuration`
        )
      })
    )
  )

  it.live("2025-03-26 servers: no resource metadata, the origin's metadata", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prm: "none" })
        const manager = yield* OAuthManager
        const result = yield* manager.login(serverConfig("legacy", fake.url))
        assert.strictEqual(result.issuer, fake.origin)
        assert.lengthOf(fake.find("/token"), 1)
      })
    )
  )

  it.live("2025-03-26 servers may name an issuer on their own origin, never on another one", () =>
    run(
      Effect.gen(function* () {
        const sameOrigin = yield* FakeOAuth.start({ prm: "none", metadataIssuerPath: "/oauth" })
        const discovered = yield* (yield* Discovery).discover(serverConfig("legacy-path", sameOrigin.url))
        assert.strictEqual(discovered.authorizationServer.issuer, `${sameOrigin.origin}/oauth`)
        const elsewhere = yield* FakeOAuth.start({
          prm: "none",
          metadataIssuer: "https://attacker.example.com"
        })
        const error = yield* failureOf(
          (yield* Discovery).discover(serverConfig("legacy-evil", elsewhere.url))
        )
        assert.strictEqual(error.reason, "issuer-mismatch")
      })
    )
  )

  it.live("2025-03-26 servers without any metadata: /authorize, /token and /register on the origin", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prm: "none", metadataPath: null })
        const manager = yield* OAuthManager
        const result = yield* manager.login(serverConfig("oldest", fake.url))
        assert.strictEqual(result.registrationMethod, "dcr")
        assert.lengthOf(fake.find("/register"), 1)
        assert.lengthOf(fake.find("/authorize"), 1)
        assert.lengthOf(fake.find("/token"), 1)
      })
    )
  )

  it.live("a configured authServerMetadataUrl is read instead of the well-known locations", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ metadataPath: "/config/as.json" })
        const discovery = yield* Discovery
        const discovered = yield* discovery.discover(
          serverConfig("configured-metadata", fake.url, {
            authServerMetadataUrl: `${fake.origin}/config/as.json`
          })
        )
        assert.strictEqual(discovered.authorizationServer.metadataUrl, `${fake.origin}/config/as.json`)
        assert.notInclude(fake.paths(), "/.well-known/oauth-authorization-server")
        // A document for an issuer the resource does not list is refused.
        const other = yield* FakeOAuth.start({ metadataPath: "/config/as.json" })
        const error = yield* failureOf(
          discovery.discover(
            serverConfig("configured-metadata", fake.url, {
              authServerMetadataUrl: `${other.origin}/config/as.json`
            })
          )
        )
        assert.strictEqual(error.reason, "issuer-mismatch")
      })
    )
  )

  it.live("per-server overrides replace discovered endpoints", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prm: "none", metadataPath: null })
        const discovered = yield* (yield* Discovery).discover(
          serverConfig("override", fake.url, {
            authorizationUrl: `${fake.origin}/authorize`,
            tokenUrl: `${fake.origin}/token`,
            deviceAuthorizationUrl: `${fake.origin}/device`
          })
        )
        assert.strictEqual(
          discovered.authorizationServer.metadata.device_authorization_endpoint,
          `${fake.origin}/device`
        )
        assert.strictEqual(discovered.authorizationServer.source, "configured")
      })
    )
  )
})

describe("refusals", () => {
  it.live("a resource metadata document for another resource (RFC 9728 §3.3)", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prmResource: "https://evil.example.com/mcp" })
        const error = yield* failureOf((yield* OAuthManager).login(serverConfig("evil", fake.url)))
        assert.strictEqual(error.reason, "resource-mismatch")
        assert.lengthOf(fake.find("/authorize"), 0)
        assert.lengthOf(fake.find("/register"), 0)
      })
    )
  )

  it.live("metadata whose issuer is not the one it was fetched for (RFC 8414 §3.3)", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ metadataIssuer: "https://attacker.example.com" })
        const error = yield* failureOf((yield* OAuthManager).login(serverConfig("poisoned", fake.url)))
        assert.strictEqual(error.reason, "issuer-mismatch")
        assert.lengthOf(fake.find("/register"), 0)
        assert.lengthOf(fake.find("/authorize"), 0)
      })
    )
  )

  it.live("an authorization server without code_challenge_methods_supported", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ codeChallengeMethods: null })
        const error = yield* failureOf((yield* OAuthManager).login(serverConfig("nopkce", fake.url)))
        assert.strictEqual(error.reason, "pkce-unsupported")
        assert.lengthOf(fake.find("/authorize"), 0)
      })
    )
  )

  it.live("plain-HTTP endpoints off loopback, unless allowHttp", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({
          endpoints: { authorization_endpoint: "http://auth.example.com/authorize" }
        })
        const error = yield* failureOf((yield* OAuthManager).login(serverConfig("plain", fake.url)))
        assert.strictEqual(error.reason, "insecure-endpoint")
        assert.include(error.message, "allowHttp")
        const discovered = yield* (yield* Discovery).discover(
          serverConfig("plain", fake.url, { allowHttp: true })
        )
        assert.strictEqual(
          discovered.authorizationServer.metadata.authorization_endpoint,
          "http://auth.example.com/authorize"
        )
      })
    )
  )

  for (const [name, options, accepted] of [
    ["iss advertised and correct", { issSupported: true, issInRedirect: "correct" }, true],
    ["iss neither advertised nor sent", { issSupported: null, issInRedirect: "omit" }, true],
    ["iss advertised but missing", { issSupported: true, issInRedirect: "omit" }, false],
    ["iss of another issuer", { issSupported: true, issInRedirect: "wrong" }, false],
    ["iss not advertised but wrong", { issSupported: null, issInRedirect: "wrong" }, false],
    [
      "iss with a trailing slash (no normalization)",
      { issSupported: true, issInRedirect: "normalized" },
      false
    ]
  ] as const) {
    it.live(`RFC 9207: ${name}`, () =>
      run(
        Effect.gen(function* () {
          const fake = yield* FakeOAuth.start(options)
          const login = (yield* OAuthManager).login(serverConfig("iss", fake.url))
          if (accepted) {
            yield* login
            assert.lengthOf(fake.find("/token"), 1)
          } else {
            const error = yield* failureOf(login)
            assert.strictEqual(error.reason, "iss-mismatch")
            assert.lengthOf(fake.find("/authorize"), 1)
            assert.lengthOf(fake.find("/token"), 0)
          }
        })
      )
    )
  }

  it.live("a callback with another state", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ stateInRedirect: "wrong" })
        const error = yield* failureOf((yield* OAuthManager).login(serverConfig("state", fake.url)))
        // The callback answers it with an error page (and would wait on for the right
        // one); the redirect-following test browser gives up at that page.
        assert.strictEqual(error.reason, "browser")
        assert.include(error.message, "HTTP 400")
        assert.lengthOf(fake.find("/token"), 0)
      })
    )
  )
})

describe("metadata outages (only a clear 404 means no metadata)", () => {
  it.live("a 503 is a retryable error, never the 2025-03-26 defaults, and is not cached", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ issuerPath: "/tenant1" })
        const server = serverConfig("outage", fake.url)
        const store = yield* makeMemory()
        yield* (yield* managerOn(store)).login(server)
        const key = { server: server.name, url: fake.url }
        const credential = Option.getOrThrow(yield* store.get(key))
        const tokens = credential.tokens
        if (tokens === undefined) return yield* Effect.die("no tokens after login")
        yield* store.set(
          new Credential({
            ...credential,
            tokens: new TokenSet({ ...tokens, expiresAt: (yield* Clock.currentTimeMillis) - 1000 })
          })
        )

        // Another process refreshes during the outage.
        fake.metadataStatus = 503
        const tokenRequests = fake.find("/tenant1/token").length
        const error = yield* failureOf((yield* managerOn(store)).accessToken(server))
        assert.strictEqual(error._tag, "OAuthError")
        if (error._tag === "OAuthError") assert.isTrue(error.retryable, error.message)
        assert.lengthOf(fake.find("/token"), 0, "nothing went to guessed endpoints")
        assert.lengthOf(fake.find("/tenant1/token"), tokenRequests)
        assert.isDefined(Option.getOrThrow(yield* store.get(key)).tokens?.refreshToken)

        // The outage ends: the next call reads the metadata again (the failure was not cached).
        const discovery = yield* makeDiscovery
        fake.metadataStatus = 503
        yield* failureOf(discovery.authorizationServer(server, fake.issuer))
        fake.metadataStatus = undefined
        const info = yield* discovery.authorizationServer(server, fake.issuer)
        assert.strictEqual(info.source, "metadata")
      })
    )
  )

  it.live("well-known URLs that answer 401 are not a clear 'no metadata': no defaults", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prm: "none", metadataPath: null, unknownPathStatus: 401 })
        const error = yield* failureOf((yield* makeDiscovery).discover(serverConfig("locked-down", fake.url)))
        assert.strictEqual(error.reason, "discovery")
        assert.lengthOf(fake.find("/register"), 0)
        assert.lengthOf(fake.find("/authorize"), 0)
      })
    )
  )

  it.live("metadata is cached by the issuer it names, and found again for that issuer", () =>
    run(
      Effect.gen(function* () {
        // A 2025-03-26 server whose metadata at its origin names the issuer <origin>/oauth.
        const fake = yield* FakeOAuth.start({ prm: "none", metadataIssuerPath: "/oauth" })
        const server = serverConfig("named", fake.url)
        const discovery = yield* makeDiscovery
        const discovered = yield* discovery.discover(server)
        const issuer = `${fake.origin}/oauth`
        assert.strictEqual(discovered.authorizationServer.issuer, issuer)
        const requests = fake.requests.length
        const cached = yield* discovery.authorizationServer(server, issuer)
        assert.strictEqual(cached.source, "metadata")
        assert.strictEqual(fake.requests.length, requests, "served from the cache")

        // A process that knows only the stored issuer finds the same document, not the defaults.
        const fresh = yield* (yield* makeDiscovery).authorizationServer(server, issuer)
        assert.strictEqual(fresh.source, "metadata")
        assert.strictEqual(fresh.metadataUrl, `${fake.origin}/.well-known/oauth-authorization-server`)
      })
    )
  )
})
