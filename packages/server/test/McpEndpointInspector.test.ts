/**
 * `/mcp` as a third-party client sees it: the official MCP Inspector CLI, run as a
 * child process, through the gateway's API-key middleware.
 */
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { Effect } from "effect"
import { mcpBackend } from "./support/McpBackend.ts"
import * as McpGateway from "./support/McpGateway.ts"
import { runInspector } from "./support/McpInspector.ts"

const apiKey = "sk-test-key-for-the-mcp-endpoint"

const setup = Effect.gen(function* () {
  const backend = yield* mcpBackend
  return yield* McpGateway.start({
    servers: [
      McpGateway.server("a", { command: process.execPath, args: [stdioTestServerPath] }),
      McpGateway.server("b", { url: backend.url, transport: "streamable-http" })
    ],
    apiKeys: [apiKey]
  })
})

interface ToolsListOutput {
  readonly result: {
    readonly tools: ReadonlyArray<{ readonly name: string; readonly outputSchema?: unknown }>
  }
}

interface ToolsCallOutput {
  readonly result: {
    readonly content: ReadonlyArray<{ readonly type: string; readonly text?: string }>
    readonly structuredContent?: unknown
    readonly isError?: boolean
  }
}

const withKey = ["--transport", "http", "--header", `Authorization: Bearer ${apiKey}`, "--format", "json"]

describe("McpEndpoint with the MCP Inspector CLI", () => {
  it.live(
    "lists and calls the aggregated tools",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        const list = yield* runInspector(gateway.mcpUrl, [...withKey, "--method", "tools/list"])
        assert.strictEqual(list.code, 0, list.stderr)
        const listed = JSON.parse(list.stdout) as ToolsListOutput
        const names = listed.result.tools.map((tool) => tool.name)
        assert.includeMembers(names, ["a__echo", "b__add", "b__divide"])
        assert.deepStrictEqual(listed.result.tools.find((tool) => tool.name === "b__add")?.outputSchema, {
          type: "object",
          properties: { sum: { type: "number" } },
          required: ["sum"]
        })

        const [sum, divide] = yield* Effect.all(
          [
            runInspector(gateway.mcpUrl, [
              ...withKey,
              "--method",
              "tools/call",
              "--tool-name",
              "b__add",
              "--tool-arg",
              "a=2",
              "b=3"
            ]),
            runInspector(gateway.mcpUrl, [
              ...withKey,
              "--method",
              "tools/call",
              "--tool-name",
              "b__divide",
              "--tool-arg",
              "a=1",
              "b=0"
            ])
          ],
          { concurrency: "unbounded" }
        )
        assert.strictEqual(sum.code, 0, sum.stderr)
        assert.deepStrictEqual((JSON.parse(sum.stdout) as ToolsCallOutput).result, {
          content: [{ type: "text", text: "5" }],
          structuredContent: { sum: 5 }
        })
        // The inspector prints the result and exits non-zero for an `isError` result.
        assert.notStrictEqual(divide.code, 0)
        assert.deepStrictEqual((JSON.parse(divide.stdout) as ToolsCallOutput).result, {
          content: [{ type: "text", text: "cannot divide by zero" }],
          isError: true
        })
      }),
    30_000
  )

  it.live(
    "without the API key nothing gets through",
    () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        const raw = yield* McpGateway.request(gateway, {
          method: "POST",
          body: JSON.stringify(McpGateway.initializeMessage)
        })
        assert.strictEqual(raw.status, 401)
        assert.include(raw.headers.get("www-authenticate") ?? "", "Bearer")
        const wrongKey = yield* McpGateway.request(gateway, {
          method: "POST",
          body: JSON.stringify(McpGateway.initializeMessage),
          headers: { authorization: "Bearer not-the-key" }
        })
        assert.strictEqual(wrongKey.status, 401)
        assert.deepStrictEqual(yield* gateway.endpoint.sessions, [])

        const list = yield* runInspector(gateway.mcpUrl, [
          "--transport",
          "http",
          "--format",
          "json",
          "--stored-auth-only",
          "--method",
          "tools/list"
        ])
        // Exit code 3 is the inspector's "authorization required"; it quotes the gateway's 401 body.
        assert.strictEqual(list.code, 3, list.stderr)
        assert.include(list.stderr, "an API key is required")
        assert.notInclude(list.stdout, "b__add")
        assert.deepStrictEqual(yield* gateway.endpoint.sessions, [])
      }),
    30_000
  )
})
