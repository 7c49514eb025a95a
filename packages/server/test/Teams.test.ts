/**
 * Users and OAuth for the gateway's own API (docs/teams.md): principals from
 * API keys and access tokens, `/mcp` and `/v1/*` as OAuth protected resources
 * (RFC 9728 metadata, `WWW-Authenticate` with `resource_metadata`), JWT access
 * tokens checked against a real oidc-provider's keys, and the MCP SDK client
 * signing in to `/mcp` with its OAuth client provider.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Context, Effect, Layer, Redacted } from "effect"
import { HttpServerRequest } from "effect/http"
import * as Security from "../src/security/Security.ts"
import { tempHome } from "./support/AdminGateway.ts"
import * as TeamsGateway from "./support/TeamsGateway.ts"

const get = (url: string, token?: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
    })
    return { status: response.status, headers: response.headers, json: (await response.json()) as unknown }
  })

/** The parameters of a `Bearer` challenge. */
const challengeOf = (header: string | null): Record<string, string> => {
  assert.isNotNull(header)
  assert.match(header ?? "", /^Bearer /)
  return Object.fromEntries(
    [...(header ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1] ?? "", match[2] ?? ""])
  )
}

const users = () => ({
  apiKeys: [Redacted.make("shared-key-0123456789")],
  users: {
    carol: { apiKeys: [Redacted.make("carol-key-0123456789")], admin: false },
    dave: { apiKeys: [Redacted.make("dave-key-0123456789")], admin: true }
  }
})

describe("Teams: principals and the gateway as an OAuth protected resource", () => {
  it.live(
    "publishes RFC 9728 metadata for /mcp, /mcp/<server> and /v1, and points 401s at it",
    () =>
      Effect.gen(function* () {
        const { url, as } = yield* TeamsGateway.start({
          server: () => ({ auth: { issuer: "", clientId: "", userClaim: "sub", scopes: ["mcp:read"] } })
        })
        for (const [path, resource] of [
          ["", url],
          ["/mcp", `${url}/mcp`],
          ["/mcp/local", `${url}/mcp/local`],
          ["/v1", `${url}/v1`]
        ] as const) {
          const metadata = yield* get(`${url}/.well-known/oauth-protected-resource${path}`)
          assert.strictEqual(metadata.status, 200)
          assert.deepInclude(metadata.json as object, {
            resource,
            authorization_servers: [as.issuer],
            scopes_supported: ["mcp:read"]
          })
        }
        assert.strictEqual((yield* get(`${url}/.well-known/oauth-protected-resource/admin`)).status, 404)

        for (const [path, resourcePath] of [
          ["/mcp", "/mcp"],
          ["/v1/models", "/v1"],
          ["/v1/mcp/tools", "/v1"]
        ] as const) {
          const refused = yield* get(`${url}${path}`)
          assert.strictEqual(refused.status, 401, path)
          assert.deepStrictEqual(challengeOf(refused.headers.get("www-authenticate")), {
            resource_metadata: `${url}/.well-known/oauth-protected-resource${resourcePath}`
          })
        }
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "every kind of credential opens /v1: shared keys, users' keys, access tokens; others do not",
    () =>
      Effect.gen(function* () {
        const { url, as } = yield* TeamsGateway.start({ server: users })
        const status = (token: string) =>
          Effect.map(get(`${url}/v1/mcp/tools`, token), (response) => response.status)
        assert.strictEqual(yield* status("shared-key-0123456789"), 200)
        assert.strictEqual(yield* status("carol-key-0123456789"), 200)
        assert.strictEqual(yield* status(yield* TeamsGateway.machineToken(as, `${url}/mcp`)), 200)
        assert.strictEqual(yield* status("nobody-key"), 401)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "the MCP SDK client signs in to /mcp with OAuth and calls tools; each user's session is their own",
    () =>
      Effect.gen(function* () {
        const { url, as } = yield* TeamsGateway.start({
          server: () => ({ auth: { issuer: "", clientId: "", userClaim: "sub", scopes: ["mcp:read"] } })
        })
        const alice = yield* TeamsGateway.signIn(as, `${url}/mcp`, "alice")
        const { tools } = yield* Effect.promise(() => alice.client.listTools())
        assert.include(
          tools.map((tool) => tool.name),
          "local__echo"
        )
        const echoed = (yield* Effect.promise(() =>
          alice.client.callTool({ name: "local__echo", arguments: { text: "hi" } })
        )) as CallToolResult
        assert.deepStrictEqual(echoed.content, [{ type: "text", text: "hi" }])
        // The token was issued for the gateway's /mcp, through the SDK's discovery and registration.
        assert.strictEqual(as.registrations.length, 1)
        assert.isTrue(as.tokenRequests.some((request) => request.resource === `${url}/mcp`))

        // Bob's token cannot use Alice's session: it is answered as unknown.
        const bob = yield* TeamsGateway.signIn(as, `${url}/mcp`, "bob")
        const bobToken = bob.provider.saved?.access_token ?? ""
        const sessionId = (alice.client.transport as { sessionId?: string } | undefined)?.sessionId ?? ""
        assert.notStrictEqual(sessionId, "")
        const crossed = yield* Effect.promise(() =>
          fetch(`${url}/mcp`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${bobToken}`,
              "mcp-session-id": sessionId,
              "content-type": "application/json",
              accept: "application/json, text/event-stream"
            },
            body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list", params: {} })
          })
        )
        assert.strictEqual(crossed.status, 404)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "refuses expired, wrong-audience and under-scoped tokens with the RFC 6750 challenge",
    () =>
      Effect.gen(function* () {
        const { url, as, clockOffset } = yield* TeamsGateway.start({
          server: () => ({ auth: { issuer: "", clientId: "", userClaim: "sub", scopes: ["mcp:write"] } })
        })
        const metadataUrl = `${url}/.well-known/oauth-protected-resource/mcp`

        const elsewhere = yield* TeamsGateway.machineToken(as, TeamsGateway.otherResource)
        const wrongAudience = yield* get(`${url}/mcp`, elsewhere)
        assert.strictEqual(wrongAudience.status, 401)
        const wrong = challengeOf(wrongAudience.headers.get("www-authenticate"))
        assert.strictEqual(wrong.resource_metadata, metadataUrl)
        assert.strictEqual(wrong.error, "invalid_token")
        assert.include(wrong.error_description, "not for this gateway")

        const readOnly = yield* TeamsGateway.machineToken(as, `${url}/mcp`, "mcp:read")
        const underScoped = yield* get(`${url}/mcp`, readOnly)
        assert.strictEqual(underScoped.status, 403)
        assert.deepInclude(challengeOf(underScoped.headers.get("www-authenticate")), {
          error: "insufficient_scope",
          scope: "mcp:write",
          resource_metadata: metadataUrl
        })

        // The JSON tool routes answer the same challenge.
        const underScopedV1 = yield* get(`${url}/v1/mcp/tools`, readOnly)
        assert.strictEqual(underScopedV1.status, 403)
        assert.strictEqual(
          challengeOf(underScopedV1.headers.get("www-authenticate")).error,
          "insufficient_scope"
        )

        const good = yield* TeamsGateway.machineToken(as, `${url}/mcp`)
        assert.strictEqual((yield* get(`${url}/v1/mcp/tools`, good)).status, 200)
        // Two hours later (the provider's tokens last one) the same token has expired.
        clockOffset.ms = 2 * 60 * 60 * 1000
        const expired = yield* get(`${url}/v1/mcp/tools`, good)
        assert.strictEqual(expired.status, 401)
        assert.deepInclude(challengeOf(expired.headers.get("www-authenticate")), {
          error: "invalid_token",
          error_description: "the access token has expired",
          resource_metadata: `${url}/.well-known/oauth-protected-resource/v1`
        })
        // A token the provider never signed.
        const [header, payload] = good.split(".")
        const forged = yield* get(`${url}/mcp`, `${header}.${payload}.c2lnbmF0dXJl`)
        assert.strictEqual(forged.status, 401)
        assert.strictEqual(challengeOf(forged.headers.get("www-authenticate")).error, "invalid_token")
      }).pipe(Effect.scoped),
    30_000
  )
})

const requestWith = (token: string) =>
  HttpServerRequest.fromWeb(
    new Request("http://127.0.0.1:8808/v1/models", { headers: { authorization: `Bearer ${token}` } })
  )

describe("Teams: opaque access tokens", () => {
  it.live(
    "an opaque token is checked by RFC 7662 introspection: active opens /v1, revoked is refused",
    () =>
      Effect.gen(function* () {
        // A machine's introspected token names its client, not a user: `userClaim` says which claim to read.
        const { url, as } = yield* TeamsGateway.start({
          opaqueV1: true,
          server: () => ({ auth: { issuer: "", clientId: "", userClaim: "client_id" } })
        })
        const token = yield* TeamsGateway.machineToken(as, `${url}/v1`)
        assert.notStrictEqual(token.split(".").length, 3)
        const active = yield* get(`${url}/v1/mcp/tools`, token)
        assert.strictEqual(active.status, 200, JSON.stringify(active.json))
        yield* Effect.promise(() =>
          fetch(`${as.issuer}/token/revocation`, {
            method: "POST",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              authorization: `Basic ${Buffer.from(`${TeamsGateway.machineClient.id}:${TeamsGateway.machineClient.secret}`).toString("base64")}`
            },
            body: new URLSearchParams({ token }).toString()
          })
        )
        const revoked = yield* get(`${url}/v1/mcp/tools`, token)
        assert.strictEqual(revoked.status, 401)
        assert.deepInclude(challengeOf(revoked.headers.get("www-authenticate")), {
          error: "invalid_token",
          error_description: "the access token is not active (expired or revoked)"
        })
      }).pipe(Effect.scoped),
    30_000
  )
})

describe("Teams: the principal of a request", () => {
  it.live(
    "Security.authorizeApi names it: a user by key or token (admin by adminClaim or admin: true)",
    () =>
      Effect.gen(function* () {
        const { url, as } = yield* TeamsGateway.start({
          claims: (account) =>
            account === TeamsGateway.machineClient.id ? { groups: ["admins", "staff"] } : {}
        })
        const home = yield* tempHome
        const security = yield* Effect.map(
          Layer.build(
            Security.Security.layer({
              config: Configs.gateway([], {
                server: {
                  host: "127.0.0.1",
                  port: 8808,
                  publicUrl: url,
                  ...users(),
                  auth: {
                    issuer: as.issuer,
                    clientId: "mcpgate",
                    userClaim: "sub",
                    adminClaim: "groups=admins"
                  }
                }
              }),
              env: { MCPGATE_HOME: home }
            })
          ),
          (context) => Context.get(context, Security.Security)
        )
        const principal = (token: string) =>
          Effect.map(security.authorizeApi(requestWith(token)), (access) => access.principal)
        assert.deepStrictEqual(yield* principal("shared-key-0123456789"), { _tag: "Shared" })
        assert.deepStrictEqual(yield* principal("carol-key-0123456789"), {
          _tag: "User",
          id: "carol",
          admin: false,
          via: "api-key"
        })
        assert.deepStrictEqual(yield* principal("dave-key-0123456789"), {
          _tag: "User",
          id: "dave",
          admin: true,
          via: "api-key"
        })
        const token = yield* TeamsGateway.machineToken(as, `${url}/mcp`, "mcp:read")
        const access = yield* security.authorizeApi(requestWith(token))
        assert.deepStrictEqual(access.principal, {
          _tag: "User",
          id: TeamsGateway.machineClient.id,
          admin: true,
          via: "access-token",
          scopes: ["mcp:read"]
        })
        assert.strictEqual(access.caller, `user:${TeamsGateway.machineClient.id}`)
      }).pipe(Effect.scoped),
    30_000
  )

  it.effect(
    "a key listed for two principals is refused, naming the path",
    () =>
      Effect.gen(function* () {
        const home = yield* tempHome
        const error = yield* Effect.flip(
          Layer.build(
            Security.Security.layer({
              config: Configs.gateway([], {
                server: {
                  host: "127.0.0.1",
                  port: 8808,
                  apiKeys: [Redacted.make("same-key-0123456789")],
                  users: { erin: { apiKeys: [Redacted.make("same-key-0123456789")], admin: false } }
                }
              }),
              env: { MCPGATE_HOME: home }
            })
          )
        )
        assert.strictEqual(error._tag, "SecurityConfigError")
        assert.include(error.message, "server.users.erin.apiKeys")
      }).pipe(Effect.scoped),
    30_000
  )
})
