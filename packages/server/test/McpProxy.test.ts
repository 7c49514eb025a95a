/**
 * `/mcp/<server>`: one server passed through whole, seen by an SDK client. The
 * server is our conformance test server over streamable HTTP (its state shows
 * what reached it), paged two items at a time so pagination is relayed too.
 */
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { conformanceServer } from "@mcpgate/testing/ConformanceServer"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  type Progress,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema
} from "@modelcontextprotocol/sdk/types.js"
import { Duration, Effect, Queue, type Scope } from "effect"
import * as McpGateway from "./support/McpGateway.ts"

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  effect.pipe(
    Effect.timeoutOrElse({
      duration: Duration.seconds(10),
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}`))
    })
  )

/** Polls a condition on what the test server recorded (it has no events to wait on). */
const until = (condition: () => boolean) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep(Duration.millis(20))
  })

const setup = (options: Omit<McpGateway.McpGatewayOptions, "servers"> = {}) =>
  Effect.gen(function* () {
    const upstream = yield* conformanceServer({ pageSize: 2 })
    const gateway = yield* McpGateway.start({
      servers: [
        McpGateway.server("conf", { url: upstream.url, transport: "streamable-http" }),
        McpGateway.server("local", { command: process.execPath, args: [stdioTestServerPath] })
      ],
      ...options
    })
    return { upstream, gateway }
  })

interface Connected {
  readonly client: Client
  readonly transport: StreamableHTTPClientTransport
  readonly updated: Queue.Queue<string>
  readonly toolsChanged: Queue.Queue<void>
}

/** An SDK client of `/mcp/<server>` that answers sampling and elicitation itself. */
const connect = (
  gateway: McpGateway.McpGateway,
  server: string,
  headers: Record<string, string> = {}
): Effect.Effect<Connected, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const updated = yield* Queue.unbounded<string>()
    const toolsChanged = yield* Queue.unbounded<void>()
    return yield* Effect.acquireRelease(
      McpGateway.promise(async () => {
        const client = new Client(
          { name: "relay-test", version: "1.0.0" },
          { capabilities: { sampling: {}, elicitation: { form: {} } } }
        )
        client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
          const first = request.params.messages[0]?.content
          const asked =
            first !== undefined && !Array.isArray(first) && first.type === "text" ? first.text : ""
          return {
            role: "assistant",
            model: "test-model",
            content: { type: "text", text: `the client's model read "${asked}"` }
          }
        })
        client.setRequestHandler(ElicitRequestSchema, async () => ({
          action: "accept",
          content: { username: "ada", email: "ada@example.com" }
        }))
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
          Queue.offerUnsafe(updated, notification.params.uri)
        })
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
          Queue.offerUnsafe(toolsChanged, undefined)
        })
        const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/${server}`), {
          requestInit: { headers }
        })
        await client.connect(transport)
        return { client, transport, updated, toolsChanged }
      }),
      ({ client }) => Effect.promise(() => client.close())
    )
  })

describe("/mcp/<server>", () => {
  it.live(
    "relays the server's own names, resources, templates, prompts and completions, pages included",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const { client } = yield* connect(gateway, "conf")
        assert.strictEqual(client.getServerVersion()?.name, "mcpgate-conformance-server")
        assert.strictEqual(
          client.getInstructions(),
          "A server for the MCP conformance suite and mcpgate's relay tests."
        )
        // One page at a time, as the server gives them: the relay keeps its cursors.
        const first = yield* McpGateway.promise(() => client.listTools())
        assert.strictEqual(first.tools.length, 2)
        assert.strictEqual(first.nextCursor, "2")
        const names: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* McpGateway.promise(() =>
            client.listTools(cursor === undefined ? {} : { cursor })
          )
          names.push(...page.tools.map((tool) => tool.name))
          cursor = page.nextCursor
        } while (cursor !== undefined)
        assert.includeMembers(names, ["test_simple_text", "test_sampling", "test_slow"])

        const resources = yield* McpGateway.promise(() => client.listResources())
        assert.deepStrictEqual(
          resources.resources.map((resource) => resource.uri),
          ["test://static-text", "test://static-binary"]
        )
        const templates = yield* McpGateway.promise(() => client.listResourceTemplates())
        assert.strictEqual(templates.resourceTemplates[0]?.uriTemplate, "test://template/{id}/data")
        const read = yield* McpGateway.promise(() => client.readResource({ uri: "test://template/42/data" }))
        assert.include(JSON.stringify(read.contents), "Data for ID: 42")
        const missing = yield* Effect.flip(
          McpGateway.promise(() => client.readResource({ uri: "test://nothing-here" }))
        )
        assert.include(String(missing), "Resource not found")

        const prompt = yield* McpGateway.promise(() =>
          client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "x", arg2: "y" } })
        )
        assert.deepStrictEqual(prompt.messages[0]?.content, {
          type: "text",
          text: "Prompt with arguments: arg1='x', arg2='y'"
        })
        const completion = yield* McpGateway.promise(() =>
          client.complete({
            ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
            argument: { name: "arg1", value: "par" }
          })
        )
        assert.deepStrictEqual(completion.completion.values, ["paris", "park", "party"])
      }),
    60_000
  )

  it.live(
    "relays log levels and messages, progress, subscriptions, list changes, sampling and elicitation",
    () =>
      Effect.gen(function* () {
        const { gateway, upstream } = yield* setup()
        const connected = yield* connect(gateway, "conf")
        const { client } = connected
        const logs: Array<unknown> = []
        client.setNotificationHandler(
          (yield* Effect.promise(() => import("@modelcontextprotocol/sdk/types.js")))
            .LoggingMessageNotificationSchema,
          (notification) => {
            logs.push(notification.params.data)
          }
        )
        yield* McpGateway.promise(() => client.setLoggingLevel("info"))
        assert.deepStrictEqual(upstream.state.levels, ["info"])
        yield* McpGateway.promise(() => client.callTool({ name: "test_tool_with_logging", arguments: {} }))
        assert.deepStrictEqual(logs, [
          "Tool execution started",
          "Tool processing data",
          "Tool execution completed"
        ])

        const progress: Array<Progress> = []
        yield* McpGateway.promise(() =>
          client.callTool({ name: "test_tool_with_progress", arguments: {} }, CallToolResultSchema, {
            onprogress: (update) => progress.push(update)
          })
        )
        assert.deepStrictEqual(
          progress.map((update) => update.progress),
          [0, 50, 100]
        )

        yield* McpGateway.promise(() => client.subscribeResource({ uri: "test://watched-resource" }))
        yield* McpGateway.promise(() =>
          client.callTool({ name: "test_notify_resource", arguments: { uri: "test://watched-resource" } })
        )
        assert.strictEqual(
          yield* within(Queue.take(connected.updated), "resources/updated"),
          "test://watched-resource"
        )
        yield* McpGateway.promise(() => client.unsubscribeResource({ uri: "test://watched-resource" }))
        const after = yield* McpGateway.promise(() =>
          client.callTool({ name: "test_notify_resource", arguments: { uri: "test://watched-resource" } })
        )
        assert.include(JSON.stringify(after.content), "nobody subscribed")

        yield* McpGateway.promise(() =>
          client.callTool({ name: "test_add_tool", arguments: { name: "fresh" } })
        )
        yield* within(Queue.take(connected.toolsChanged), "tools/list_changed")

        const sampled = yield* McpGateway.promise(() =>
          client.callTool({ name: "test_sampling", arguments: { prompt: "what is 2+2?" } })
        )
        assert.deepStrictEqual(sampled.content, [
          { type: "text", text: `LLM response: the client's model read "what is 2+2?"` }
        ])
        const elicited = yield* McpGateway.promise(() =>
          client.callTool({ name: "test_elicitation", arguments: { message: "who are you?" } })
        )
        assert.deepStrictEqual(elicited.content, [
          {
            type: "text",
            text: `User response: action=accept, content={"username":"ada","email":"ada@example.com"}`
          }
        ])
      }),
    60_000
  )

  it.live(
    "a call the client cancels is cancelled at the server",
    () =>
      Effect.gen(function* () {
        const { gateway, upstream } = yield* setup()
        const { client } = yield* connect(gateway, "conf")
        const controller = new AbortController()
        const call = client
          .callTool({ name: "test_slow", arguments: { ms: 30_000 } }, CallToolResultSchema, {
            signal: controller.signal
          })
          .catch((error: unknown) => error)
        yield* within(
          until(() => upstream.state.slowStarted.length === 1),
          "the call at the server"
        )
        controller.abort("changed my mind")
        yield* Effect.promise(() => call)
        yield* within(
          until(() => upstream.state.cancelled.length > 0),
          "the cancellation at the server"
        )
        assert.strictEqual(upstream.state.cancelled.length, 1)
      }),
    30_000
  )

  it.live(
    "follows the API-key rules of /mcp, keeps sessions to their own path and says which server is unknown",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ apiKeys: ["key-one", "key-two"] })
        const noKey = yield* McpGateway.promise(() =>
          fetch(`${gateway.url}/mcp/conf`, {
            method: "POST",
            headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
            body: JSON.stringify(McpGateway.initializeMessage)
          })
        )
        assert.strictEqual(noKey.status, 401)
        const connected = yield* connect(gateway, "conf", { authorization: "Bearer key-one" })
        const sessionId = connected.transport.sessionId ?? ""
        assert.notStrictEqual(sessionId, "")
        const at = (path: string, key: string) =>
          McpGateway.promise(() =>
            fetch(`${gateway.url}${path}`, {
              method: "POST",
              headers: {
                "content-type": "application/json",
                accept: "application/json, text/event-stream",
                authorization: `Bearer ${key}`,
                "mcp-session-id": sessionId,
                "mcp-protocol-version": "2025-11-25"
              },
              body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" })
            }).then((response) => response.status)
          )
        assert.strictEqual(yield* at("/mcp/conf", "key-two"), 404)
        assert.strictEqual(yield* at("/mcp", "key-one"), 404)
        assert.strictEqual(yield* at("/mcp/local", "key-one"), 404)
        assert.strictEqual(yield* at("/mcp/conf", "key-one"), 200)
        const unknown = yield* McpGateway.promise(() =>
          fetch(`${gateway.url}/mcp/nope`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              authorization: "Bearer key-one"
            },
            body: JSON.stringify(McpGateway.initializeMessage)
          }).then(async (response) => ({ status: response.status, text: await response.text() }))
        )
        assert.strictEqual(unknown.status, 404)
        assert.include(JSON.parse(unknown.text).error.message, `no server named "nope"`)
        const sessions = yield* gateway.endpoint.sessions
        assert.deepStrictEqual(
          sessions.map((session) => [session.server, session.clientInfo?.name]),
          [["conf", "relay-test"]]
        )
      }),
    60_000
  )

  it.live(
    "a session the server forgot ends at the gateway too, so the client initializes again",
    () =>
      Effect.gen(function* () {
        const { gateway, upstream } = yield* setup()
        const { client, transport } = yield* connect(gateway, "conf")
        const sessionId = transport.sessionId ?? ""
        // The server drops every session (a restart would): its next answer to the gateway is a 404.
        yield* Effect.promise(() => Promise.all(upstream.servers().map((server) => server.close())))
        // The gateway ends the session at once: the request itself is answered 404, as the server would.
        const failed = yield* Effect.flip(McpGateway.promise(() => client.listTools()))
        assert.include(String(failed), "Session not found")
        yield* within(
          until(() => false).pipe(
            Effect.raceFirst(
              gateway.endpoint.awaitSessions((sessions) =>
                sessions.every((session) => session.id !== sessionId)
              )
            )
          ),
          "the session to end"
        )
        const status = yield* McpGateway.promise(() =>
          fetch(`${gateway.url}/mcp/conf`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              "mcp-session-id": sessionId,
              "mcp-protocol-version": "2025-11-25"
            },
            body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" })
          }).then((response) => response.status)
        )
        assert.strictEqual(status, 404)
      }),
    30_000
  )

  it.live(
    "relays a stdio server too",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const { client } = yield* connect(gateway, "local")
        const { tools } = yield* McpGateway.promise(() => client.listTools())
        assert.include(
          tools.map((tool) => tool.name),
          "echo"
        )
        const result = yield* McpGateway.promise(() =>
          client.callTool({ name: "echo", arguments: { text: "through" } })
        )
        assert.include(JSON.stringify(result.content), "through")
      }),
    30_000
  )
})
