/**
 * The streamed tool loop (docs/gateway.md#tool-call-events): the upstream's
 * chunks are forwarded as they come, except what would mislead the client: MCP
 * tool-call deltas (it would think it must run them), intermediate
 * `finish_reason`s (exactly one reaches it) and per-round usage (summed into one
 * usage chunk at the end when `stream_options.include_usage`). Each call adds
 * `choices[0].delta.tool_call_event` chunks. Interruption (the client went away)
 * aborts the upstream request in flight and interrupts the running calls.
 */
import type { Cause, Scope } from "effect"
import { Clock, Effect, Predicate, Queue, Random, Stream } from "effect"
import * as Sse from "../http/Sse.ts"
import {
  addUsage,
  firstChoice,
  isJsonObject,
  type JsonObject,
  type ToolCall,
  toOpenAiToolCalls
} from "./ChatFormat.ts"
import {
  assistantMessage,
  bodyFor,
  type Conversation,
  type LoopContext,
  prepare,
  resumePending,
  runRound
} from "./LoopConversation.ts"
import { type Emit, parseJson, type ToolCallEvent } from "./ToolCalls.ts"
import type { UpstreamError, UpstreamShape, UpstreamUnreachable } from "./Upstream.ts"
import * as UpstreamErrorBody from "./UpstreamErrorBody.ts"

const hasContent = (delta: JsonObject): boolean =>
  Object.entries(delta).some(
    ([key, value]) => key !== "role" && value !== null && value !== undefined && value !== ""
  )

interface StreamedCall {
  id: string
  name: string
  arguments: string
}

/** What one streamed model turn said, read while its chunks were forwarded. */
class RoundState {
  readonly calls = new Map<number, StreamedCall>()
  content = ""
  reasoning = ""
  /** The chunk with the `finish_reason`, kept until the turn's fate is known. */
  finish: { readonly raw: string; readonly chunk: JsonObject; readonly modified: boolean } | undefined
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

/** The id, created and model of the chunks the gateway adds: the upstream's once it has sent them. */
interface ChunkMeta {
  id: unknown
  created: unknown
  model: unknown
  learned: boolean
}

/** The client's side of the stream: what is sent, and the usage summed so far. */
interface Output {
  readonly send: (bytes: Uint8Array) => Effect.Effect<unknown>
  readonly sendJson: (value: unknown) => Effect.Effect<unknown>
  readonly chunkOf: (choices: ReadonlyArray<unknown>, extra?: JsonObject) => JsonObject
  readonly sendEvent: Emit
  readonly meta: ChunkMeta
  usage: unknown
}

const makeOutput = (queue: Queue.Queue<Uint8Array, Cause.Done>, meta: ChunkMeta): Output => {
  const send = (bytes: Uint8Array) => Queue.offer(queue, bytes)
  const sendJson = (value: unknown) => send(Sse.encodeData(JSON.stringify(value)))
  const chunkOf = (choices: ReadonlyArray<unknown>, extra: JsonObject = {}) => ({
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model: meta.model,
    choices,
    ...extra
  })
  return {
    send,
    sendJson,
    chunkOf,
    sendEvent: (event) =>
      sendJson(chunkOf([{ index: 0, delta: { tool_call_event: event }, finish_reason: null }])),
    meta,
    usage: undefined
  }
}

const learn = (meta: ChunkMeta, chunk: JsonObject) => {
  if (meta.learned) return
  meta.learned = true
  if (chunk.id !== undefined) meta.id = chunk.id
  if (chunk.created !== undefined) meta.created = chunk.created
  if (chunk.model !== undefined) meta.model = chunk.model
}

/** Forwards one upstream event, keeping back what the client must not see (module comment). */
const onData = (out: Output, state: RoundState, data: string): Effect.Effect<unknown> => {
  const parsed = parseJson(data)
  if (!parsed.ok || !isJsonObject(parsed.value)) return out.send(Sse.encodeData(data))
  const chunk = parsed.value
  if (chunk.error !== undefined) {
    // OpenAI reports a failure inside a stream as an `error` event; pass it on and stop there.
    state.failed = true
    return out.send(Sse.encodeData(data))
  }
  learn(out.meta, chunk)
  let modified = false
  if (isJsonObject(chunk.usage)) {
    out.usage = addUsage(out.usage, chunk.usage)
    delete chunk.usage
    modified = true
  }
  const choice = firstChoice(chunk)
  if (choice === undefined) {
    // A usage-only chunk: its usage is summed into the one sent at the end.
    return modified ? Effect.void : out.send(Sse.encodeData(data))
  }
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
  return out.send(Sse.encodeData(modified ? JSON.stringify(chunk) : data))
}

/** Sends the turn's finish chunk: as it came, with `finishReason` forced, or made up when missing. */
const sendFinish = (out: Output, state: RoundState, fallback: string, force?: string) => {
  const held = state.finish
  if (held === undefined) {
    return out.sendJson(out.chunkOf([{ index: 0, delta: {}, finish_reason: force ?? fallback }]))
  }
  if (force === undefined) {
    return out.send(Sse.encodeData(held.modified ? JSON.stringify(held.chunk) : held.raw))
  }
  const choice = firstChoice(held.chunk)
  if (choice !== undefined) choice.finish_reason = force
  return out.sendJson(held.chunk)
}

/** An MCP round's finish is not the end: only its content, if any, goes on. */
const sendIntermediateFinish = (out: Output, state: RoundState) => {
  const held = state.finish
  const choice = held === undefined ? undefined : firstChoice(held.chunk)
  if (held === undefined || choice === undefined) return Effect.void
  if (!isJsonObject(choice.delta) || !hasContent(choice.delta)) return Effect.void
  choice.finish_reason = null
  return out.sendJson(held.chunk)
}

type TurnStream = Effect.Effect<Stream.Stream<string, UpstreamUnreachable>, UpstreamError, Scope.Scope>

/** The rounds; true when the answer ended normally, false after an upstream `error` event. */
const runRounds = (
  ctx: LoopContext,
  upstream: UpstreamShape,
  out: Output,
  conversation: Conversation,
  first: Stream.Stream<string, UpstreamUnreachable>
) =>
  Effect.gen(function* () {
    let opened: TurnStream = Effect.succeed(first)
    for (let round = 0; ; round++) {
      const state = new RoundState()
      yield* Effect.scoped(
        Effect.flatMap(opened, (events) =>
          events.pipe(
            Stream.takeWhile((data) => data !== "[DONE]" && !state.failed),
            Stream.runForEach((data) => onData(out, state, data))
          )
        )
      )
      if (state.failed) return false
      const calls = state.toolCalls((index) => conversation.makeId(round, index))
      if (calls.length === 0) {
        yield* sendFinish(out, state, "stop")
        return true
      }
      if (calls.some((call) => !conversation.mcpNames.has(call.name))) {
        // A client tool: the whole turn goes back as a standard tool_calls answer.
        const toolCalls = toOpenAiToolCalls(calls).map((call, index) => ({ index, ...call }))
        yield* out.sendJson(
          out.chunkOf([
            { index: 0, delta: { role: "assistant", tool_calls: toolCalls }, finish_reason: null }
          ])
        )
        yield* sendFinish(out, state, "tool_calls")
        return true
      }
      if (round >= ctx.maxRounds) {
        // Tools called despite `tool_choice: "none"`: the calls are dropped, the answer ends here.
        yield* sendFinish(out, state, "stop", "stop")
        return true
      }
      yield* sendIntermediateFinish(out, state)
      const message = assistantMessage(state.content, calls, state.reasoning)
      yield* runRound(ctx, conversation, message, calls, out.sendEvent)
      opened = upstream.chatStream(bodyFor(ctx, conversation, round + 1))
    }
  })

/** Fills the client's stream: resumed calls, the rounds, the summed usage, `[DONE]`, then the end. */
const produce = (
  ctx: LoopContext,
  upstream: UpstreamShape,
  out: Output,
  conversation: Conversation,
  first: Stream.Stream<string, UpstreamUnreachable>,
  early: ReadonlyArray<ToolCallEvent>,
  includeUsage: boolean,
  end: Effect.Effect<unknown>
) =>
  Effect.forEach(early, out.sendEvent, { discard: true }).pipe(
    Effect.andThen(runRounds(ctx, upstream, out, conversation, first)),
    Effect.flatMap((completed) =>
      completed
        ? Effect.andThen(
            includeUsage && out.usage !== undefined
              ? out.sendJson(out.chunkOf([], { usage: out.usage }))
              : Effect.void,
            out.send(Sse.done)
          )
        : Effect.void
    ),
    // After the headers, a failure can only be told inside the stream, the way OpenAI does it.
    Effect.catch((error) => out.sendJson({ error: UpstreamErrorBody.fromUpstream(error).error })),
    Effect.andThen(end)
  )

/** Starts the first model turn, then streams the loop (see `ToolLoopShape.stream`). */
export const stream = Effect.fnUntraced(function* (
  ctx: LoopContext,
  upstream: UpstreamShape,
  request: JsonObject
) {
  const conversation = yield* prepare(ctx, request)
  const includeUsage = isJsonObject(request.stream_options) && request.stream_options.include_usage === true
  // Calls resumed before the first turn are reported as soon as the stream starts.
  const early: Array<ToolCallEvent> = []
  yield* resumePending(ctx, conversation, (event) => Effect.sync(() => early.push(event)))
  const first = yield* upstream.chatStream(bodyFor(ctx, conversation, 0))
  const now = yield* Clock.currentTimeMillis
  const meta: ChunkMeta = {
    id: `chatcmpl-mcpgate-${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}`,
    created: Math.floor(now / 1000),
    model: request.model,
    learned: false
  }
  return Stream.callback<Uint8Array>(
    (queue) =>
      produce(
        ctx,
        upstream,
        makeOutput(queue, meta),
        conversation,
        first,
        early,
        includeUsage,
        Queue.end(queue)
      ),
    { bufferSize: 32, strategy: "suspend" }
  )
})
