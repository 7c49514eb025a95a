/**
 * The tools a model is offered and runs, as the caller
 * (docs/teams.md#per-user-tool-calls): the caller's view of the tools
 * (CallerTools.ts), so the tool loops of `/v1/chat/completions` and
 * `/v1/responses` offer what `/mcp` lists for the same caller. A user's call to
 * a per-user server they have not connected comes back as a failed call that
 * names `<publicUrl>/connections`, so the model can tell them where to go.
 */
import { Effect, Layer } from "effect"
import {
  asArguments,
  definitionOf,
  ModelTools,
  type ModelToolsShape,
  modelToolError,
  outcomeOf,
  ToolCallFailed
} from "../openai/ModelTools.ts"
import { CurrentPrincipal } from "../security/Security.ts"
import { CallerTools } from "./CallerTools.ts"

const make = Effect.gen(function* () {
  const shared = yield* ModelTools
  const caller = yield* CallerTools
  return ModelTools.of({
    tools: Effect.flatMap(CurrentPrincipal, (principal) =>
      Effect.map(caller.tools(principal), (tools) => tools.map(definitionOf))
    ),
    servers: shared.servers,
    call: (name, args) =>
      Effect.flatMap(CurrentPrincipal, (principal) =>
        caller.call(principal, name, asArguments(args)).pipe(
          Effect.map(outcomeOf),
          Effect.mapError((error) =>
            // A per-user server's "not connected" is the user's to fix at /connections, not `mcpgate login`.
            error.reason === "needs_auth" && caller.isUserServer(error.server)
              ? new ToolCallFailed({ name, message: error.message })
              : modelToolError(name, error)
          )
        )
      )
  } satisfies ModelToolsShape)
})

/** `ModelTools` as the caller; needs the gateway's `ModelTools` (for `servers`, e.g. `ModelTools.layerMcp`) and `CallerTools`. */
export const layer: Layer.Layer<ModelTools, never, ModelTools | CallerTools> = Layer.effect(ModelTools, make)
