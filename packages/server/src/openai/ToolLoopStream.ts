/**
 * The streamed tool loop (docs/gateway.md#tool-call-events), as a stream of
 * `LoopItem`s that each API renders its own way (./ChatStream.ts for chat
 * completions, ./ResponsesStream.ts for the Responses API).
 *
 * The upstream's chunks are passed on as they come, except what would mislead
 * the client: MCP tool-call deltas (it would think it must run them),
 * intermediate `finish_reason`s (exactly one reaches it) and per-call usage
 * (the last usage of each upstream call is counted once, into `Done`). Each
 * call adds `ToolEvent`s; while calls run, `KeepAlive`s. An upstream stream
 * that ends with neither `[DONE]` nor a `finish_reason` is a failure, not an
 * end. Interruption (the client went away) aborts the upstream request in
 * flight and interrupts the running calls.
 */
import type { Cause, Scope } from "effect"
import { Effect, Predicate, Queue, Schedule, Stream } from "effect"
import { addUsage, firstChoice, isJsonObject, type JsonObject, type ToolCall } from "./ChatFormat.ts"
import {
  assistantMessage,
  bodyFor,
  type Conversation,
  type LoopContext,
  prepare,
  resumePending,
  roundSpan,
  runMixedTurn,
  runRound
} from "./LoopConversation.ts"
import type { ToolDefinition } from "./ModelTools.ts"
import { type Emit, parseJson, type ToolCallEvent } from "./ToolCalls.ts"
import type { UpstreamError, UpstreamShape, UpstreamUnreachable } from "./Upstream.ts"
import * as UpstreamErrorBody from "./UpstreamErrorBody.ts"

/** One step of a streamed loop, before an API renders it. */
export type LoopItem =
  /** First: the MCP tools this request may run. */
  | { readonly _tag: "Started"; readonly tools: ReadonlyArray<ToolDefinition> }
  /** An upstream chunk to pass on; `raw` is its text when it was not changed. */
  | { readonly _tag: "Chunk"; readonly chunk: JsonObject; readonly raw: string | undefined }
  /** Upstream data that is not a JSON object, passed on as it is. */
  | { readonly _tag: "Data"; readonly data: string }
  | { readonly _tag: "ToolEvent"; readonly event: ToolCallEvent }
  /** The answer's end when the upstream's last chunk had no `finish_reason`. */
  | { readonly _tag: "Finish"; readonly reason: string }
  /** The calls of the last turn that are the client's to run (a `tool_calls` answer). */
  | { readonly _tag: "ClientCalls"; readonly calls: ReadonlyArray<ToolCall> }
  | { readonly _tag: "KeepAlive" }
  /** The end: usage summed over upstream calls, the whole conversation, where this request's part starts. */
  | {
      readonly _tag: "Done"
      readonly usage: unknown
      readonly messages: ReadonlyArray<unknown>
      readonly inputLength: number
    }
  /** The end after a failure; `error` in OpenAI's `{message, type, code}` form. */
  | { readonly _tag: "Failed"; readonly error: unknown }

const hasContent = (delta: JsonObject): boolean =>
  Object.entries(delta).some(
    ([key, value]) => key !== "role" && value !== null && value !== undefined && value !== ""
  )

interface StreamedCall {
  id: string
  name: string
  arguments: string
}

/** What one streamed model turn said, read while its chunks were passed on. */
class RoundState {
  readonly calls = new Map<number, StreamedCall>()
  content = ""
  reasoning = ""
  /** The chunk with the `finish_reason`, kept until the turn's fate is known. */
  finish: { readonly raw: string; readonly chunk: JsonObject; readonly modified: boolean } | undefined
  /** The last usage this call reported (vLLM's `continuous_usage_stats` repeats it on every chunk). */
  usage: unknown
  sawDone = false
  failed = false

  addToolDeltas(parts: ReadonlyArray<unknown>): void {
    parts.forEach((part, position) => {
      if (!isJsonObject(part)) return
      const id = Predicate.isString(part.id) && part.id.length > 0 ? part.id : undefined
      let index = Predicate.isNumber(part.index) ? part.index : position
      const known = this.calls.get(index)
      // Without `index`, a new id means a new call.
      if (!Predicate.isNumber(part.index) && known !== undefined && id !== undefined && known.id !== id) {
        index = this.calls.size
      }
      const call = this.calls.get(index) ?? { id: "", name: "", arguments: "" }
      if (id !== undefined) call.id = id
      const fn = isJsonObject(part.function) ? part.function : {}
      // Most servers send the name once; some repeat it whole in every delta.
      if (Predicate.isString(fn.name) && fn.name !== call.name) call.name += fn.name
      if (Predicate.isString(fn.arguments)) call.arguments += fn.arguments
      this.calls.set(index, call)
    })
  }

  toolCalls(makeId: (index: number) => string): Array<ToolCall> {
    return [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => ({ id: call.id || makeId(index), name: call.name, arguments: call.arguments }))
  }
}

type Send = (item: LoopItem) => Effect.Effect<unknown>

/** Reads one upstream event, passing on what the client may see (module comment). */
const onData = (send: Send, state: RoundState, data: string): Effect.Effect<unknown> => {
  if (data === "[DONE]") {
    state.sawDone = true
    return Effect.void
  }
  const parsed = parseJson(data)
  if (!parsed.ok || !isJsonObject(parsed.value)) return send({ _tag: "Data", data })
  const chunk = parsed.value
  if (chunk.error !== undefined) {
    // OpenAI reports a failure inside a stream as an `error` event; pass it on and stop there.
    state.failed = true
    return send({ _tag: "Failed", error: chunk.error })
  }
  let modified = false
  if (isJsonObject(chunk.usage)) {
    state.usage = chunk.usage
    delete chunk.usage
    modified = true
  }
  const choice = firstChoice(chunk)
  // A usage-only chunk: its usage is counted into `Done`.
  if (choice === undefined) return modified ? Effect.void : send({ _tag: "Chunk", chunk, raw: data })
  const delta = isJsonObject(choice.delta) ? choice.delta : undefined
  let hadToolCalls = false
  if (delta !== undefined) {
    if (Predicate.isString(delta.content)) state.content += delta.content
    if (Predicate.isString(delta.reasoning_content)) state.reasoning += delta.reasoning_content
    if (Array.isArray(delta.tool_calls)) {
      state.addToolDeltas(delta.tool_calls)
      delete delta.tool_calls
      modified = true
      hadToolCalls = true
    }
  }
  if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
    state.finish = { raw: data, chunk, modified }
    return Effect.void
  }
  if (hadToolCalls && (delta === undefined || !hasContent(delta))) return Effect.void
  return send({ _tag: "Chunk", chunk, raw: modified ? undefined : data })
}

/** Sends the turn's finish chunk: as it came, with `force` as its reason, or made up when missing. */
const sendFinish = (send: Send, state: RoundState, fallback: string, force?: string) => {
  const held = state.finish
  if (held === undefined) return send({ _tag: "Finish", reason: force ?? fallback })
  if (force === undefined)
    return send({ _tag: "Chunk", chunk: held.chunk, raw: held.modified ? undefined : held.raw })
  const choice = firstChoice(held.chunk)
  if (choice !== undefined) choice.finish_reason = force
  return send({ _tag: "Chunk", chunk: held.chunk, raw: undefined })
}

/** An MCP round's finish is not the end: only its content, if any, goes on. */
const sendIntermediateFinish = (send: Send, state: RoundState) => {
  const held = state.finish
  const choice = held === undefined ? undefined : firstChoice(held.chunk)
  if (held === undefined || choice === undefined) return Effect.void
  if (!isJsonObject(choice.delta) || !hasContent(choice.delta)) return Effect.void
  choice.finish_reason = null
  return send({ _tag: "Chunk", chunk: held.chunk, raw: undefined })
}

/** Runs `effect`, sending a `KeepAlive` every `ctx.keepAlive` meanwhile (proxies cut idle streams). */
const withKeepAlive = <A, E>(ctx: LoopContext, send: Send, effect: Effect.Effect<A, E>) =>
  Effect.raceFirst(
    effect,
    Effect.andThen(
      Effect.repeat(
        Effect.andThen(Effect.sleep(ctx.keepAlive), send({ _tag: "KeepAlive" })),
        Schedule.forever
      ),
      Effect.never
    )
  )

const truncated = (upstream: UpstreamShape) => ({
  message: `the upstream ${upstream.baseUrl ?? ""} stream ended before the answer was complete (no finish_reason, no [DONE])`,
  type: "upstream_error",
  code: "upstream_stream_truncated"
})

type TurnStream = Effect.Effect<Stream.Stream<string, UpstreamUnreachable>, UpstreamError, Scope.Scope>

/** The rounds, until an answer, the client's calls or a failure; the usage summed once per upstream call. */
const runRounds = (
  ctx: LoopContext,
  upstream: UpstreamShape,
  send: Send,
  conversation: Conversation,
  first: Stream.Stream<string, UpstreamUnreachable>
) =>
  Effect.gen(function* () {
    let opened: TurnStream = Effect.succeed(first)
    let usage: unknown
    for (let round = 0; ; round++) {
      const state = new RoundState()
      yield* Effect.scoped(
        Effect.flatMap(opened, (events) =>
          events.pipe(
            Stream.takeUntil((data) => data === "[DONE]"),
            Stream.takeWhile(() => !state.failed),
            Stream.runForEach((data) => onData(send, state, data))
          )
        )
      )
      usage = addUsage(usage, state.usage)
      if (state.failed) return { completed: false, usage }
      if (!state.sawDone && state.finish === undefined) {
        yield* send({ _tag: "Failed", error: truncated(upstream) })
        return { completed: false, usage }
      }
      const calls = state.toolCalls((index) => conversation.makeId(round, index))
      const message = assistantMessage(state.content, calls, state.reasoning)
      if (calls.length === 0 || round >= ctx.maxRounds) {
        // After `tool_choice: "none"`, calls the model makes anyway are dropped.
        conversation.messages.push(assistantMessage(state.content, [], state.reasoning))
        yield* calls.length === 0 ? sendFinish(send, state, "stop") : sendFinish(send, state, "stop", "stop")
        return { completed: true, usage }
      }
      if (calls.some((call) => !conversation.mcpNames.has(call.name))) {
        const mixed = calls.some((call) => conversation.mcpNames.has(call.name))
        if (mixed) {
          // Its content goes out now, before the events; the finish is made up at the end.
          yield* sendIntermediateFinish(send, state)
          state.finish = undefined
        }
        const clientCalls = mixed
          ? yield* withKeepAlive(ctx, send, runMixedTurn(ctx, conversation, message, calls, emitTo(send)))
          : calls
        if (!mixed) conversation.messages.push(message)
        yield* send({ _tag: "ClientCalls", calls: clientCalls })
        yield* sendFinish(send, state, "tool_calls", "tool_calls")
        return { completed: true, usage }
      }
      yield* sendIntermediateFinish(send, state)
      yield* withKeepAlive(
        ctx,
        send,
        runRound(ctx, conversation, message, calls, emitTo(send)).pipe(roundSpan(round, calls.length))
      )
      opened = upstream.chatStream(bodyFor(ctx, conversation, round + 1))
    }
  })

const emitTo =
  (send: Send): Emit =>
  (event) =>
    send({ _tag: "ToolEvent", event })

/** Fills the stream: resumed calls, the rounds, then `Done` or `Failed`. */
const produce = (
  ctx: LoopContext,
  upstream: UpstreamShape,
  send: Send,
  conversation: Conversation,
  first: Stream.Stream<string, UpstreamUnreachable>,
  early: ReadonlyArray<ToolCallEvent>,
  inputLength: number
) =>
  Effect.gen(function* () {
    yield* send({ _tag: "Started", tools: conversation.available })
    yield* Effect.forEach(early, emitTo(send), { discard: true })
    const { completed, usage } = yield* runRounds(ctx, upstream, send, conversation, first)
    if (completed) yield* send({ _tag: "Done", usage, messages: conversation.messages, inputLength })
  }).pipe(
    // After the headers, a failure can only be told inside the stream, the way OpenAI does it.
    Effect.catch((error) => send({ _tag: "Failed", error: UpstreamErrorBody.fromUpstream(error).error }))
  )

/** Starts the first model turn, then streams the loop (see `ToolLoopShape.stream`). */
export const stream = Effect.fnUntraced(function* (
  ctx: LoopContext,
  upstream: UpstreamShape,
  request: JsonObject
) {
  const conversation = yield* prepare(ctx, request)
  // Calls resumed before the first turn are reported as soon as the stream starts.
  const early: Array<ToolCallEvent> = []
  yield* resumePending(ctx, conversation, (event) => Effect.sync(() => early.push(event)))
  const inputLength = conversation.messages.length
  const first = yield* upstream.chatStream(bodyFor(ctx, conversation, 0))
  return Stream.callback<LoopItem>(
    (queue: Queue.Queue<LoopItem, Cause.Done>) =>
      Effect.andThen(
        produce(ctx, upstream, (item) => Queue.offer(queue, item), conversation, first, early, inputLength),
        Queue.end(queue)
      ),
    { bufferSize: 32, strategy: "suspend" }
  )
})
