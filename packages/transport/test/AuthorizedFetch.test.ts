/**
 * `AuthorizedFetch.layerOAuth` against real servers: the oauth package's
 * authorization server (oidc-provider) and the MCP server it protects (JWT
 * access tokens for its own URL, 401 with `resource_metadata`, 403
 * `insufficient_scope` for the `admin` tool unless the token has `mcp:admin`).
 */
import * as net from "node:net"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { OAuthManagerOptions } from "@mcpgate/oauth/OAuthManager"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as Configs from "@mcpgate/testing/Configs"
import {
  allIssuedTokens,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import { Effect, Layer, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import {
  AuthorizationRequired,
  AuthorizedFetch,
  type Fetch,
  makeOAuth,
  type OAuthFetchOptions
} from "../src/AuthorizedFetch.ts"

/** Messages of the errors the tests provoked (checked for tokens like the logs). */
const errorTexts: Array<string> = []

afterAll(() => {
  assert.isAbove(allIssuedTokens.size, 0)
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
})

/** One stateless `tools/call` through `fetch`. */
const post = (fetch: Fetch, url: string, tool: string) =>
  fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-11-25"
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: tool, arguments: {} }
    })
  })

/** The status and the tool's text. */
const callTool = (fetch: Fetch, url: string, tool: string) =>
  Effect.promise(async () => {
    const response = await post(fetch, url, tool)
    if (response.status !== 200) {
      await response.body?.cancel()
      return { status: response.status, text: undefined }
    }
    const json = (await response.json()) as { result?: { content?: ReadonlyArray<{ text?: string }> } }
    return { status: response.status, text: json.result?.content?.[0]?.text }
  })

/** What the fetch threw (an `AuthorizationRequired`, or the network's own error). */
const rejectionOf = (fetch: Fetch, url: string, tool: string) =>
  Effect.promise(() =>
    post(fetch, url, tool).then(
      (response): unknown => {
        throw new Error(`the request did not fail (HTTP ${response.status})`)
      },
      (error: unknown) => {
        if (error instanceof Error) errorTexts.push(error.message)
        return error
      }
    )
  )

/** The MCP server's counts of refused and accepted requests. */
const counts = (mcp: { readonly refused: number; readonly accepted: number }) => [mcp.refused, mcp.accepted]

/**
 * The server's config with a loopback callback port free right now: the default
 * port (a hash of name and URL) may be held by a socket of a test running beside.
 */
const notes = (url: string) =>
  Effect.map(
    Effect.callback<number>((resume) => {
      const probe = net.createServer()
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        probe.close(() => resume(Effect.succeed(port)))
      })
    }),
    (callbackPort) => serverConfig("notes", url, { callbackPort })
  )

const fetchLayer = (manager: OAuthManagerOptions = {}, options: OAuthFetchOptions = {}) =>
  Layer.effect(AuthorizedFetch, makeOAuth(options)).pipe(
    Layer.provideMerge(managerLayer(manager)),
    Layer.provideMerge(logCapture)
  )

describe("AuthorizedFetch.layerOAuth", () => {
  it.live("adds the stored token as a bearer header; a server without auth gets none", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers()
      const server = yield* notes(mcp.url)
      yield* (yield* OAuthManager).login(server)
      const { forServer } = yield* AuthorizedFetch
      const [refused, accepted] = counts(mcp)
      const call = yield* callTool(forServer(server), mcp.url, "whoami")
      assert.deepStrictEqual(call, { status: 200, text: "hello test-user" })
      assert.deepStrictEqual(counts(mcp), [refused, (accepted ?? 0) + 1])

      // No `auth`: the response comes back as it is, nothing is added, nothing is retried.
      const { auth: _auth, ...plain } = server
      const anonymous = yield* callTool(forServer({ ...plain, name: "plain" }), mcp.url, "whoami")
      assert.strictEqual(anonymous.status, 401)
      assert.deepStrictEqual(counts(mcp), [(refused ?? 0) + 1, (accepted ?? 0) + 1])
    }).pipe(Effect.provide(fetchLayer()))
  )

  it.live("a 401 renews the token (refresh) and retries once; a second 401 is handed back", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = yield* notes(mcp.url)
      const oauth = yield* OAuthManager
      yield* oauth.login(server)
      const { forServer } = yield* AuthorizedFetch
      const fetch = forServer(server)

      // The server revoked the token on its side: one 401, one refresh, one successful retry.
      mcp.revokedTokens.add(Redacted.value(yield* oauth.accessToken(server)))
      const [refused = 0, accepted = 0] = counts(mcp)
      const call = yield* callTool(fetch, mcp.url, "whoami")
      assert.deepStrictEqual(call, { status: 200, text: "hello test-user" })
      assert.strictEqual(as.countGrants("refresh_token"), 1)
      assert.deepStrictEqual(counts(mcp), [refused + 1, accepted + 1])

      // A server that refuses every token: exactly one refresh and one retry, then its 401.
      mcp.revokedTokens.has = () => true
      const again = yield* callTool(fetch, mcp.url, "whoami")
      assert.strictEqual(again.status, 401)
      assert.strictEqual(as.countGrants("refresh_token"), 2)
      assert.deepStrictEqual(counts(mcp), [refused + 3, accepted + 1])
    }).pipe(Effect.provide(fetchLayer()))
  )

  it.live("a 403 insufficient_scope steps up once with the combined scopes (never a refresh)", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = yield* notes(mcp.url)
      yield* (yield* OAuthManager).login(server)
      const { forServer } = yield* AuthorizedFetch
      const call = yield* callTool(forServer(server), mcp.url, "admin")
      assert.deepStrictEqual(call, { status: 200, text: "admin ok" })
      assert.includeMembers((mcp.lastClaims?.scope ?? "").split(" "), ["mcp:read", "mcp:write", "mcp:admin"])
      assert.strictEqual(as.countGrants("authorization_code"), 2)
      assert.strictEqual(as.countGrants("refresh_token"), 0)
    }).pipe(Effect.provide(fetchLayer({ interactive: true })))
  )

  it.live("not interactive: a 403 insufficient_scope is AuthorizationRequired (scope) naming the fix", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers()
      const server = yield* notes(mcp.url)
      yield* (yield* OAuthManager).login(server)
      const { forServer } = yield* AuthorizedFetch
      const error = yield* rejectionOf(forServer(server), mcp.url, "admin")
      assert.instanceOf(error, AuthorizationRequired)
      if (!(error instanceof AuthorizationRequired)) return
      assert.strictEqual(error.reason, "scope")
      assert.include(error.message, "mcpgate login notes")
      assert.include(error.message, "--scope mcp:admin")
      assert.include(error.wwwAuthenticate ?? "", "insufficient_scope")
      assert.strictEqual(as.countGrants("authorization_code"), 1)
    }).pipe(Effect.provide(fetchLayer({ interactive: false })))
  )

  it.live("without a credential: one anonymous request, then AuthorizationRequired with the challenge", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = yield* notes(mcp.url)
      const { forServer } = yield* AuthorizedFetch
      const refused = mcp.refused
      const error = yield* rejectionOf(forServer(server), mcp.url, "whoami")
      assert.instanceOf(error, AuthorizationRequired)
      if (!(error instanceof AuthorizationRequired)) return
      assert.strictEqual(error.reason, "login")
      assert.strictEqual(error.server, "notes")
      assert.include(error.message, "mcpgate login notes")
      assert.include(error.wwwAuthenticate ?? "", `resource_metadata="${mcp.resourceMetadataUrl}"`)
      assert.strictEqual(mcp.refused, refused + 1)
      assert.strictEqual(as.tokenRequests.length, 0)
    }).pipe(Effect.provide(fetchLayer()))
  )

  it.live("with login on demand: signs in from the 401's challenge, once for concurrent requests", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = yield* notes(mcp.url)
      const { forServer } = yield* AuthorizedFetch
      const fetch = forServer(server)
      const calls = yield* Effect.all(
        [callTool(fetch, mcp.url, "whoami"), callTool(fetch, mcp.url, "whoami")],
        {
          concurrency: "unbounded"
        }
      )
      assert.deepStrictEqual(
        calls.map((call) => call.text),
        ["hello test-user", "hello test-user"]
      )
      assert.strictEqual(as.registrations.length, 1)
      assert.strictEqual(as.countGrants("authorization_code"), 1)
      // The scope came from the challenge (plus offline_access for a refresh token).
      assert.strictEqual(mcp.lastClaims?.scope, "mcp:read")
    }).pipe(Effect.provide(fetchLayer({ interactive: true }, { login: {} })))
  )
})

describe("AuthorizedFetch: the network", () => {
  it.effect("goes through the FetchHttpClient.Fetch the layer was built with, configured headers added", () =>
    Effect.gen(function* () {
      const seen: Array<{ readonly url: string; readonly team: string | null }> = []
      // Stands in for the public internet: an embedding app's own fetch.
      const fetch: typeof globalThis.fetch = async (input, init) => {
        seen.push({ url: String(input), team: new Headers(init?.headers).get("x-team") })
        return new Response("{}", { headers: { "content-type": "application/json" } })
      }
      const { forServer } = yield* AuthorizedFetch.pipe(
        Effect.provide(AuthorizedFetch.layer),
        Effect.provideService(FetchHttpClient.Fetch, fetch)
      )
      const server = Configs.server("remote", {
        url: "https://mcp.example/mcp",
        headers: { "x-team": "core" }
      })
      const response = yield* Effect.promise(() => forServer(server)("https://mcp.example/mcp"))
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(seen, [{ url: "https://mcp.example/mcp", team: "core" }])
    })
  )
})
