/**
 * The tools a model is offered and runs, as the caller
 * (docs/teams.md#per-user-tool-calls): the gateway's own servers' tools for
 * everyone, plus, for a user, the tools of the `identity: "user"` servers they
 * connected, run on their own connections (`UserTools`). A user's call to a
 * per-user server they have not connected comes back as a failed call that
 * names `<publicUrl>/connections`, so the model can tell them where to go.
 */
import { Effect, Layer, Option } from "effect"
import { isJsonObject } from "../openai/ChatFormat.ts"
import {
  ModelTools,
  type ModelToolsShape,
  ToolCallFailed,
  type ToolDefinition
} from "../openai/ModelTools.ts"
import { CurrentPrincipal, Security } from "../security/Security.ts"
import { UserTools } from "./UserTools.ts"

const definitionOf = ({
  publicName,
  server,
  tool
}: {
  readonly publicName: string
  readonly server: string
  readonly tool: {
    readonly name: string
    readonly description?: string | undefined
    readonly inputSchema: Readonly<Record<string, unknown>>
    readonly annotations?: Readonly<Record<string, unknown>> | undefined
  }
}): ToolDefinition => ({
  name: publicName,
  server,
  tool: tool.name,
  description: tool.description,
  parameters: tool.inputSchema,
  annotations: tool.annotations
})

const make = Effect.gen(function* () {
  const shared = yield* ModelTools
  const userTools = yield* UserTools
  // The gateway's own Security knows its public address; an app that mounts only the
  // OpenAI routes (without Security) has no per-user servers to point at.
  const security = yield* Effect.serviceOption(Security)
  const connectHint = Option.match(security, {
    onNone: () => "connect your account on the gateway's /connections page",
    onSome: ({ baseUrl }) => `connect your account at ${baseUrl}/connections`
  })
  const sharedTools = Effect.map(shared.tools, (tools) =>
    tools.filter((tool) => !userTools.isUserServer(tool.server))
  )
  return ModelTools.of({
    tools: Effect.gen(function* () {
      const principal = yield* CurrentPrincipal
      const common = yield* sharedTools
      if (principal._tag !== "User") return common
      const own = yield* userTools.withManager(principal.id, (manager) => manager.tools)
      return [...common, ...own.map(definitionOf)]
    }),
    servers: shared.servers,
    call: (name, args) =>
      Effect.gen(function* () {
        const principal = yield* CurrentPrincipal
        if ((yield* sharedTools).some((tool) => tool.name === name) || principal._tag !== "User") {
          return yield* shared.call(name, args)
        }
        return yield* userTools.withManager(principal.id, (manager) =>
          Effect.gen(function* () {
            if (!(yield* manager.tools).some((tool) => tool.publicName === name)) {
              const waiting = (yield* manager.status).filter((server) => server.state === "needs_auth")
              if (waiting.length > 0) {
                return yield* new ToolCallFailed({
                  name,
                  message: `${waiting.map((server) => `"${server.name}"`).join(", ")} ${waiting.length === 1 ? "is" : "are"} not connected for ${principal.id}: ${connectHint}`
                })
              }
              return yield* shared.call(name, args)
            }
            return yield* manager.call(name, isJsonObject(args) ? args : {}).pipe(
              Effect.map((result) => ({
                text: result.text,
                isError: result.isError,
                ...(result.structuredContent === undefined
                  ? {}
                  : { structuredContent: result.structuredContent })
              })),
              Effect.mapError(
                (error) =>
                  new ToolCallFailed({
                    name,
                    message:
                      error.reason === "needs_auth" ? `${error.message}: ${connectHint}` : error.message
                  })
              )
            )
          })
        )
      })
  } satisfies ModelToolsShape)
})

/** `ModelTools` as the caller; needs the gateway's `ModelTools` (e.g. `ModelTools.layerMcp`) and `UserTools` (and `Security`, when there, for the /connections URL). */
export const layer: Layer.Layer<ModelTools, never, ModelTools | UserTools> = Layer.effect(ModelTools, make)
