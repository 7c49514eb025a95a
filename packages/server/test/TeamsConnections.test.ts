/**
 * Each user connects their own account to an `identity: "user"` server
 * (docs/teams.md#connections): `/v1/mcp/connections` lists, starts and ends
 * the user's own logins; the web OAuth callback stores the tokens under that
 * user; Alice's disconnect never touches Bob's credential.
 */
import { assert, describe, it } from "@effect/vitest"
import { forPrincipal } from "@mcpgate/core/CredentialStore"
import { followRedirects } from "@mcpgate/oauth/Browser"
import * as Configs from "@mcpgate/testing/Configs"
import { serverConfig, startServers } from "@mcpgate/testing/Harness"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Option, Redacted } from "effect"
import * as TeamsGateway from "./support/TeamsGateway.ts"

const keys = { alice: "alice-key-0123456789", bob: "bob-key-0123456789", carol: "carol-key-0123456789" }

const execute = (url: string, key: string, tool: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/mcp/execute`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ tool_name: tool, arguments: {} })
    })
    return { status: response.status, json: (await response.json()) as Record<string, unknown> }
  })

/** A chat turn with the gateway's tools; the results of the tool calls it ran. */
const chat = (url: string, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "m",
        messages: [{ role: "user", content: "who am I?" }],
        execute_mcp_tools: true
      })
    })
    const body = (await response.json()) as {
      mcp_tool_events?: ReadonlyArray<{ status: string; result?: string }>
    }
    return (body.mcp_tool_events ?? []).filter((event) => event.status !== "started")
  })

const call = (url: string, method: string, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method, headers: { authorization: `Bearer ${key}` } })
    return { status: response.status, json: (await response.json()) as Record<string, unknown> }
  })

interface Connection {
  readonly server: string
  readonly connected: boolean
  readonly state: string
}

describe("Teams: per-user connections", () => {
  it.live(
    "Alice and Bob each connect their own account; whoami answers each; Alice's disconnect leaves Bob's",
    () =>
      Effect.gen(function* () {
        const { as: notionAs, mcp } = yield* startServers()
        const notion = serverConfig("notion", mcp.url, { identity: "user" })
        // A model that calls notion__whoami once, then answers.
        const upstream = yield* ScriptedUpstream.make((body) => {
          const messages = Array.isArray(body.messages) ? body.messages : []
          const answered = messages.some((message) => (message as { role?: unknown }).role === "tool")
          return answered
            ? { content: "done" }
            : { toolCalls: [{ id: "call_1", name: "notion__whoami", arguments: "{}" }] }
        })
        const { url, store } = yield* TeamsGateway.start({
          servers: [Configs.stdioServer("local"), notion],
          expectConnected: 1,
          server: () => ({
            upstream: { baseUrl: upstream.baseUrl },
            users: Object.fromEntries(
              Object.entries(keys).map(([user, key]) => [
                user,
                { apiKeys: [Redacted.make(key)], admin: false }
              ])
            )
          })
        })
        const connections = (key: string) =>
          Effect.map(call(`${url}/v1/mcp/connections`, "GET", key), (answer) => {
            assert.strictEqual(answer.status, 200)
            return answer.json.connections as ReadonlyArray<Connection>
          })
        assert.deepInclude((yield* connections(keys.alice))[0] ?? {}, {
          server: "notion",
          connected: false,
          state: "needs-login"
        })

        // Before connecting, a call says where to connect (and builds Alice's pooled connections).
        const early = yield* execute(url, keys.alice, "notion__whoami")
        assert.strictEqual(early.status, 409)
        assert.include(JSON.stringify(early.json), `${url}/connections`)

        for (const user of ["alice", "bob"] as const) {
          const started = yield* call(`${url}/v1/mcp/connections/notion`, "POST", keys[user])
          assert.strictEqual(started.status, 200)
          const authUrl = String(started.json.authUrl)
          assert.isTrue(authUrl.startsWith(notionAs.issuer))
          notionAs.account = user
          // The browser: through the provider, back to the gateway's callback.
          yield* followRedirects("notion", authUrl)
        }

        assert.strictEqual((yield* connections(keys.alice))[0]?.connected, true)
        assert.strictEqual((yield* connections(keys.bob))[0]?.connected, true)
        assert.strictEqual((yield* connections(keys.carol))[0]?.connected, false)

        // Each stored token is that user's own.
        for (const user of ["alice", "bob"] as const) {
          const credential = Option.getOrThrow(
            yield* forPrincipal(store, user).get({ server: "notion", url: mcp.url })
          )
          const token = credential.tokens?.accessToken
          if (token === undefined) return yield* Effect.die("no token")
          const whoami = yield* callTool(mcp.url, `Bearer ${Redacted.value(token)}`, "whoami")
          assert.include(whoami.text ?? "", `hello ${user}`)
        }
        assert.isTrue(Option.isNone(yield* store.get({ server: "notion", url: mcp.url })))

        // Through the gateway, each user's call runs on their own connection.
        for (const user of ["alice", "bob"] as const) {
          const answer = yield* execute(url, keys[user], "notion__whoami")
          assert.strictEqual(answer.status, 200, JSON.stringify(answer.json))
          assert.include(String(answer.json.content), `hello ${user}`)
        }
        const carol = yield* execute(url, keys.carol, "notion__whoami")
        assert.strictEqual(carol.status, 409)
        assert.include(JSON.stringify(carol.json), "not connected for carol")
        // The gateway's own tools are the same for everyone.
        assert.strictEqual((yield* execute(url, keys.carol, "local__echo")).status, 200)
        // The chat tool loop runs the model's call as the caller, too.
        for (const user of ["alice", "bob"] as const) {
          const events = yield* chat(url, keys[user])
          assert.strictEqual(events.length, 1, JSON.stringify(events))
          assert.include(events[0]?.result ?? "", `hello ${user}`)
        }
        // Carol has not connected notion: she is not offered its tools, and nobody's credential runs it for her.
        assert.deepStrictEqual(yield* chat(url, keys.carol), [])

        // Admins see each user's connections: metadata, never a token.
        const listed = yield* call(`${url}/admin/api/mcp/users`, "GET", TeamsGateway.adminToken)
        assert.strictEqual(listed.status, 200)
        const byUser = Object.fromEntries(
          (
            listed.json.users as ReadonlyArray<{
              user: string
              connections: ReadonlyArray<{ server: string; hasRefreshToken: boolean }>
            }>
          ).map((entry) => [
            entry.user,
            entry.connections.map((connection) => [connection.server, connection.hasRefreshToken])
          ])
        )
        assert.deepStrictEqual(byUser, { alice: [["notion", true]], bob: [["notion", true]], carol: [] })
        for (const token of [...notionAs.issuedTokens]) assert.notInclude(JSON.stringify(listed.json), token)
        // An API key never opens the admin API.
        assert.strictEqual((yield* call(`${url}/admin/api/mcp/users`, "GET", keys.alice)).status, 401)

        const bobBefore = Option.getOrThrow(
          yield* forPrincipal(store, "bob").get({ server: "notion", url: mcp.url })
        )
        const disconnected = yield* call(`${url}/v1/mcp/connections/notion`, "DELETE", keys.alice)
        assert.deepStrictEqual(disconnected.json, { removed: true, revoked: true })
        assert.strictEqual((yield* connections(keys.alice))[0]?.connected, false)
        assert.strictEqual((yield* connections(keys.bob))[0]?.connected, true)
        const bobAfter = Option.getOrThrow(
          yield* forPrincipal(store, "bob").get({ server: "notion", url: mcp.url })
        )
        assert.strictEqual(bobAfter.updatedAt, bobBefore.updatedAt)
        assert.strictEqual((yield* execute(url, keys.alice, "notion__whoami")).status, 409)
        assert.include(String((yield* execute(url, keys.bob, "notion__whoami")).json.content), "hello bob")
        // An admin revokes Bob: his credential is revoked and gone, his next call is told to connect.
        const revoked = yield* call(
          `${url}/admin/api/mcp/users/bob/connections/notion`,
          "DELETE",
          TeamsGateway.adminToken
        )
        assert.deepStrictEqual(revoked.json, { ok: true, removed: true, revoked: true })
        assert.isTrue(
          Option.isNone(yield* forPrincipal(store, "bob").get({ server: "notion", url: mcp.url }))
        )
        assert.strictEqual((yield* execute(url, keys.bob, "notion__whoami")).status, 409)
        const again = yield* call(
          `${url}/admin/api/mcp/users/bob/connections/notion`,
          "DELETE",
          TeamsGateway.adminToken
        )
        assert.strictEqual(again.status, 409)

        // The shared identity has no connections; unknown servers are 404.
        const shared = yield* TeamsGateway.start({
          server: () => ({ apiKeys: [Redacted.make("shared-key-0123456789")] })
        })
        assert.strictEqual(
          (yield* call(`${shared.url}/v1/mcp/connections`, "GET", "shared-key-0123456789")).status,
          403
        )
        assert.strictEqual((yield* call(`${url}/v1/mcp/connections/local`, "POST", keys.alice)).status, 404)
      }).pipe(Effect.scoped),
    30_000
  )
})
