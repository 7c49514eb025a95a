/**
 * Fuzzing the tool-name mapping end to end (docs/connections.md#tool-names): real MCP servers over
 * HTTP list made-up tool names (separators, `__` runs, non-ASCII, very long,
 * names that collide once made safe, the same name on several servers) under
 * made-up server names; through the client manager every exposed name is
 * OpenAI-safe and distinct, and calling it reaches exactly that server's tool.
 * ToolNames.test.ts checks the table alone; this checks the route through it.
 *
 * Fixed seed and bounded runs in the normal suite; a longer run on demand:
 *   FUZZ_RUNS=2000 node_modules/.bin/vitest run --config vitest.workspace.ts packages/transport/test/FuzzToolNames.test.ts
 */
import { assert, describe, it } from "@effect/vitest"
import * as ToolNames from "@mcpgate/core/ToolNames"
import * as Configs from "@mcpgate/testing/Configs"
import { Effect, Exit } from "effect"
import * as fc from "fast-check"
import { AuthorizedFetch } from "../src/AuthorizedFetch.ts"
import { make as makeManager } from "../src/McpClientManager.ts"
import * as FaultToolServer from "./support/FaultToolServer.ts"

const longRun = process.env.FUZZ_RUNS !== undefined
const params = (normal: number) => ({
  seed: Number(process.env.FUZZ_SEED ?? 20_260_704),
  numRuns: longRun ? Number(process.env.FUZZ_RUNS) : normal
})
const timeout = longRun ? 24 * 60 * 60_000 : 20_000

const part = fc.oneof(
  fc.constantFrom(
    "search",
    "a__b",
    "_",
    "__",
    "do.it",
    "my tool",
    "日本語",
    "🔎",
    "x-y",
    "a_",
    "_a",
    "a".repeat(80)
  ),
  fc.string({
    unit: fc.constantFrom("a", "b", "_", "-", ".", " ", "é", "検", "😀", "/"),
    minLength: 1,
    maxLength: 10
  }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 })
)
const toolList = fc.uniqueArray(part, { minLength: 1, maxLength: 6 })
const serverName = fc.oneof(
  fc.constantFrom("notion", "my server", "my.server", "my_server", "a__b", "ünï", "x".repeat(70)),
  fc.string({ unit: fc.constantFrom("a", "_", ".", " ", "-", "ß"), minLength: 1, maxLength: 8 })
)
const servers = fc.uniqueArray(fc.record({ name: serverName, tools: toolList }), {
  minLength: 1,
  maxLength: 3,
  selector: (server) => server.name
})

describe("fuzzing tool names through the client manager", () => {
  it.live(
    "every exposed name is OpenAI-safe and distinct, and reaches exactly its own server's tool",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(servers, async (generated) => {
            const host = await FaultToolServer.start(generated.map((server) => server.tools))
            try {
              const config = Configs.gateway(
                generated.map((server, index) =>
                  Configs.server(server.name, { transport: "streamable-http", url: host.urls[index] ?? "" })
                )
              )
              const program = Effect.gen(function* () {
                const manager = yield* makeManager(config, { backoff: { initialMs: 50, maxMs: 200 } })
                const statuses = yield* manager.awaitStatus((all) =>
                  all.every((s) => s.state === "connected")
                )
                assert.strictEqual(statuses.length, generated.length)
                const tools = yield* manager.tools
                const expected = generated.flatMap((server) =>
                  server.tools.map((tool) => [server.name, tool])
                )
                assert.sameDeepMembers(
                  tools.map((tool) => [tool.server, tool.tool.name]),
                  expected,
                  "every tool of every server is exposed"
                )
                const names = tools.map((tool) => tool.publicName)
                for (const name of names) assert.match(name, ToolNames.pattern)
                assert.strictEqual(new Set(names).size, names.length, `distinct: ${names.join(", ")}`)
                for (const tool of tools) {
                  const result = yield* manager.call(tool.publicName, {})
                  const index = generated.findIndex((server) => server.name === tool.server)
                  assert.strictEqual(result.text, JSON.stringify({ server: index, tool: tool.tool.name }))
                }
                // A name that is not in the table is refused, never guessed from its parts.
                const unknown = yield* Effect.exit(manager.call(`${names[0] ?? "x"}_not_there`, {}))
                assert.isTrue(Exit.isFailure(unknown))
              }).pipe(Effect.provide(AuthorizedFetch.layer), Effect.scoped, Effect.timeout("10 seconds"))
              await Effect.runPromise(program)
            } finally {
              await host.close()
            }
          }),
          params(40)
        )
      ),
    timeout
  )
})
