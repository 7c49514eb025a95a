/**
 * The model ↔ tools loop (docs/gateway.md#tool-loop), one for every API: chat
 * completions with `"execute_mcp_tools": true` or `mcp` tools, and the
 * Responses API, which is translated to chat messages and back around it.
 *
 * The request's MCP tools are offered next to the client's own (the client's
 * win on a name clash). Each model turn whose calls are all MCP tools is one
 * round: its calls run concurrently (bounded), the assistant message and one
 * `tool` message per call are appended, and the model is asked again. After
 * `maxToolCalls` rounds the model is asked once more with `tool_choice: "none"`
 * so that it answers in text.
 *
 * A turn that calls a client tool ends the loop. Its MCP calls, if any, run
 * first and wait server-side with the whole turn (./PendingTurns.ts); the
 * client gets only its own calls, as a standard `tool_calls` answer, and when
 * the conversation comes back with its results the model sees the whole turn
 * (docs/gateway.md#mixed-turns).
 *
 * Here the service and the non-streamed loop; the streamed one is
 * ./ToolLoopStream.ts, the rounds ./LoopConversation.ts, the calls ./ToolCalls.ts.
 */
import type { Scope, Stream } from "effect"
import { Context, Duration, Effect, Layer } from "effect"
import {
  addUsage,
  firstChoice,
  isJsonObject,
  type JsonObject,
  type ToolCall,
  toOpenAiToolCalls,
  toolCallsOf
} from "./ChatFormat.ts"
import {
  assistantMessage,
  bodyFor,
  type LoopContext,
  prepare,
  resumePending,
  roundSpan,
  runMixedTurn,
  runRound
} from "./LoopConversation.ts"
import type { InvalidToolRequest } from "./McpToolSelection.ts"
import { ModelTools, type ToolDefinition } from "./ModelTools.ts"
import { PendingTurns } from "./PendingTurns.ts"
import type { Emit, ToolCallEvent } from "./ToolCalls.ts"
import * as ToolLoopStream from "./ToolLoopStream.ts"
import { Upstream, type UpstreamError, type UpstreamShape } from "./Upstream.ts"

export type { ToolCallEvent } from "./ToolCalls.ts"
export type { LoopItem } from "./ToolLoopStream.ts"

export interface ToolLoopOptions {
  /** Rounds (model turns with MCP calls) before the final `tool_choice: "none"` call. */
  readonly maxToolCalls: number
  /** At most this many calls of one turn run at a time (default 8). */
  readonly concurrency?: number | undefined
  /** Tools one request may offer (default 128). */
  readonly maxTools?: number | undefined
  /** `"auto"` (default): over `maxTools`, offer `builtin__search_tools`; `false`: refuse the request. */
  readonly toolSearch?: "auto" | false | undefined
  /** `maxToolResultChars` (default 100000), and per server. */
  readonly maxToolResultChars?: number | undefined
  readonly serverMaxToolResultChars?: Readonly<Record<string, number | undefined>> | undefined
  /** A streamed answer sends a comment at least this often while tools run (default 15 s). */
  readonly keepAlive?: Duration.Input | undefined
}

/** What a non-streamed loop produced. */
export interface LoopResult {
  /** The last completion; usage summed over every upstream call; a mixed turn's message has only the client's calls. */
  readonly completion: JsonObject
  readonly events: ReadonlyArray<ToolCallEvent>
  /** The whole conversation, this answer included (a mixed turn whole, with its MCP results). */
  readonly messages: ReadonlyArray<unknown>
  /** Where this request's part of `messages` starts. */
  readonly inputLength: number
  /** The MCP tools the request could run. */
  readonly tools: ReadonlyArray<ToolDefinition>
}

export type LoopError = UpstreamError | InvalidToolRequest

export interface ToolLoopShape {
  readonly complete: (request: JsonObject) => Effect.Effect<LoopResult, LoopError>
  /**
   * Streaming: succeeds once the first model turn has started (so that an
   * upstream error can still be answered with its own status), then yields the
   * loop's items; a later failure is a `Failed` item.
   */
  readonly stream: (
    request: JsonObject
  ) => Effect.Effect<Stream.Stream<ToolLoopStream.LoopItem>, LoopError, Scope.Scope>
}

/** A completion whose message carries `calls` as its tool calls (none: a plain answer). */
const withToolCalls = (completion: JsonObject, calls: ReadonlyArray<ToolCall>): JsonObject => {
  if (!Array.isArray(completion.choices)) return completion
  return {
    ...completion,
    choices: completion.choices.map((choice: unknown) => {
      if (!isJsonObject(choice) || !isJsonObject(choice.message)) return choice
      const { tool_calls: _replaced, ...message } = choice.message
      return calls.length === 0
        ? { ...choice, message, finish_reason: "stop" }
        : {
            ...choice,
            message: { ...message, tool_calls: toOpenAiToolCalls(calls) },
            finish_reason: "tool_calls"
          }
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
  const inputLength = conversation.messages.length
  let usage: unknown
  for (let round = 0; ; round++) {
    const completion = yield* upstream.chat(bodyFor(ctx, conversation, round))
    usage = addUsage(usage, completion.usage)
    const finished = (answer: JsonObject): LoopResult => ({
      completion: usage === undefined ? answer : { ...answer, usage },
      events,
      messages: conversation.messages,
      inputLength,
      tools: conversation.available
    })
    const message = firstChoice(completion)?.message
    const fields = isJsonObject(message) ? message : {}
    const calls = toolCallsOf(message, (index) => conversation.makeId(round, index))
    const full = assistantMessage(fields.content, calls, fields.reasoning_content)
    if (calls.length === 0 || round >= ctx.maxRounds) {
      // After `tool_choice: "none"`, calls the model makes anyway are dropped.
      conversation.messages.push(assistantMessage(fields.content, [], fields.reasoning_content))
      return finished(calls.length === 0 ? completion : withToolCalls(completion, []))
    }
    if (calls.some((call) => !conversation.mcpNames.has(call.name))) {
      if (!calls.some((call) => conversation.mcpNames.has(call.name))) {
        conversation.messages.push(full)
        return finished(completion)
      }
      return finished(withToolCalls(completion, yield* runMixedTurn(ctx, conversation, full, calls, emit)))
    }
    yield* runRound(ctx, conversation, full, calls, emit).pipe(roundSpan(round, calls.length))
  }
})

/** The loop's context for the options (defaults filled in). */
export const context = (
  options: ToolLoopOptions,
  tools: LoopContext["tools"],
  pending: LoopContext["pending"]
): LoopContext => {
  const limit = options.maxToolResultChars ?? 100_000
  return {
    tools,
    pending,
    maxRounds: Math.max(0, options.maxToolCalls),
    concurrency: Math.max(1, options.concurrency ?? 8),
    maxTools: Math.max(1, options.maxTools ?? 128),
    toolSearch: options.toolSearch !== false,
    resultLimit: (server) => options.serverMaxToolResultChars?.[server] ?? limit,
    keepAlive: options.keepAlive ?? Duration.seconds(15)
  }
}

export const make = Effect.fnUntraced(function* (options: ToolLoopOptions) {
  const upstream = yield* Upstream
  const ctx = context(options, yield* ModelTools, yield* PendingTurns)
  return ToolLoop.of({
    complete: Effect.fn("ToolLoop.complete")((request) => complete(ctx, upstream, request)),
    stream: Effect.fn("ToolLoop.stream")((request) => ToolLoopStream.stream(ctx, upstream, request))
  })
})

export class ToolLoop extends Context.Service<ToolLoop, ToolLoopShape>()("@mcpgate/server/ToolLoop") {
  /** With the mixed turns it waits on kept in memory (./PendingTurns.ts). */
  static readonly layer = (options: ToolLoopOptions): Layer.Layer<ToolLoop, never, Upstream | ModelTools> =>
    ToolLoop.layerWith(options).pipe(Layer.provide(PendingTurns.layerMemory()))

  static readonly layerWith = (
    options: ToolLoopOptions
  ): Layer.Layer<ToolLoop, never, Upstream | ModelTools | PendingTurns> =>
    Layer.effect(ToolLoop, make(options))
}
