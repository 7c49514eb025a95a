/**
 * Part 1: mcpgate's MCP client manager in the host app, over a stdio server
 * the host chose (its own `src/local/EchoServer.ts`, started as a child
 * process). The manager connects, lists the tools (named `<server>__<tool>`)
 * and routes a call; its scope closes the connection and stops the process.
 */
import { fileURLToPath } from "node:url"
import { ConfigFile } from "@mcpgate/core"
import { AuthorizedFetch, McpClientManager } from "@mcpgate/transport"
import { Console, Effect, Layer } from "effect"

const echoServer = fileURLToPath(new URL("./local/EchoServer.ts", import.meta.url))

export const run = Effect.gen(function* () {
  // The same config mcpgate.json holds, validated with the same rules (errors name the path).
  const config = yield* ConfigFile.parse(
    JSON.stringify({ mcpServers: { echo: { command: process.execPath, args: [echoServer] } } }),
    "part 1 config"
  )
  const managerLayer = McpClientManager.McpClientManager.layer(config).pipe(
    Layer.provide(AuthorizedFetch.AuthorizedFetch.layer)
  )

  yield* Effect.gen(function* () {
    const manager = yield* McpClientManager.McpClientManager
    const [echo] = yield* manager.awaitSettled
    const tools = yield* manager.tools
    const result = yield* manager.call("echo__echo", { text: "hello from the host app" })
    yield* Console.log(
      `[1/3] client manager: ${echo?.name} is ${echo?.state}, tools ${tools.map((tool) => tool.publicName).join(", ")}; echo__echo answered "${result.text}"`
    )
  }).pipe(Effect.provide(managerLayer))
})
