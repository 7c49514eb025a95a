import { createHash } from "node:crypto"
import { afterAll, assert, describe, it } from "@effect/vitest"
import {
  allIssuedTokens,
  errorTexts,
  failureOf,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  serverConfig
} from "@mcpgate/testing/Harness"
import { Effect, Layer, Redacted, type Scope } from "effect"
import * as jose from "jose"
import { AuthorizationFlow } from "../src/AuthorizationFlow.ts"
import { Browser } from "../src/Browser.ts"
import { OAuthManager } from "../src/OAuthManager.ts"
import * as FakeOAuth from "./support/FakeOAuth.ts"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
})

const layer = Layer.mergeAll(
  managerLayer(),
  AuthorizationFlow.layer.pipe(Layer.provide(Browser.layerFollowRedirects))
)
const run = <A, E>(effect: Effect.Effect<A, E, OAuthManager | AuthorizationFlow | Scope.Scope>) =>
  effect.pipe(Effect.provide(layer), Effect.provide(logCapture), Effect.scoped)

const authorizeQuery = (fake: FakeOAuth.FakeOAuth) => fake.find("/authorize")[0]?.query ?? {}
const tokenRequest = (fake: FakeOAuth.FakeOAuth) => fake.find("/token")[0]

describe("scope selection (MCP Scope Selection Strategy, SEP-2207)", () => {
  for (const [name, options, expected] of [
    ["the challenge's scope first", { challengeScope: "mcp:basic", prmScopes: ["mcp:other"] }, "mcp:basic"],
    [
      "else every scope of the resource",
      { prmScopes: ["mcp:basic", "mcp:read", "mcp:write"] },
      "mcp:basic mcp:read mcp:write"
    ],
    ["else no scope parameter at all", {}, undefined],
    [
      "offline_access added when the authorization server offers it",
      { prmScopes: ["mcp:basic"], scopesSupported: ["mcp:basic", "offline_access"] },
      "mcp:basic offline_access"
    ],
    [
      "and not when it does not",
      { prmScopes: ["mcp:basic", "mcp:read"], scopesSupported: ["mcp:basic", "mcp:read"] },
      "mcp:basic mcp:read"
    ]
  ] as const) {
    it.live(name, () =>
      run(
        Effect.gen(function* () {
          const fake = yield* FakeOAuth.start(options)
          yield* (yield* OAuthManager).login(serverConfig("scopes", fake.url))
          assert.strictEqual(authorizeQuery(fake).scope, expected)
        })
      )
    )
  }

  it.live("configured scopes come after the challenge and before scopes_supported", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ prmScopes: ["mcp:basic", "mcp:read"] })
        yield* (yield* OAuthManager).login(serverConfig("configured", fake.url, { scopes: ["mcp:read"] }))
        assert.strictEqual(authorizeQuery(fake).scope, "mcp:read")
      })
    )
  )
})

describe("the RFC 8707 resource indicator", () => {
  for (const [setting, expected] of [
    ["omit", undefined],
    ["https://api.example.com/", "https://api.example.com/"]
  ] as const) {
    it.live(`resource: ${JSON.stringify(setting)}`, () =>
      run(
        Effect.gen(function* () {
          const fake = yield* FakeOAuth.start()
          yield* (yield* OAuthManager).login(serverConfig("resource", fake.url, { resource: setting }))
          assert.strictEqual(authorizeQuery(fake).resource, expected)
          assert.strictEqual(tokenRequest(fake)?.body.resource, expected)
        })
      )
    )
  }
})

describe("registration and client authentication", () => {
  it.live("PKCE S256 and the published resource on the authorization and token requests", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start()
        yield* (yield* OAuthManager).login(serverConfig("pkce", fake.url))
        const query = authorizeQuery(fake)
        assert.strictEqual(query.code_challenge_method, "S256")
        assert.strictEqual(query.resource, `${fake.origin}/mcp`)
        assert.strictEqual(tokenRequest(fake)?.body.resource, `${fake.origin}/mcp`)
        assert.isString(tokenRequest(fake)?.body.code_verifier)
        const registration = fake.find("/register")[0]?.body as unknown as Record<string, unknown>
        assert.deepStrictEqual(registration.grant_types, ["authorization_code", "refresh_token"])
        assert.deepStrictEqual(registration.response_types, ["code"])
        assert.strictEqual(registration.application_type, "native")
        assert.strictEqual(registration.token_endpoint_auth_method, "none")
        assert.strictEqual(registration.client_name, "mcpgate")
      })
    )
  )

  for (const method of ["client_secret_basic", "client_secret_post", "none"] as const) {
    it.live(`uses ${method} when that is all the server offers`, () =>
      run(
        Effect.gen(function* () {
          const fake = yield* FakeOAuth.start({ tokenAuthMethods: [method] })
          yield* (yield* OAuthManager).login(serverConfig("methods", fake.url))
          const request = tokenRequest(fake)
          assert.strictEqual(fake.find("/register")[0]?.body.token_endpoint_auth_method, method)
          assert.strictEqual(
            request?.headers.authorization?.startsWith("Basic ") === true,
            method === "client_secret_basic"
          )
          assert.strictEqual(request?.body.client_secret !== undefined, method === "client_secret_post")
        })
      )
    )
  }

  it.live("a pre-registered client is used as configured, without registration", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({
          registration: false,
          tokenAuthMethods: ["client_secret_basic"]
        })
        const result = yield* (yield* OAuthManager).login(
          serverConfig("prereg", fake.url, {
            clientId: "pre-registered-client",
            clientSecret: Redacted.make("pre-registered-secret")
          })
        )
        assert.strictEqual(result.registrationMethod, "pre-registered")
        const basic = tokenRequest(fake)?.headers.authorization ?? ""
        assert.strictEqual(
          Buffer.from(basic.slice("Basic ".length), "base64").toString(),
          "pre-registered-client:pre-registered-secret"
        )
        assert.lengthOf(fake.find("/register"), 0)
      })
    )
  )

  it.live("a client ID metadata document when the server supports it", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ cimd: true })
        const documentUrl = "https://mcpgate.example/client-metadata.json"
        const result = yield* (yield* OAuthManager).login(
          serverConfig("cimd", fake.url, { clientMetadataUrl: documentUrl })
        )
        assert.strictEqual(result.registrationMethod, "cimd")
        assert.strictEqual(authorizeQuery(fake).client_id, documentUrl)
        assert.lengthOf(fake.find("/register"), 0)
      })
    )
  )
})

describe("auth.audience (the Auth0 style)", () => {
  const audience = "https://api.example.com/"

  it.live("goes with the authorization request and the code's token request", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start()
        yield* (yield* OAuthManager).login(serverConfig("audience", fake.url, { audience }))
        assert.strictEqual(authorizeQuery(fake).audience, audience)
        assert.strictEqual(tokenRequest(fake)?.body.audience, audience)
      })
    )
  )

  it.live("goes with the device authorization request", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ device: true })
        yield* (yield* OAuthManager).login(
          serverConfig("audience-device", fake.url, { audience, flow: "device" }),
          {
            onDeviceCode: () => Effect.void
          }
        )
        assert.strictEqual(fake.find("/device")[0]?.body.audience, audience)
      })
    )
  )

  it.live("goes with the client credentials request", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({
          registration: false,
          tokenAuthMethods: ["client_secret_basic"]
        })
        yield* (yield* OAuthManager).accessToken(
          serverConfig("audience-machine", fake.url, {
            audience,
            flow: "client_credentials",
            clientId: "machine",
            clientSecret: Redacted.make("machine-secret")
          })
        )
        const request = tokenRequest(fake)
        assert.strictEqual(request?.body.grant_type, "client_credentials")
        assert.strictEqual(request?.body.audience, audience)
      })
    )
  )
})

describe("auth.privateKey", () => {
  it.live("an unreadable key is not echoed in the error (it may be key material)", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({ registration: false, tokenAuthMethods: ["private_key_jwt"] })
        const material = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
        const error = yield* failureOf(
          (yield* OAuthManager).accessToken(
            serverConfig("key", fake.url, {
              flow: "client_credentials",
              clientId: "machine",
              privateKey: Redacted.make(material)
            })
          )
        )
        assert.strictEqual(error._tag === "OAuthError" ? error.reason : error._tag, "configuration")
        assert.include(error.message, "auth.privateKey")
        assert.notInclude(error.message, material.slice(0, 16))
      })
    )
  )
})

describe("assertion grants", () => {
  it.live("RFC 7523 JWT bearer: the assertion goes to the token endpoint once", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({
          registration: false,
          grantTypes: ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        })
        const assertion = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2lnbmF0dXJl"
        yield* (yield* OAuthManager).login(
          serverConfig("workload", fake.url, { clientId: "conformance-wif-workload" }),
          {
            assertion: Redacted.make(assertion)
          }
        )
        const request = tokenRequest(fake)
        assert.strictEqual(request?.body.grant_type, "urn:ietf:params:oauth:grant-type:jwt-bearer")
        assert.strictEqual(request?.body.assertion, assertion)
        assert.strictEqual(request?.body.client_id, "conformance-wif-workload")
        assert.lengthOf(fake.find("/authorize"), 0)
      })
    )
  )

  it.live("RFC 8693 token exchange at an identity provider (an ID-JAG)", () =>
    run(
      Effect.gen(function* () {
        const idp = yield* FakeOAuth.start()
        const exchanged = yield* (yield* AuthorizationFlow).tokenExchange({
          server: "enterprise",
          tokenEndpoint: `${idp.origin}/token`,
          clientId: "idp-client",
          subjectToken: Redacted.make("id-token-of-the-user"),
          subjectTokenType: "urn:ietf:params:oauth:token-type:id_token",
          requestedTokenType: "urn:ietf:params:oauth:token-type:id-jag",
          audience: "https://as.example.com",
          resource: "https://mcp.example.com/mcp"
        })
        assert.strictEqual(exchanged.issuedTokenType, "urn:ietf:params:oauth:token-type:id-jag")
        const body = tokenRequest(idp)?.body ?? {}
        assert.strictEqual(body.grant_type, "urn:ietf:params:oauth:grant-type:token-exchange")
        assert.strictEqual(body.subject_token_type, "urn:ietf:params:oauth:token-type:id_token")
        assert.strictEqual(body.audience, "https://as.example.com")
        assert.strictEqual(body.resource, "https://mcp.example.com/mcp")
      })
    )
  )
})

describe("DPoP (RFC 9449)", () => {
  it.live("binds the token, retries with the server's nonces, and signs every resource request", () =>
    run(
      Effect.gen(function* () {
        const fake = yield* FakeOAuth.start({
          challengeScheme: "DPoP",
          dpopAlgs: ["ES256"],
          dpopNonce: "as-nonce"
        })
        const server = serverConfig("dpop", fake.url)
        const manager = yield* OAuthManager
        const result = yield* manager.login(server)
        assert.strictEqual(result.tokenType, "DPoP")
        const tokenRequests = fake.find("/token")
        assert.lengthOf(tokenRequests, 2)
        assert.isUndefined(jose.decodeJwt(tokenRequests[0]?.headers.dpop ?? "").nonce)
        assert.strictEqual(jose.decodeJwt(tokenRequests[1]?.headers.dpop ?? "").nonce, "as-nonce")

        const request = { method: "POST", url: `${fake.url}?session=1` }
        const headers = yield* manager.authorizationHeaders(server, request)
        const authorization = Redacted.value(headers.authorization)
        assert.match(authorization, /^DPoP fake-at-/)
        const proof = headers.dpop ?? ""
        const protectedHeader = jose.decodeProtectedHeader(proof)
        assert.strictEqual(protectedHeader.typ, "dpop+jwt")
        const publicKey = yield* Effect.promise(() => jose.importJWK(protectedHeader.jwk ?? {}, "ES256"))
        const { payload } = yield* Effect.promise(() => jose.jwtVerify(proof, publicKey))
        assert.strictEqual(payload.htm, "POST")
        assert.strictEqual(payload.htu, fake.url)
        assert.strictEqual(
          payload.ath,
          createHash("sha256").update(authorization.slice("DPoP ".length)).digest("base64url")
        )
        const second = yield* manager.authorizationHeaders(server, request)
        assert.notStrictEqual(jose.decodeJwt(second.dpop ?? "").jti, payload.jti)

        // The MCP server wants a nonce: same token, and the next proofs carry it.
        const token = yield* manager.onUnauthorized(server, {
          wwwAuthenticate: `DPoP error="use_dpop_nonce", resource_metadata="${fake.origin}/.well-known/oauth-protected-resource/mcp"`,
          dpopNonce: "rs-nonce"
        })
        assert.strictEqual(`DPoP ${Redacted.value(token)}`, authorization)
        const third = yield* manager.authorizationHeaders(server, request)
        assert.strictEqual(jose.decodeJwt(third.dpop ?? "").nonce, "rs-nonce")
      })
    )
  )
})
