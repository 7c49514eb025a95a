/**
 * `@modelcontextprotocol/server-everything` (stdio) behind `/mcp/<server>`, driven
 * by the SDK client (which answers sampling and elicitation itself) and by the
 * official MCP Inspector CLI, through the gateway's API-key middleware.
 */
import { assert, describe, it } from "@effect/vitest"
import { everythingPath } from "@mcpgate/testing/Configs"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  type Progress
} from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"
import * as McpGateway from "./support/McpGateway.ts"
import { runInspector } from "./support/McpInspector.ts"

const apiKey = "sk-test-key-for-the-relay"

const setup = McpGateway.start({
  servers: [McpGateway.server("everything", { command: process.execPath, args: [everythingPath] })],
  apiKeys: [apiKey]
})

const connect = (gateway: McpGateway.McpGateway) =>
  Effect.acquireRelease(
    McpGateway.promise(async () => {
      const client = new Client(
        { name: "everything-test", version: "1.0.0" },
        { capabilities: { sampling: {}, elicitation: { form: {} } } }
      )
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        role: "assistant",
        model: "client-model",
        content: { type: "text", text: "sampled by the client" }
      }))
      client.setRequestHandler(ElicitRequestSchema, async () => ({
        action: "accept",
        content: { name: "Ada Lovelace", check: true }
      }))
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/everything`), {
          requestInit: { headers: { authorization: `Bearer ${apiKey}` } }
        })
      )
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

const texts = (result: object): string => JSON.stringify("content" in result ? result.content : [])

describe("server-everything behind /mcp/<server>", () => {
  it.live(
    "reads resources, gets prompts, relays sampling, elicitation, progress and a cancel",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        const client = yield* connect(gateway)
        const doc = yield* McpGateway.promise(() =>
          client.readResource({ uri: "demo://resource/static/document/features.md" })
        )
        assert.include(JSON.stringify(doc.contents), "features.md")
        const prompt = yield* McpGateway.promise(() =>
          client.getPrompt({ name: "args-prompt", arguments: { city: "Paris" } })
        )
        assert.include(JSON.stringify(prompt.messages), "What's weather in Paris")

        const sampled = yield* McpGateway.promise(() =>
          client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hello" } })
        )
        assert.include(texts(sampled), "sampled by the client")
        const elicited = yield* McpGateway.promise(() =>
          client.callTool({ name: "trigger-elicitation-request", arguments: {} })
        )
        assert.include(texts(elicited), "Name: Ada Lovelace")

        const progress: Array<Progress> = []
        const done = yield* McpGateway.promise(() =>
          client.callTool(
            { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
            CallToolResultSchema,
            { onprogress: (update) => progress.push(update) }
          )
        )
        assert.include(texts(done), "Long running operation completed")
        assert.deepStrictEqual(
          progress.map((update) => [update.progress, update.total]),
          [
            [1, 3],
            [2, 3],
            [3, 3]
          ]
        )

        // A cancel after the first progress: the client's call ends at once, and the session goes on.
        const controller = new AbortController()
        const cancelled = yield* McpGateway.promise(() =>
          client
            .callTool(
              { name: "trigger-long-running-operation", arguments: { duration: 20, steps: 20 } },
              CallToolResultSchema,
              { signal: controller.signal, onprogress: () => controller.abort("enough") }
            )
            .then(
              () => "completed",
              () => "cancelled"
            )
        )
        assert.strictEqual(cancelled, "cancelled")
        const echo = yield* McpGateway.promise(() =>
          client.callTool({ name: "echo", arguments: { message: "still here" } })
        )
        assert.include(texts(echo), "still here")
      }),
    60_000
  )

  it.live(
    "the MCP Inspector CLI lists and reads resources and gets prompts",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        const url = `${gateway.url}/mcp/everything`
        const common = [
          "--transport",
          "http",
          "--header",
          `Authorization: Bearer ${apiKey}`,
          "--format",
          "json"
        ]
        const [resources, read, prompt] = yield* Effect.all(
          [
            runInspector(url, [...common, "--method", "resources/list"]),
            runInspector(url, [
              ...common,
              "--method",
              "resources/read",
              "--uri",
              "demo://resource/static/document/features.md"
            ]),
            runInspector(url, [
              ...common,
              "--method",
              "prompts/get",
              "--prompt-name",
              "args-prompt",
              "--prompt-args",
              "city=Oslo"
            ])
          ],
          { concurrency: "unbounded" }
        )
        assert.strictEqual(resources.code, 0, resources.stderr)
        assert.include(resources.stdout, "demo://resource/static/document/features.md")
        assert.strictEqual(read.code, 0, read.stderr)
        assert.include(read.stdout, "features.md")
        assert.strictEqual(prompt.code, 0, prompt.stderr)
        assert.include(prompt.stdout, "What's weather in Oslo")
      }),
    60_000
  )
})
