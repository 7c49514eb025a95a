import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { approveDevice } from "@mcpgate/testing/DeviceUser"
import {
  allIssuedTokens,
  browserScriptPath,
  errorTexts,
  failureOf,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  redirectFor,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { ConfigProvider, Deferred, Effect, Fiber, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as jose from "jose"
import type { DeviceCodeInfo } from "../src/AuthorizationFlow.ts"
import { Browser, followRedirects } from "../src/Browser.ts"
import { stableCallbackPort } from "../src/internal/CallbackServer.ts"
import { OAuthManager } from "../src/OAuthManager.ts"

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

/** Occupies a port on 127.0.0.1 for the rest of the scope. */
const occupy = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer((_req, res) => {
        res.end()
      })
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
  assert.isAbove(allIssuedTokens.size, 0)
})

describe("login with PKCE", () => {
  it.live("registers, authorizes through the loopback callback, stores everything, and the token works", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = serverConfig("notes", mcp.url)
      const manager = yield* OAuthManager
      const store = yield* CredentialStore
      const result = yield* manager.login(server)
      assert.strictEqual(result.registrationMethod, "dcr")
      assert.strictEqual(result.issuer, as.issuer)
      assert.deepStrictEqual(result.scopes, ["mcp:read"])
      assert.isTrue(result.refreshable)

      const stored = Option.getOrThrow(yield* store.get({ server: "notes", url: mcp.url }))
      assert.strictEqual(stored.issuer, as.issuer)
      assert.strictEqual(stored.resource, mcp.url)
      assert.deepStrictEqual(stored.registration?.redirectUris, [
        `http://127.0.0.1:${stableCallbackPort("notes", mcp.url)}/callback`
      ])
      // RFC 8707: the resource went to the token endpoint too.
      assert.deepStrictEqual(
        as.tokenRequests.map((request) => [request.grantType, request.resource]),
        [["authorization_code", mcp.url]]
      )

      const token = yield* manager.accessToken(server)
      const call = yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")
      assert.strictEqual(call.status, 200)
      assert.strictEqual(call.text, "hello test-user")

      // A second login reuses the stored registration.
      yield* manager.login(server)
      assert.strictEqual(as.registrations.length, 1)
      const status = yield* manager.status(server)
      assert.strictEqual(status.state, "authenticated")
      assert.strictEqual(status.registrationMethod, "dcr")
      assert.match(status.summary, /^authenticated, expires in \d+ min$/)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("opens $BROWSER with the authorization URL", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const server = serverConfig("browser-user", mcp.url)
      const manager = yield* OAuthManager
      const result = yield* manager.login(server)
      assert.strictEqual(result.server, "browser-user")
      assert.strictEqual(mcp.accepted, 0)
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status, 200)
    }).pipe(
      Effect.provide(
        OAuthManager.layer().pipe(
          Layer.provideMerge(Layer.mergeAll(CredentialStore.layerMemory, Browser.layer))
        )
      ),
      Effect.provide(
        ConfigProvider.layer(
          ConfigProvider.fromUnknown({
            BROWSER: `"${process.execPath}" "${browserScriptPath}"`
          })
        )
      ),
      Effect.provide(logCapture),
      Effect.scoped
    )
  )

  it.live("--no-browser prints the URL and takes the pasted redirect, even when the port is busy", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const server = serverConfig("headless", mcp.url, { callbackPort: stableCallbackPort("other", mcp.url) })
      yield* occupy(stableCallbackPort("other", mcp.url))
      const manager = yield* OAuthManager
      const shown = yield* Deferred.make<string>()
      const result = yield* manager.login(server, {
        noBrowser: true,
        onAuthorizationUrl: (url) => Deferred.succeed(shown, url).pipe(Effect.asVoid),
        readRedirectUrl: Effect.flatMap(Deferred.await(shown), (url) =>
          redirectFor(url, `http://127.0.0.1:${stableCallbackPort("other", mcp.url)}/callback`)
        )
      })
      assert.strictEqual(result.server, "headless")
      assert.isTrue(logLines.some((line) => line.includes("is in use")))
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("a busy callback port fails with a message naming --callback-port", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const server = serverConfig("busy", mcp.url)
      yield* occupy(stableCallbackPort("busy", mcp.url))
      const manager = yield* OAuthManager
      const error = yield* failureOf(manager.login(server))
      assert.strictEqual(error._tag, "OAuthError")
      if (error._tag === "OAuthError") assert.strictEqual(error.reason, "callback-port")
      assert.include(error.message, "--callback-port")
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("gives up when no callback arrives in time", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const server = serverConfig("slow-user", mcp.url)
      const manager = yield* OAuthManager
      const error = yield* failureOf(manager.login(server, { timeout: "300 millis" }))
      assert.strictEqual(error.reason, "timeout")
      assert.include(error.message, "--no-browser")
    }).pipe(
      Effect.provide(
        OAuthManager.layer().pipe(
          Layer.provideMerge(
            Layer.mergeAll(
              CredentialStore.layerMemory,
              // A browser nobody looks at.
              Layer.succeed(Browser, Browser.of({ open: () => Effect.void }))
            )
          )
        )
      ),
      Effect.provide(logCapture),
      Effect.scoped
    )
  )

  it.live("a denied login is an access-denied error and stores no tokens", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      as.denyLogins = true
      const server = serverConfig("denied", mcp.url)
      const manager = yield* OAuthManager
      const error = yield* failureOf(manager.login(server))
      assert.strictEqual(error._tag === "OAuthError" ? error.reason : error._tag, "access-denied")
      assert.strictEqual((yield* manager.status(server)).state, "needs-login")
      assert.strictEqual(as.countGrants("authorization_code"), 0)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("the loopback callback keeps waiting for the right state", () => {
  it.live(
    "a request with another state (or none) gets an error page; the login completes on the right one",
    () =>
      Effect.gen(function* () {
        const { mcp } = yield* startServers()
        const server = serverConfig("stray", mcp.url)
        const strays: Array<{ status: number; page: string }> = []
        // A browser that first loads two stray callback URLs (an old tab, a forged link), then signs in.
        const browser = Browser.of({
          open: (name, url) =>
            Effect.gen(function* () {
              const redirectUri = new URL(url).searchParams.get("redirect_uri") ?? ""
              for (const query of ["?code=forged&state=not-this-login", "?code=forged"]) {
                const answer = yield* Effect.promise(async () => {
                  const response = await fetch(`${redirectUri}${query}`)
                  return { status: response.status, page: await response.text() }
                })
                strays.push(answer)
              }
              yield* followRedirects(name, url)
            })
        })
        const manager = yield* OAuthManager.pipe(
          Effect.provide(
            OAuthManager.layer().pipe(
              Layer.provide(Layer.mergeAll(CredentialStore.layerMemory, Layer.succeed(Browser, browser)))
            )
          )
        )
        const result = yield* manager.login(server, { timeout: "10 seconds" })
        assert.strictEqual(result.server, "stray")
        assert.deepStrictEqual(
          strays.map((stray) => stray.status),
          [400, 400]
        )
        for (const stray of strays) assert.include(stray.page, "not the sign-in mcpgate is waiting for")
        const token = yield* manager.accessToken(server)
        assert.strictEqual(
          (yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status,
          200
        )
      }).pipe(Effect.provide(logCapture), Effect.scoped)
  )
})

describe("the web UI login (beginLogin / completeLogin)", () => {
  it.live("completes on the callback URL and refuses an unknown state", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const server = serverConfig("web", mcp.url)
      const manager = yield* OAuthManager
      const redirectUri = "http://127.0.0.1:8808/admin/api/mcp/oauth/callback"
      const { authorizationUrl, state } = yield* manager.beginLogin(server, { redirectUri })
      assert.include(authorizationUrl, `state=${state}`)
      const callback = yield* redirectFor(authorizationUrl, redirectUri)
      const result = yield* manager.completeLogin(callback)
      assert.strictEqual(result.server, "web")
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status, 200)
      // The same callback again: the pending login is gone.
      const error = yield* failureOf(manager.completeLogin(callback))
      assert.strictEqual(error.reason, "state-mismatch")
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("a registration the authorization server has forgotten", () => {
  it.live(
    "the CLI login checks the stored client and registers anew instead of waiting at an error page",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers()
        const server = serverConfig("forgotten", mcp.url)
        const manager = yield* OAuthManager
        const first = yield* manager.login(server)
        as.forgetClients()
        const second = yield* manager.login(server, { timeout: "5 seconds" })
        assert.notStrictEqual(second.clientId, first.clientId)
        assert.strictEqual(as.registrations.length, 2)
        const token = yield* manager.accessToken(server)
        assert.strictEqual(
          (yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status,
          200
        )
        // A client the server knows is checked and used as it is.
        yield* manager.login(server)
        assert.strictEqual(as.registrations.length, 2)
        // Each check was one refresh request with a made-up refresh token: refused, no grant.
        assert.deepStrictEqual(
          as.tokenRequests.filter((request) => request.status !== 200).map((r) => [r.grantType, r.error]),
          [
            ["refresh_token", "invalid_client"],
            ["refresh_token", "invalid_grant"]
          ]
        )
      }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("the web login registers anew too", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("forgotten-web", mcp.url)
      const manager = yield* OAuthManager
      const redirectUri = "http://127.0.0.1:8808/admin/api/mcp/oauth/callback"
      const webLogin = Effect.gen(function* () {
        const { authorizationUrl } = yield* manager.beginLogin(server, { redirectUri })
        return yield* manager.completeLogin(yield* redirectFor(authorizationUrl, redirectUri))
      })
      const first = yield* webLogin
      as.forgetClients()
      const second = yield* webLogin
      assert.notStrictEqual(second.clientId, first.clientId)
      assert.strictEqual(as.registrations.length, 2)
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("device authorization (RFC 8628)", () => {
  it.effect("polls through slow_down and authorization_pending, then stores the tokens", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("tv", mcp.url, { flow: "device" })
      const manager = yield* OAuthManager
      // The first poll is answered with slow_down (oidc-provider never sends it).
      let rewritten = false
      as.rewriteToken = (request) => {
        if (request.grantType !== deviceGrant || rewritten) return undefined
        rewritten = true
        return { status: 400, body: { error: "slow_down", error_description: "poll less often" } }
      }
      const codes = yield* Deferred.make<DeviceCodeInfo>()
      const login = yield* manager
        .login(server, { onDeviceCode: (info) => Deferred.succeed(codes, info).pipe(Effect.asVoid) })
        .pipe(Effect.forkChild)
      const info = yield* Deferred.await(codes)
      assert.match(info.userCode, /\S/)

      // Moves virtual time one second at a time until `condition` holds; returns the virtual time.
      const advanceUntil = (condition: () => boolean) =>
        Effect.gen(function* () {
          for (let step = 0; step < 60; step++) {
            if (condition()) return
            yield* TestClock.adjust("1 second")
            yield* TestClock.withLive(Effect.sleep("15 millis"))
          }
          throw new Error("the device flow did not progress")
        })
      yield* advanceUntil(() => as.countGrants(deviceGrant) >= 1)
      const firstPoll = yield* TestClock.testClockWith((clock) =>
        Effect.succeed(clock.currentTimeMillisUnsafe())
      )
      yield* advanceUntil(() => as.countGrants(deviceGrant) >= 2)
      const secondPoll = yield* TestClock.testClockWith((clock) =>
        Effect.succeed(clock.currentTimeMillisUnsafe())
      )
      assert.isAtLeast(firstPoll, 5000)
      // slow_down: the interval grew from 5 to 10 seconds.
      assert.isAtLeast(secondPoll - firstPoll, 9000)
      const page = yield* approveDevice(info.verificationUriComplete ?? info.verificationUri)
      assert.match(page, /success/i)
      yield* advanceUntil(() => login.pollUnsafe() !== undefined)
      const result = yield* Fiber.join(login)
      assert.strictEqual(result.refreshable, true)
      assert.deepStrictEqual(
        as.tokenRequests
          .filter((request) => request.grantType === deviceGrant)
          .map((request) => request.status),
        [400, 400, 200]
      )
      assert.deepStrictEqual(
        as.tokenRequests
          .filter((request) => request.grantType === deviceGrant)
          .map((request) => request.error),
        ["slow_down", "authorization_pending", undefined]
      )
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("device authorization failures", () => {
  for (const [error, reason] of [
    ["access_denied", "access-denied"],
    ["expired_token", "timeout"]
  ] as const) {
    it.effect(`${error} ends the login with reason ${reason}`, () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers()
        as.rewriteToken = (request) =>
          request.grantType === deviceGrant ? { status: 400, body: { error } } : undefined
        const manager = yield* OAuthManager
        const login = yield* manager
          .login(serverConfig("tv-fails", mcp.url, { flow: "device" }), { onDeviceCode: () => Effect.void })
          .pipe(Effect.flip, Effect.forkChild)
        for (let step = 0; step < 40 && login.pollUnsafe() === undefined; step++) {
          yield* TestClock.adjust("1 second")
          yield* TestClock.withLive(Effect.sleep("10 millis"))
        }
        const failure = yield* Fiber.join(login)
        errorTexts.push(failure.message)
        assert.strictEqual(failure._tag === "OAuthError" ? failure.reason : failure._tag, reason)
        assert.strictEqual(as.countGrants(deviceGrant), 1)
      }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
    )
  }
})

describe("device authorization polling after network errors (RFC 8628 §3.5)", () => {
  it.effect("backs off (the interval doubles) and keeps polling until the login is approved", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = serverConfig("tv-flaky", mcp.url, { flow: "device" })
      const manager = yield* OAuthManager
      // The first two polls meet an unavailable token endpoint.
      let failures = 0
      as.rewriteToken = (request) => {
        if (request.grantType !== deviceGrant || failures >= 2) return undefined
        failures++
        return { status: 503, body: { error: "temporarily_unavailable" } }
      }
      const codes = yield* Deferred.make<DeviceCodeInfo>()
      const login = yield* manager
        .login(server, { onDeviceCode: (info) => Deferred.succeed(codes, info).pipe(Effect.asVoid) })
        .pipe(Effect.forkChild)
      const info = yield* Deferred.await(codes)
      const pollTimes: Array<number> = []
      const advanceUntil = (condition: () => boolean) =>
        Effect.gen(function* () {
          for (let step = 0; step < 120; step++) {
            if (condition()) return
            yield* TestClock.adjust("1 second")
            yield* TestClock.withLive(Effect.sleep("15 millis"))
          }
          throw new Error("the device flow did not progress")
        })
      for (let poll = 1; poll <= 3; poll++) {
        yield* advanceUntil(() => as.countGrants(deviceGrant) >= poll)
        pollTimes.push(
          yield* TestClock.testClockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
        )
      }
      const [first = 0, second = 0, third = 0] = pollTimes
      assert.isAtLeast(second - first, 10_000, "after the first failure the interval doubled to 10 s")
      assert.isAtLeast(third - second, 20_000, "after the second, to 20 s")
      yield* approveDevice(info.verificationUriComplete ?? info.verificationUri)
      yield* advanceUntil(() => login.pollUnsafe() !== undefined)
      const result = yield* Fiber.join(login)
      assert.strictEqual(result.server, "tv-flaky")
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("client credentials", () => {
  it.live("with a client secret (client_secret_basic) and with private_key_jwt; renews without a user", () =>
    Effect.gen(function* () {
      const { privateKey, publicKey } = yield* Effect.promise(() =>
        jose.generateKeyPair("ES256", { extractable: true })
      )
      const pem = yield* Effect.promise(() => jose.exportPKCS8(privateKey))
      const jwk = yield* Effect.promise(() => jose.exportJWK(publicKey))
      const { as, mcp } = yield* startServers({
        clients: [
          {
            client_id: "machine-secret",
            client_secret: "machine-secret-value-0123456789",
            grant_types: ["client_credentials"],
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: "client_secret_basic"
          },
          {
            client_id: "machine-jwt",
            grant_types: ["client_credentials"],
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: "private_key_jwt",
            token_endpoint_auth_signing_alg: "ES256",
            jwks: { keys: [{ ...jwk, alg: "ES256", use: "sig" }] }
          }
        ]
      })
      const manager = yield* OAuthManager
      const withSecret = serverConfig("machine-a", mcp.url, {
        flow: "client_credentials",
        clientId: "machine-secret",
        clientSecret: Redacted.make("machine-secret-value-0123456789"),
        scopes: ["mcp:read"]
      })
      // The key as a path to a PEM file.
      const keyDirectory = yield* Effect.acquireRelease(
        Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-key-"))),
        (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
      )
      const keyFile = path.join(keyDirectory, "key.pem")
      yield* Effect.promise(() => fs.writeFile(keyFile, pem, { mode: 0o600 }))
      const withKey = serverConfig("machine-b", mcp.url, {
        flow: "client_credentials",
        clientId: "machine-jwt",
        privateKey: Redacted.make(keyFile),
        signingAlgorithm: "ES256",
        scopes: ["mcp:read"]
      })
      for (const server of [withSecret, withKey]) {
        // No login: a machine client gets its token on first use.
        const token = yield* manager.accessToken(server)
        const call = yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")
        assert.strictEqual(call.status, 200)
        const status = yield* manager.status(server)
        assert.strictEqual(status.registrationMethod, "pre-registered")
        assert.isTrue(status.refreshable)
      }
      assert.deepStrictEqual(
        as.tokenRequests.map((request) => [request.grantType, request.status]),
        [
          ["client_credentials", 200],
          ["client_credentials", 200]
        ]
      )
      // A 401 renews the machine token with another client credentials grant.
      const before = yield* manager.accessToken(withKey)
      const renewed = yield* manager.onUnauthorized(withKey, {
        wwwAuthenticate: `Bearer error="invalid_token"`,
        rejectedToken: before
      })
      assert.notStrictEqual(Redacted.value(renewed), Redacted.value(before))
      assert.strictEqual(as.countGrants("client_credentials"), 3)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("private_key_jwt (RFC 7523 §3)", () => {
  it.live("the assertion names the token endpoint (and the issuer) as its audience", () =>
    Effect.gen(function* () {
      const { privateKey, publicKey } = yield* Effect.promise(() =>
        jose.generateKeyPair("ES256", { extractable: true })
      )
      const pem = yield* Effect.promise(() => jose.exportPKCS8(privateKey))
      const jwk = yield* Effect.promise(() => jose.exportJWK(publicKey))
      const { as, mcp } = yield* startServers({
        clients: [
          {
            client_id: "machine-aud",
            grant_types: ["client_credentials"],
            response_types: [],
            redirect_uris: [],
            token_endpoint_auth_method: "private_key_jwt",
            token_endpoint_auth_signing_alg: "ES256",
            jwks: { keys: [{ ...jwk, alg: "ES256", use: "sig" }] }
          }
        ]
      })
      const server = serverConfig("machine-aud", mcp.url, {
        flow: "client_credentials",
        clientId: "machine-aud",
        privateKey: Redacted.make(pem),
        signingAlgorithm: "ES256",
        scopes: ["mcp:read"]
      })
      const token = yield* (yield* OAuthManager).accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")).status, 200)
      assert.deepStrictEqual(
        as.tokenRequests.map((request) => request.assertionAudience),
        [[as.issuer, `${as.issuer}/token`]]
      )
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})
