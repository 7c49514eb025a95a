/**
 * The chat ↔ tools loop behind `"execute_mcp_tools": true` (docs/gateway.md#tool-loop).
 *
 * The MCP tools are offered next to the client's own (the client's win on a
 * name clash). Each model turn whose calls are all MCP tools is one round: its
 * calls run concurrently (bounded), the assistant message and one `tool`
 * message per call are appended, and the model is asked again. After
 * `maxToolCalls` rounds the model is asked once more with `tool_choice: "none"`
 * so that it answers in text.
 *
 * A turn that calls any tool the gateway does not run (a client tool) ends the
 * loop and goes back to the client whole, as a standard `tool_calls` answer,
 * MCP calls of that turn included and not run: running only some would leave
 * the conversation the client holds without the assistant message those results
 * belong to. When the client sends the conversation back with its own results,
 * the MCP calls of that last turn still lack theirs: the loop runs them first
 * (`resumePending`), so the model sees a complete turn.
 *
 * Here the service and the non-streamed loop; the streamed one is
 * ./ToolLoopStream.ts, the rounds ./LoopConversation.ts, the calls ./ToolCalls.ts.
 */
import type { Scope, Stream } from "effect"
import { Context, Effect, Layer } from "effect"
import { addUsage, firstChoice, isJsonObject, type JsonObject, toolCallsOf } from "./ChatFormat.ts"
import {
  assistantMessage,
  bodyFor,
  type LoopContext,
  prepare,
  resumePending,
  runRound
} from "./LoopConversation.ts"
import { ModelTools } from "./ModelTools.ts"
import type { Emit, ToolCallEvent } from "./ToolCalls.ts"
import * as ToolLoopStream from "./ToolLoopStream.ts"
import { Upstream, type UpstreamError, type UpstreamShape } from "./Upstream.ts"

export type { ToolCallEvent } from "./ToolCalls.ts"

export interface ToolLoopOptions {
  /** Rounds (model turns with MCP calls) before the final `tool_choice: "none"` call. */
  readonly maxToolCalls: number
  /** At most this many calls of one turn run at a time (default 8). */
  readonly concurrency?: number
}

export interface ToolLoopShape {
  /** Non-streaming: the final completion plus `mcp_tool_events`, `usage` summed over rounds. */
  readonly complete: (request: JsonObject) => Effect.Effect<JsonObject, UpstreamError>
  /**
   * Streaming: succeeds once the first model turn has started (so that an
   * upstream error can still be answered with its own status), then yields the
   * SSE bytes for the client. A later upstream failure becomes an SSE `error` event.
   */
  readonly stream: (
    request: JsonObject
  ) => Effect.Effect<Stream.Stream<Uint8Array>, UpstreamError, Scope.Scope>
}

/** A chat answer whose tool calls are dropped: the model called tools after `tool_choice: "none"`. */
const withoutToolCalls = (completion: JsonObject): JsonObject => {
  if (!Array.isArray(completion.choices)) return completion
  return {
    ...completion,
    choices: completion.choices.map((choice: unknown) => {
      if (!isJsonObject(choice) || !isJsonObject(choice.message)) return choice
      const { tool_calls: _dropped, ...message } = choice.message
      return { ...choice, message, finish_reason: "stop" }
    })
  }
}

/** The non-streamed loop: rounds until the model answers without MCP calls. */
export const complete = Effect.fnUntraced(function* (
  ctx: LoopContext,
  upstream: UpstreamShape,
  request: JsonObject
) {
  const conversation = yield* prepare(ctx, request)
  const events: Array<ToolCallEvent> = []
  const emit: Emit = (event) => Effect.sync(() => events.push(event))
  yield* resumePending(ctx, conversation, emit)
  let usage: unknown
  for (let round = 0; ; round++) {
    const completion = yield* upstream.chat(bodyFor(ctx, conversation, round))
    usage = addUsage(usage, completion.usage)
    const finished = (answer: JsonObject): JsonObject => ({
      ...answer,
      ...(usage === undefined ? {} : { usage }),
      mcp_tool_events: events
    })
    const message = firstChoice(completion)?.message
    const calls = toolCallsOf(message, (index) => conversation.makeId(round, index))
    if (calls.length === 0 || calls.some((call) => !conversation.mcpNames.has(call.name))) {
      return finished(completion)
    }
    if (round >= ctx.maxRounds) return finished(withoutToolCalls(completion))
    const fields = isJsonObject(message) ? message : {}
    yield* runRound(
      ctx,
      conversation,
      assistantMessage(fields.content, calls, fields.reasoning_content),
      calls,
      emit
    )
  }
})

export const make = Effect.fnUntraced(function* (options: ToolLoopOptions) {
  const upstream = yield* Upstream
  const ctx: LoopContext = {
    tools: yield* ModelTools,
    maxRounds: Math.max(0, options.maxToolCalls),
    concurrency: Math.max(1, options.concurrency ?? 8)
  }
  return ToolLoop.of({
    complete: Effect.fn("ToolLoop.complete")((request) => complete(ctx, upstream, request)),
    stream: Effect.fn("ToolLoop.stream")((request) => ToolLoopStream.stream(ctx, upstream, request))
  })
})

export class ToolLoop extends Context.Service<ToolLoop, ToolLoopShape>()("@mcpgate/server/ToolLoop") {
  static readonly layer = (options: ToolLoopOptions): Layer.Layer<ToolLoop, never, Upstream | ModelTools> =>
    Layer.effect(ToolLoop, make(options))
}
