/**
 * Per-user servers on the aggregated `/mcp` (docs/teams.md#per-user-tool-calls):
 * each user's session lists and calls an `identity: "user"` server's tools on
 * the user's own connection; a user who has not connected it is offered
 * `<server>__connect`, whose result says where to connect; the shared identity
 * does not see it; a connect or disconnect tells the user's open sessions
 * `notifications/tools/list_changed`. The same tool view serves `/v1/mcp/tools`
 * and the chat tool loop.
 */
import { assert, describe, it } from "@effect/vitest"
import { forPrincipal } from "@mcpgate/core/CredentialStore"
import { followRedirects } from "@mcpgate/oauth/Browser"
import * as Configs from "@mcpgate/testing/Configs"
import { serverConfig, startServers } from "@mcpgate/testing/Harness"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { type CallToolResult, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import { Effect, Queue, Redacted } from "effect"
import * as TeamsGateway from "./support/TeamsGateway.ts"

const keys = {
  alice: "alice-key-0123456789",
  bob: "bob-key-0123456789",
  carol: "carol-key-0123456789",
  shared: "shared-key-0123456789"
}

/** An MCP SDK client on `<url>/mcp` with `key`, and the `tools/list_changed` notifications it gets. */
const connect = (url: string, key: string) =>
  Effect.gen(function* () {
    const changes = yield* Queue.unbounded<void>()
    const client = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new Client({ name: "teams-mcp-test", version: "1.0.0" })
        client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
          Queue.offerUnsafe(changes, undefined)
        })
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
            requestInit: { headers: { authorization: `Bearer ${key}` } }
          })
        )
        return client
      }),
      (client) => Effect.promise(() => client.close())
    )
    const names = Effect.promise(() => client.listTools()).pipe(
      Effect.map(({ tools }) => tools.map((tool) => tool.name))
    )
    const call = (name: string) =>
      Effect.promise(() => client.callTool({ name, arguments: {} }) as Promise<CallToolResult>).pipe(
        Effect.map((result) => ({
          isError: result.isError === true,
          text: result.content.map((block) => (block.type === "text" ? block.text : "")).join("\n")
        }))
      )
    return { client, changes, names, call }
  })

const request = (url: string, method: string, key: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, json: (await response.json()) as Record<string, unknown> }
  })

/** The gateway with `local` (shared) and `notion` (per user); Alice and Bob connected notion. */
const gateway = (upstreamBaseUrl?: string) =>
  Effect.gen(function* () {
    const { as: notionAs, mcp } = yield* startServers()
    const { url, as, store } = yield* TeamsGateway.start({
      servers: [Configs.stdioServer("local"), serverConfig("notion", mcp.url, { identity: "user" })],
      expectConnected: 1,
      server: () => ({
        // The MCP SDK client asks the provider for the scopes the resource metadata lists.
        auth: { issuer: "", clientId: "", userClaim: "sub", scopes: ["mcp:read"] },
        apiKeys: [Redacted.make(keys.shared)],
        users: {
          alice: { apiKeys: [Redacted.make(keys.alice)], admin: false },
          bob: { apiKeys: [Redacted.make(keys.bob)], admin: false },
          carol: { apiKeys: [Redacted.make(keys.carol)], admin: false }
        },
        ...(upstreamBaseUrl === undefined ? {} : { upstream: { baseUrl: upstreamBaseUrl } })
      })
    })
    /** The user's browser through notion's provider and back to the gateway's callback. */
    const connectNotion = (user: string, credential = keys[user as "alice" | "bob" | "carol"]) =>
      Effect.gen(function* () {
        const started = yield* request(`${url}/v1/mcp/connections/notion`, "POST", credential)
        assert.strictEqual(started.status, 200, JSON.stringify(started.json))
        notionAs.account = user
        yield* followRedirects("notion", String(started.json.authUrl))
      })
    yield* connectNotion("alice")
    yield* connectNotion("bob")
    return { url, as, store, notionUrl: mcp.url, connectNotion }
  })

describe("Teams: per-user servers from the config editor", () => {
  it.live(
    "a per-user server added through the admin config API serves users without a restart",
    () =>
      Effect.gen(function* () {
        const { as: notionAs, mcp } = yield* startServers()
        const { url } = yield* TeamsGateway.start({
          servers: [Configs.stdioServer("local")],
          server: () => ({ users: { alice: { apiKeys: [Redacted.make(keys.alice)], admin: false } } })
        })
        const alice = yield* connect(url, keys.alice)
        assert.notInclude(yield* alice.names, "notion__connect")
        const current = yield* request(`${url}/admin/api/mcp/config`, "GET", TeamsGateway.adminToken)
        const text = JSON.parse(String(current.json.text)) as { mcpServers: Record<string, unknown> }
        text.mcpServers.notion = { url: mcp.url, auth: { type: "oauth2", identity: "user" } }
        const saved = yield* request(`${url}/admin/api/mcp/config`, "PUT", TeamsGateway.adminToken, {
          text: JSON.stringify(text)
        })
        assert.strictEqual(saved.status, 200, JSON.stringify(saved.json))
        assert.include(yield* alice.names, "notion__connect")

        const started = yield* request(`${url}/v1/mcp/connections/notion`, "POST", keys.alice)
        assert.strictEqual(started.status, 200, JSON.stringify(started.json))
        notionAs.account = "alice"
        yield* followRedirects("notion", String(started.json.authUrl))
        assert.include(yield* alice.names, "notion__whoami")
        assert.deepStrictEqual(yield* alice.call("notion__whoami"), { isError: false, text: "hello alice" })
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("Teams: per-user servers on /mcp", () => {
  it.live(
    "each user's session calls notion on their own connection; Carol is offered notion__connect; shared keys see none",
    () =>
      Effect.gen(function* () {
        const { url } = yield* gateway()
        const alice = yield* connect(url, keys.alice)
        const bob = yield* connect(url, keys.bob)
        const carol = yield* connect(url, keys.carol)
        const shared = yield* connect(url, keys.shared)

        for (const [user, session] of [
          ["alice", alice],
          ["bob", bob]
        ] as const) {
          const names = yield* session.names
          assert.includeMembers(names, ["local__echo", "notion__whoami"])
          assert.notInclude(names, "notion__connect")
          const whoami = yield* session.call("notion__whoami")
          assert.deepStrictEqual(whoami, { isError: false, text: `hello ${user}` })
          // The server's resources and prompts too, read on the user's own connection.
          const { resources } = yield* Effect.promise(() => session.client.listResources())
          assert.include(
            resources.map((resource) => resource.uri),
            "mcpgate://notion/whoami://me"
          )
          const read = yield* Effect.promise(() =>
            session.client.readResource({ uri: "mcpgate://notion/whoami://me" })
          )
          assert.deepStrictEqual(
            read.contents.map((content) => ("text" in content ? content.text : "")),
            [`hello ${user}`]
          )
          const { prompts } = yield* Effect.promise(() => session.client.listPrompts())
          assert.include(
            prompts.map((prompt) => prompt.name),
            "notion__greet"
          )
          const prompt = yield* Effect.promise(() => session.client.getPrompt({ name: "notion__greet" }))
          assert.deepStrictEqual(prompt.messages[0]?.content, { type: "text", text: `greet ${user}` })
        }

        const carolNames = yield* carol.names
        assert.includeMembers(carolNames, ["local__echo", "notion__connect"])
        assert.notInclude(carolNames, "notion__whoami")
        const told = yield* carol.call("notion__connect")
        assert.include(told.text, `${url}/connections`)
        assert.include(told.text, "notion")
        // A per-user tool she has not connected: an error result that says where to connect, not Alice's answer.
        const refused = yield* carol.call("notion__whoami")
        assert.isTrue(refused.isError)
        assert.include(refused.text, `${url}/connections`)

        // Nobody else's resources reach Carol or the shared identity.
        for (const session of [carol, shared]) {
          const { resources } = yield* Effect.promise(() => session.client.listResources())
          assert.isFalse(resources.some((resource) => resource.uri.startsWith("mcpgate://notion/")))
        }
        const sharedNames = yield* shared.names
        assert.include(sharedNames, "local__echo")
        assert.isFalse(
          sharedNames.some((name) => name.startsWith("notion__")),
          sharedNames.join(", ")
        )
        const sharedCall = yield* shared.call("notion__whoami")
        assert.isTrue(sharedCall.isError)
        assert.notInclude(sharedCall.text, "hello")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a disconnect or a connect tells the user's open sessions tools/list_changed, and only theirs",
    () =>
      Effect.gen(function* () {
        const { url, connectNotion } = yield* gateway()
        const alice = yield* connect(url, keys.alice)
        const bob = yield* connect(url, keys.bob)
        const carol = yield* connect(url, keys.carol)
        for (const session of [alice, bob, carol]) yield* session.names

        const disconnected = yield* request(`${url}/v1/mcp/connections/notion`, "DELETE", keys.alice)
        assert.strictEqual(disconnected.status, 200)
        yield* Queue.take(alice.changes)
        const after = yield* alice.names
        assert.include(after, "notion__connect")
        assert.notInclude(after, "notion__whoami")
        assert.include((yield* alice.call("notion__whoami")).text, `${url}/connections`)

        yield* connectNotion("carol")
        yield* Queue.take(carol.changes)
        const carolNames = yield* carol.names
        assert.include(carolNames, "notion__whoami")
        assert.notInclude(carolNames, "notion__connect")
        assert.deepStrictEqual(yield* carol.call("notion__whoami"), { isError: false, text: "hello carol" })

        // Bob's list never changed: he was told nothing.
        assert.strictEqual(yield* Queue.size(bob.changes), 0)
        assert.deepStrictEqual(yield* bob.call("notion__whoami"), { isError: false, text: "hello bob" })
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a user's connection that loses its login tells their sessions, which are then offered notion__connect",
    () =>
      Effect.gen(function* () {
        const { url, store, notionUrl } = yield* gateway()
        const alice = yield* connect(url, keys.alice)
        const bob = yield* connect(url, keys.bob)
        assert.include(yield* alice.names, "notion__whoami")
        yield* bob.names
        // Her credential is gone behind the gateway's back (another process, a store restored from backup).
        yield* forPrincipal(store, "alice").delete({ server: "notion", url: notionUrl })
        // Her pooled connection finds out on its next request and waits for a login again.
        const refused = yield* alice.call("notion__whoami")
        assert.isTrue(refused.isError)
        assert.include(refused.text, `${url}/connections`)
        // As a client does: list again on each notice (the server may pass through "connecting" first).
        const after = yield* Effect.gen(function* () {
          yield* Queue.take(alice.changes)
          return yield* alice.names
        }).pipe(
          Effect.repeat({ until: (names) => names.includes("notion__connect") }),
          Effect.timeout("10 seconds")
        )
        assert.notInclude(after, "notion__whoami")
        assert.strictEqual(yield* Queue.size(bob.changes), 0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a user signed in through server.auth (the MCP SDK's OAuth) gets the same view on their session",
    () =>
      Effect.gen(function* () {
        const { url, as, connectNotion } = yield* gateway()
        const dave = yield* TeamsGateway.signIn(as, `${url}/mcp`, "dave")
        const changes = yield* Queue.unbounded<void>()
        dave.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
          Queue.offerUnsafe(changes, undefined)
        })
        const names = Effect.promise(() => dave.client.listTools()).pipe(
          Effect.map(({ tools }) => tools.map((tool) => tool.name))
        )
        const before = yield* names
        assert.include(before, "notion__connect")
        assert.notInclude(before, "notion__whoami")
        // The same access token opens /v1 (docs/teams.md#access-tokens): Dave connects notion with it.
        yield* connectNotion("dave", dave.provider.saved?.access_token ?? "")
        yield* Queue.take(changes)
        assert.include(yield* names, "notion__whoami")
        const whoami = (yield* Effect.promise(() =>
          dave.client.callTool({ name: "notion__whoami", arguments: {} })
        )) as CallToolResult
        assert.deepStrictEqual(whoami.content, [{ type: "text", text: "hello dave" }])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "/v1/mcp/tools and the chat tool loop offer the same view: notion's tools, notion__connect, or neither",
    () =>
      Effect.gen(function* () {
        // The model calls notion__connect once when it is offered, then answers.
        const upstream = yield* ScriptedUpstream.make((body) => {
          const messages = Array.isArray(body.messages) ? body.messages : []
          const offered = JSON.stringify(body.tools ?? [])
          const answered = messages.some((message) => (message as { role?: unknown }).role === "tool")
          return answered || !offered.includes("notion__connect")
            ? { content: "done" }
            : { toolCalls: [{ id: "call_1", name: "notion__connect", arguments: "{}" }] }
        })
        const { url } = yield* gateway(upstream.baseUrl)
        const listed = (key: string) =>
          Effect.map(request(`${url}/v1/mcp/tools`, "GET", key), (answer) => {
            assert.strictEqual(answer.status, 200)
            return (answer.json.tools as ReadonlyArray<{ name: string }>).map((tool) => tool.name)
          })
        assert.includeMembers(yield* listed(keys.alice), ["local__echo", "notion__whoami"])
        const carol = yield* listed(keys.carol)
        assert.includeMembers(carol, ["local__echo", "notion__connect"])
        assert.notInclude(carol, "notion__whoami")
        assert.isFalse((yield* listed(keys.shared)).some((name) => name.startsWith("notion__")))
        const executed = yield* request(`${url}/v1/mcp/execute`, "POST", keys.carol, {
          tool_name: "notion__connect"
        })
        assert.strictEqual(executed.status, 200, JSON.stringify(executed.json))
        assert.include(String(executed.json.content), `${url}/connections`)

        const chat = yield* request(`${url}/v1/chat/completions`, "POST", keys.carol, {
          model: "m",
          messages: [{ role: "user", content: "what is on my notion?" }],
          execute_mcp_tools: true
        })
        assert.strictEqual(chat.status, 200, JSON.stringify(chat.json))
        const events = (
          chat.json.mcp_tool_events as ReadonlyArray<{ status: string; result?: string }>
        ).filter((event) => event.status !== "started")
        assert.strictEqual(events.length, 1, JSON.stringify(events))
        assert.include(events[0]?.result ?? "", `${url}/connections`)
      }).pipe(Effect.scoped),
    60_000
  )
})
