/**
 * The network of `@mcpgate/oauth` is effect's `FetchHttpClient.Fetch`: an
 * embedding application (a proxy, a mutual-TLS agent) or a test provides its
 * own `fetch`, and every request mcpgate makes itself (the probe, discovery,
 * registration, token and revocation requests) goes through it. The
 * redirect-following test browser stands in for the user's browser and keeps
 * the global `fetch`.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { ServerConfig } from "@mcpgate/core/Config"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import {
  allIssuedTokens,
  errorTexts,
  failureOf,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import { Clock, Effect, Option } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { OAuthManager } from "../src/OAuthManager.ts"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
})

interface Recorded {
  readonly method: string
  readonly url: URL
}

/** A `fetch` that records each request, then sends it with the global one. */
const recordingFetch = () => {
  const requests: Array<Recorded> = []
  const recording: typeof globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input)
    const method = init?.method ?? (input instanceof Request ? input.method : "GET")
    requests.push({ method: method.toUpperCase(), url })
    return globalThis.fetch(input, init)
  }
  return { requests, recording }
}

const expireStored = (server: ServerConfig) =>
  Effect.gen(function* () {
    const store = yield* CredentialStore
    const credential = Option.getOrThrow(yield* store.get({ server: server.name, url: server.url ?? "" }))
    const tokens = credential.tokens
    if (tokens === undefined) return yield* Effect.die("no tokens to expire")
    const now = yield* Clock.currentTimeMillis
    yield* store.set(
      new Credential({ ...credential, tokens: new TokenSet({ ...tokens, expiresAt: now - 1000 }) })
    )
  })

describe("FetchHttpClient.Fetch", () => {
  it.live("discovery, registration, token and revocation requests go through the provided fetch", () => {
    const { requests, recording } = recordingFetch()
    return Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("fetched", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      yield* expireStored(server)
      yield* manager.accessToken(server)
      const logout = yield* manager.logout(server)
      assert.isTrue(logout.revoked)

      const seen = (origin: string, method: string, path: string) =>
        requests.filter(
          (request) =>
            request.url.origin === origin && request.method === method && request.url.pathname === path
        ).length
      const mcpOrigin = new URL(mcp.url).origin
      // The probe for the challenge, then RFC 9728 and RFC 8414 metadata.
      assert.isAtLeast(seen(mcpOrigin, "POST", "/mcp"), 1)
      assert.isAtLeast(seen(mcpOrigin, "GET", "/.well-known/oauth-protected-resource/mcp"), 1)
      assert.isAtLeast(seen(as.issuer, "GET", "/.well-known/oauth-authorization-server"), 1)
      // Every registration, token request (code, refresh) and revocation the server saw.
      assert.strictEqual(seen(as.issuer, "POST", "/reg"), as.registrations.length)
      assert.strictEqual(as.registrations.length, 1)
      assert.strictEqual(seen(as.issuer, "POST", "/token"), as.tokenRequests.length)
      assert.deepStrictEqual(
        as.tokenRequests.map((request) => request.grantType),
        ["authorization_code", "refresh_token"]
      )
      assert.strictEqual(seen(as.issuer, "POST", "/token/revocation"), as.revocations.length)
      assert.isAbove(as.revocations.length, 0)
      // The browser's requests (authorization endpoint, callback) are not mcpgate's.
      assert.strictEqual(seen(as.issuer, "GET", "/auth"), 0)
    }).pipe(
      Effect.provide(managerLayer()),
      Effect.provide(logCapture),
      Effect.scoped,
      Effect.provideService(FetchHttpClient.Fetch, recording)
    )
  })

  it.live("a fetch that cannot reach anything fails discovery, whatever the global fetch could do", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const offline: typeof globalThis.fetch = () => Promise.reject(new TypeError("fetch failed"))
      const error = yield* failureOf(
        (yield* OAuthManager)
          .login(serverConfig("offline", mcp.url))
          .pipe(Effect.provideService(FetchHttpClient.Fetch, offline))
      )
      assert.strictEqual(error._tag, "OAuthError")
      assert.isTrue(error._tag === "OAuthError" && error.retryable, error.message)
      assert.strictEqual(as.registrations.length, 0)
      assert.strictEqual(as.tokenRequests.length, 0)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})
