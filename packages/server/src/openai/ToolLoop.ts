/**
 * The chat ↔ tools loop behind `"execute_mcp_tools": true` (SPEC §5).
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
 * Streaming forwards the upstream's chunks as they come, except what would
 * mislead the client: MCP tool-call deltas (it would think it must run them),
 * intermediate `finish_reason`s (exactly one reaches it) and per-round usage
 * (summed into one usage chunk at the end when `stream_options.include_usage`).
 * Each call adds `choices[0].delta.tool_call_event` chunks. Interruption (the
 * client went away) aborts the upstream request in flight and interrupts the
 * running calls.
 */

import type { Cause, Scope } from "effect"
import { Clock, Context, Effect, Layer, Predicate, Queue, Random, Stream } from "effect"
import * as Sse from "../http/Sse.ts"
import {
  addUsage,
  firstChoice,
  functionToolNames,
  isJsonObject,
  type JsonObject,
  type ToolCall,
  toOpenAiToolCalls,
  toolCallsOf
} from "./ChatFormat.ts"
import { ToolExecutor, type ToolExecutorError } from "./ToolExecutor.ts"
import { Upstream, type UpstreamError, type UpstreamUnreachable } from "./Upstream.ts"
import * as UpstreamErrorBody from "./UpstreamErrorBody.ts"

/** One step of one MCP call, as the client sees it (streamed, and in `mcp_tool_events`). */
export interface ToolCallEvent {
  readonly id: string
  readonly name: string
  /** The arguments as the model wrote them (JSON text). */
  readonly arguments: string
  readonly status: "started" | "completed" | "failed"
  /** The tool's own text (or why the call could not run); absent on `started`. */
  readonly result?: string
  readonly duration_ms?: number
}

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

interface Prepared {
  /** The request as sent upstream, minus `messages`. */
  readonly base: JsonObject
  readonly mcpNames: ReadonlySet<string>
  readonly messages: Array<unknown>
  /** Ids for calls a model left without one. */
  readonly makeId: (round: number, index: number) => string
}

type Emit = (event: ToolCallEvent) => Effect.Effect<unknown>

interface CallOutcome {
  readonly failed: boolean
  /** For the client's event. */
  readonly result: string
  /** For the model's `tool` message. */
  readonly text: string
}

const errorWithoutMessage = "the tool reported an error without a message"

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

const failedCall = (text: string): CallOutcome => ({ failed: true, result: text, text })

// What the model reads when a call could not run; a login need says where to log in (SPEC §5).
const describeFailure = (name: string, error: ToolExecutorError): string => {
  switch (error._tag) {
    case "ToolNeedsLogin":
      return (
        `Error: tool ${name} cannot run because the MCP server "${error.server}" needs a login. ` +
        `Ask the user to run \`mcpgate login ${error.server}\` or to authenticate "${error.server}" ` +
        `in the mcpgate admin UI (/admin), then try again.`
      )
    case "ToolNotFound":
      return `Error: there is no tool named ${name}. ${error.message}`
    case "ToolCallFailed":
      return `Error: the call to tool ${name} failed: ${error.message}`
  }
}

const assistantMessage = (
  content: unknown,
  calls: ReadonlyArray<ToolCall>,
  reasoning: unknown
): JsonObject => ({
  role: "assistant",
  content: Predicate.isString(content) && content.length > 0 ? content : null,
  tool_calls: toOpenAiToolCalls(calls),
  ...(Predicate.isString(reasoning) && reasoning.length > 0 ? { reasoning_content: reasoning } : {})
})

// A forced choice ("required", or one named function) would force every later round too.
const forcesTool = (choice: unknown) => choice === "required" || isJsonObject(choice)

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

export const make = Effect.fnUntraced(function* (options: ToolLoopOptions) {
  const upstream = yield* Upstream
  const executor = yield* ToolExecutor
  const maxRounds = Math.max(0, options.maxToolCalls)
  const concurrency = Math.max(1, options.concurrency ?? 8)

  const prepare = Effect.fnUntraced(function* (request: JsonObject) {
    const mcpTools = yield* executor.tools
    const clientNames = functionToolNames(request.tools)
    const offered = mcpTools.filter((tool) => !clientNames.has(tool.name))
    const clientTools: ReadonlyArray<unknown> = Array.isArray(request.tools) ? request.tools : []
    const tools = [
      ...clientTools,
      ...offered.map((tool) => ({
        type: "function",
        function: {
          name: tool.name,
          ...(tool.description === undefined ? {} : { description: tool.description }),
          parameters: tool.parameters
        }
      }))
    ]
    const { execute_mcp_tools: _never_forwarded, messages, ...rest } = request
    const prefix = (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
    return {
      // An empty `tools` array is refused by OpenAI: leave the field as the client sent it.
      base: tools.length > 0 ? { ...rest, tools } : rest,
      mcpNames: new Set(offered.map((tool) => tool.name)),
      messages: Array.isArray(messages) ? [...messages] : [],
      makeId: (round: number, index: number) => `call_mcpgate_${prefix}_${round}_${index}`
    } satisfies Prepared
  })

  const bodyFor = (prepared: Prepared, round: number): JsonObject => {
    const body: JsonObject = { ...prepared.base, messages: [...prepared.messages] }
    if (round >= maxRounds) body.tool_choice = "none"
    else if (round > 0 && forcesTool(prepared.base.tool_choice)) body.tool_choice = "auto"
    return body
  }

  const execute = (call: ToolCall): Effect.Effect<CallOutcome> => {
    const parsed = call.arguments.trim() === "" ? { ok: true as const, value: {} } : parseJson(call.arguments)
    if (!parsed.ok || !isJsonObject(parsed.value)) {
      return Effect.succeed(
        failedCall(
          `Error: the arguments for tool ${call.name} are not a JSON object: ${call.arguments.slice(0, 200)}`
        )
      )
    }
    return executor.call(call.name, parsed.value).pipe(
      Effect.map(
        (outcome): CallOutcome =>
          outcome.isError
            ? {
                failed: true,
                result: outcome.text,
                text: `Error from tool ${call.name}: ${outcome.text.trim() === "" ? errorWithoutMessage : outcome.text}`
              }
            : { failed: false, result: outcome.text, text: outcome.text }
      ),
      Effect.catch((error) => Effect.succeed(failedCall(describeFailure(call.name, error)))),
      // A bug in a tool adapter is the tool's failure, not the conversation's.
      Effect.catchDefect((defect) =>
        Effect.succeed(
          failedCall(`Error: the call to tool ${call.name} failed unexpectedly: ${String(defect)}`)
        )
      )
    )
  }

  /** Runs one call, reporting it started and ended; the text for the model's `tool` message. */
  const runCall = (call: ToolCall, emit: Emit) =>
    Effect.gen(function* () {
      const base = { id: call.id, name: call.name, arguments: call.arguments }
      yield* emit({ ...base, status: "started" })
      const start = yield* Clock.currentTimeMillis
      const outcome = yield* execute(call)
      const end = yield* Clock.currentTimeMillis
      yield* emit({
        ...base,
        status: outcome.failed ? "failed" : "completed",
        result: outcome.result,
        duration_ms: end - start
      })
      return outcome.text
    })

  /** Runs a turn's calls and appends the assistant message and the `tool` messages, in call order. */
  const runRound = (prepared: Prepared, message: JsonObject, calls: ReadonlyArray<ToolCall>, emit: Emit) =>
    Effect.gen(function* () {
      const texts = yield* Effect.forEach(calls, (call) => runCall(call, emit), { concurrency })
      prepared.messages.push(message)
      calls.forEach((call, index) => {
        prepared.messages.push({ role: "tool", tool_call_id: call.id, content: texts[index] ?? "" })
      })
    })

  /** The MCP calls of the history's last turn that have no result yet (see the module comment). */
  const resumePending = (prepared: Prepared, emit: Emit) =>
    Effect.gen(function* () {
      const messages = prepared.messages
      const last = messages.findLastIndex((message) => !(isJsonObject(message) && message.role === "tool"))
      const assistant = messages[last]
      if (last < 0 || !isJsonObject(assistant) || assistant.role !== "assistant") return
      const answered = new Set(
        messages.slice(last + 1).map((message) => (isJsonObject(message) ? message.tool_call_id : undefined))
      )
      const pending = toolCallsOf(assistant, (index) => prepared.makeId(-1, index)).filter(
        (call) => !answered.has(call.id) && prepared.mcpNames.has(call.name)
      )
      if (pending.length === 0) return
      const texts = yield* Effect.forEach(pending, (call) => runCall(call, emit), { concurrency })
      pending.forEach((call, index) => {
        messages.push({ role: "tool", tool_call_id: call.id, content: texts[index] ?? "" })
      })
    })

  const complete = Effect.fn("ToolLoop.complete")(function* (request: JsonObject) {
    const prepared = yield* prepare(request)
    const events: Array<ToolCallEvent> = []
    const emit: Emit = (event) => Effect.sync(() => events.push(event))
    yield* resumePending(prepared, emit)
    let usage: unknown
    for (let round = 0; ; round++) {
      const completion = yield* upstream.chat(bodyFor(prepared, round))
      usage = addUsage(usage, completion.usage)
      const finished = (answer: JsonObject): JsonObject => ({
        ...answer,
        ...(usage === undefined ? {} : { usage }),
        mcp_tool_events: events
      })
      const message = firstChoice(completion)?.message
      const calls = toolCallsOf(message, (index) => prepared.makeId(round, index))
      if (calls.length === 0 || calls.some((call) => !prepared.mcpNames.has(call.name))) {
        return finished(completion)
      }
      if (round >= maxRounds) return finished(withoutToolCalls(completion))
      const fields = isJsonObject(message) ? message : {}
      yield* runRound(
        prepared,
        assistantMessage(fields.content, calls, fields.reasoning_content),
        calls,
        emit
      )
    }
  })

  const stream = Effect.fn("ToolLoop.stream")(function* (request: JsonObject) {
    const prepared = yield* prepare(request)
    const includeUsage = isJsonObject(request.stream_options) && request.stream_options.include_usage === true
    // Calls resumed before the first turn are reported as soon as the stream starts.
    const early: Array<ToolCallEvent> = []
    yield* resumePending(prepared, (event) => Effect.sync(() => early.push(event)))
    const first = yield* upstream.chatStream(bodyFor(prepared, 0))
    const now = yield* Clock.currentTimeMillis
    // Chunks the gateway adds carry the upstream's id, created and model once it has sent them.
    const meta: { id: unknown; created: unknown; model: unknown; learned: boolean } = {
      id: `chatcmpl-mcpgate-${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}`,
      created: Math.floor(now / 1000),
      model: request.model,
      learned: false
    }
    return Stream.callback<Uint8Array>(
      (queue) => produce(queue, prepared, first, early, includeUsage, meta),
      { bufferSize: 32, strategy: "suspend" }
    )
  })

  const produce = (
    queue: Queue.Queue<Uint8Array, Cause.Done>,
    prepared: Prepared,
    first: Stream.Stream<string, UpstreamUnreachable>,
    early: ReadonlyArray<ToolCallEvent>,
    includeUsage: boolean,
    meta: { id: unknown; created: unknown; model: unknown; learned: boolean }
  ) => {
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
    const sendEvent: Emit = (event) =>
      sendJson(chunkOf([{ index: 0, delta: { tool_call_event: event }, finish_reason: null }]))
    let usage: unknown

    const learn = (chunk: JsonObject) => {
      if (meta.learned) return
      meta.learned = true
      if (chunk.id !== undefined) meta.id = chunk.id
      if (chunk.created !== undefined) meta.created = chunk.created
      if (chunk.model !== undefined) meta.model = chunk.model
    }

    /** Forwards one upstream event, keeping back what the client must not see (module comment). */
    const onData = (state: RoundState, data: string): Effect.Effect<unknown> => {
      const parsed = parseJson(data)
      if (!parsed.ok || !isJsonObject(parsed.value)) return send(Sse.encodeData(data))
      const chunk = parsed.value
      if (chunk.error !== undefined) {
        // OpenAI reports a failure inside a stream as an `error` event; pass it on and stop there.
        state.failed = true
        return send(Sse.encodeData(data))
      }
      learn(chunk)
      let modified = false
      if (isJsonObject(chunk.usage)) {
        usage = addUsage(usage, chunk.usage)
        delete chunk.usage
        modified = true
      }
      const choice = firstChoice(chunk)
      if (choice === undefined) {
        // A usage-only chunk: its usage is summed into the one sent at the end.
        return modified ? Effect.void : send(Sse.encodeData(data))
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
      return send(Sse.encodeData(modified ? JSON.stringify(chunk) : data))
    }

    /** Sends the turn's finish chunk: as it came, with `finishReason` forced, or made up when missing. */
    const sendFinish = (state: RoundState, fallback: string, force?: string) => {
      const held = state.finish
      if (held === undefined) {
        return sendJson(chunkOf([{ index: 0, delta: {}, finish_reason: force ?? fallback }]))
      }
      if (force === undefined) {
        return send(Sse.encodeData(held.modified ? JSON.stringify(held.chunk) : held.raw))
      }
      const choice = firstChoice(held.chunk)
      if (choice !== undefined) choice.finish_reason = force
      return sendJson(held.chunk)
    }

    /** An MCP round's finish is not the end: only its content, if any, goes on. */
    const sendIntermediateFinish = (state: RoundState) => {
      const held = state.finish
      const choice = held === undefined ? undefined : firstChoice(held.chunk)
      if (held === undefined || choice === undefined) return Effect.void
      if (!isJsonObject(choice.delta) || !hasContent(choice.delta)) return Effect.void
      choice.finish_reason = null
      return sendJson(held.chunk)
    }

    const loop = Effect.gen(function* () {
      for (const event of early) yield* sendEvent(event)
      let opened: Effect.Effect<
        Stream.Stream<string, UpstreamUnreachable>,
        UpstreamError,
        Scope.Scope
      > = Effect.succeed(first)
      for (let round = 0; ; round++) {
        const state = new RoundState()
        yield* Effect.scoped(
          Effect.flatMap(opened, (events) =>
            events.pipe(
              Stream.takeWhile((data) => data !== "[DONE]" && !state.failed),
              Stream.runForEach((data) => onData(state, data))
            )
          )
        )
        if (state.failed) return false
        const calls = state.toolCalls((index) => prepared.makeId(round, index))
        if (calls.length === 0) {
          yield* sendFinish(state, "stop")
          return true
        }
        if (calls.some((call) => !prepared.mcpNames.has(call.name))) {
          // A client tool: the whole turn goes back as a standard tool_calls answer.
          const toolCalls = toOpenAiToolCalls(calls).map((call, index) => ({ index, ...call }))
          yield* sendJson(
            chunkOf([{ index: 0, delta: { role: "assistant", tool_calls: toolCalls }, finish_reason: null }])
          )
          yield* sendFinish(state, "tool_calls")
          return true
        }
        if (round >= maxRounds) {
          // Tools called despite `tool_choice: "none"`: the calls are dropped, the answer ends here.
          yield* sendFinish(state, "stop", "stop")
          return true
        }
        yield* sendIntermediateFinish(state)
        yield* runRound(prepared, assistantMessage(state.content, calls, state.reasoning), calls, sendEvent)
        opened = upstream.chatStream(bodyFor(prepared, round + 1))
      }
    })

    return loop.pipe(
      Effect.flatMap((completed) =>
        completed
          ? Effect.andThen(
              includeUsage && usage !== undefined ? sendJson(chunkOf([], { usage })) : Effect.void,
              send(Sse.done)
            )
          : Effect.void
      ),
      // After the headers, a failure can only be told inside the stream, the way OpenAI does it.
      Effect.catch((error) => sendJson({ error: UpstreamErrorBody.fromUpstream(error).error })),
      Effect.andThen(Queue.end(queue))
    )
  }

  return ToolLoop.of({ complete, stream })
})

export class ToolLoop extends Context.Service<ToolLoop, ToolLoopShape>()("@mcpgate/server/ToolLoop") {
  static readonly layer = (options: ToolLoopOptions): Layer.Layer<ToolLoop, never, Upstream | ToolExecutor> =>
    Layer.effect(ToolLoop, make(options))
}
