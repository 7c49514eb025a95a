/**
 * The tool loop's `ToolExecutor` backed by the `McpClientManager`: the path a
 * model's tool call takes (SPEC §5 → §4).
 */
import { McpClientManager } from "@mcpgate/transport/McpClientManager"
import { Effect, Layer } from "effect"
import { ToolCallFailed, ToolExecutor, ToolNeedsLogin, ToolNotFound } from "./ToolExecutor.ts"

const asArguments = (args: unknown): Readonly<Record<string, unknown>> =>
  typeof args === "object" && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {}

export const layer: Layer.Layer<ToolExecutor, never, McpClientManager> = Layer.effect(
  ToolExecutor,
  Effect.gen(function* () {
    const manager = yield* McpClientManager
    return ToolExecutor.of({
      tools: Effect.map(manager.tools, (tools) =>
        tools.map(({ publicName, tool }) => ({
          name: publicName,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          parameters: tool.inputSchema
        }))
      ),
      call: (name, args) =>
        manager.call(name, asArguments(args)).pipe(
          Effect.map((result) => ({
            text: result.text,
            isError: result.isError,
            ...(result.structuredContent === undefined ? {} : { structuredContent: result.structuredContent })
          })),
          Effect.mapError((error) => {
            switch (error.reason) {
              case "unknown_tool":
                return new ToolNotFound({ name, message: error.message })
              case "needs_auth":
                return new ToolNeedsLogin({ name, server: error.server, message: error.message })
              default:
                return new ToolCallFailed({ name, message: error.message })
            }
          })
        )
    })
  })
)
