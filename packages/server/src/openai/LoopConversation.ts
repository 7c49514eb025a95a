/**
 * The conversation the tool loop carries from round to round
 * (docs/gateway.md#tool-loop): the request as sent upstream, the messages so
 * far, which tools the gateway runs for it and which it offers now, and the
 * body of each round's upstream call. Shared by the non-streamed and the
 * streamed loop, whichever API the client speaks.
 */
import type { Duration } from "effect"
import { Effect, Option, Predicate, Random, Result } from "effect"
import {
  functionToolNames,
  isJsonObject,
  type JsonObject,
  type ToolCall,
  toOpenAiToolCalls,
  toolCallsOf
} from "./ChatFormat.ts"
import * as McpToolSelection from "./McpToolSelection.ts"
import type { ModelToolsShape, ToolDefinition } from "./ModelTools.ts"
import type { PendingTurn, PendingTurnsShape } from "./PendingTurns.ts"
import { type CallTarget, type Emit, runCalls } from "./ToolCalls.ts"
import * as ToolSearch from "./ToolSearch.ts"

/** What the loop runs with, fixed for the service's life. */
export interface LoopContext {
  readonly tools: ModelToolsShape
  readonly pending: PendingTurnsShape
  /** Rounds before the final `tool_choice: "none"` call. */
  readonly maxRounds: number
  /** Calls of one turn run at a time. */
  readonly concurrency: number
  /** Tools one request may offer the model (docs/gateway.md#many-tools). */
  readonly maxTools: number
  /** Over `maxTools`: offer `builtin__search_tools` (true) or refuse the request (false). */
  readonly toolSearch: boolean
  /** `maxToolResultChars` for a server (docs/gateway.md#tool-results). */
  readonly resultLimit: (server: string) => number
  /** A streamed answer sends a comment at least this often while tools run. */
  readonly keepAlive: Duration.Input
}

export interface Conversation {
  /** The request as sent upstream, minus `messages` and `tools`. */
  readonly base: JsonObject
  /** The client's own tools, as it sent them. */
  readonly clientTools: ReadonlyArray<unknown>
  /** The MCP tools this request may run (names the client's tools take are theirs). */
  readonly available: ReadonlyArray<ToolDefinition>
  /** Offered now: all of `available`, or with tool search the ones found so far. */
  readonly offered: Array<ToolDefinition>
  readonly searching: boolean
  /** The names the gateway runs: anything else is the client's. */
  readonly mcpNames: ReadonlySet<string>
  readonly messages: Array<unknown>
  /** Ids for calls a model left without one. */
  readonly makeId: (round: number, index: number) => string
  readonly target: CallTarget
}

const tooManyTools = (count: number, max: number) =>
  new McpToolSelection.InvalidToolRequest({
    code: "too_many_tools",
    message:
      `this request would offer the model ${count} tools, more than maxTools (${max}): name fewer servers ` +
      `or tools with {"type": "mcp", "server_label": "<server>", "allowed_tools": [...]} in "tools", ` +
      `or raise "maxTools" (or set "toolSearch": "auto") in the mcpgate config`
  })

/** The MCP tools a request gets (`execute_mcp_tools`, or its `mcp` tools), checked against the config. */
const selectTools = Effect.fnUntraced(function* (ctx: LoopContext, request: JsonObject) {
  const parsed = McpToolSelection.parse(request.tools, request.execute_mcp_tools === true)
  if (Result.isFailure(parsed)) return yield* parsed.failure
  const { picks, otherTools } = parsed.success
  if (picks !== "all" && picks.length === 0) return { otherTools, selected: [] }
  const selected = McpToolSelection.select(parsed.success, yield* ctx.tools.tools, yield* ctx.tools.servers)
  if (Result.isFailure(selected)) return yield* selected.failure
  return { otherTools, selected: selected.success }
})

const makeTarget = (ctx: LoopContext, conversation: Omit<Conversation, "target">): CallTarget => {
  const serverOf = new Map(conversation.available.map((tool) => [tool.name, tool.server]))
  return {
    call: (name, args) => {
      if (!(conversation.searching && name === ToolSearch.searchToolName)) return ctx.tools.call(name, args)
      return Effect.sync(() => {
        const room = ctx.maxTools - conversation.clientTools.length - 1 - conversation.offered.length
        const unseen = conversation.available.filter((tool) => !conversation.offered.includes(tool))
        const { found, text } = ToolSearch.search(args, unseen, room)
        conversation.offered.push(...found)
        return { text, isError: false }
      })
    },
    resultLimit: (name) => ctx.resultLimit(serverOf.get(name) ?? "builtin")
  }
}

/**
 * The client's request with its MCP tools offered beside its own (its own win
 * on a name clash); a turn the gateway left half-answered is made whole again.
 */
export const prepare = Effect.fnUntraced(function* (ctx: LoopContext, request: JsonObject) {
  const { otherTools, selected } = yield* selectTools(ctx, request)
  const clientNames = functionToolNames(otherTools)
  const available = selected.filter((tool) => !clientNames.has(tool.name))
  const count = otherTools.length + available.length
  const searching = count > ctx.maxTools
  if (searching && !ctx.toolSearch) return yield* tooManyTools(count, ctx.maxTools)
  const { execute_mcp_tools: _never_forwarded, messages, tools: _rebuilt, ...base } = request
  const prefix = (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
  const conversation = {
    base,
    clientTools: otherTools,
    available,
    offered: searching ? [] : [...available],
    searching,
    mcpNames: new Set([
      ...available.map((tool) => tool.name),
      ...(searching ? [ToolSearch.searchToolName] : [])
    ]),
    messages: Array.isArray(messages) ? [...messages] : [],
    makeId: (round: number, index: number) => `call_mcpgate_${prefix}_${round}_${index}`
  }
  yield* restorePending(ctx, conversation.messages)
  return { ...conversation, target: makeTarget(ctx, conversation) } satisfies Conversation
})

// A forced choice ("required", or one named function) would force every later round too.
const forcesTool = (choice: unknown) => choice === "required" || isJsonObject(choice)

const asFunctionTool = (tool: ToolDefinition) => ({
  type: "function",
  function: {
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    parameters: tool.parameters
  }
})

/** The upstream body of a round: the last one may not call tools, later ones are not forced to. */
export const bodyFor = (ctx: LoopContext, conversation: Conversation, round: number): JsonObject => {
  const tools = [
    ...conversation.clientTools,
    ...(conversation.searching ? [asFunctionTool(ToolSearch.definition)] : []),
    ...conversation.offered.map(asFunctionTool)
  ]
  // An empty `tools` array is refused by OpenAI: leave the field out.
  const body: JsonObject = {
    ...conversation.base,
    messages: [...conversation.messages],
    ...(tools.length > 0 ? { tools } : {})
  }
  // The last chunk of each call then reports its usage (counted in ./Upstream.ts); the loop keeps it
  // from the client, whose own `stream_options` decide whether it gets the summed usage (./ChatStream.ts).
  if (body.stream === true) {
    body.stream_options = {
      ...(isJsonObject(conversation.base.stream_options) ? conversation.base.stream_options : {}),
      include_usage: true
    }
  }
  if (round >= ctx.maxRounds) body.tool_choice = "none"
  else if (round > 0 && forcesTool(conversation.base.tool_choice)) body.tool_choice = "auto"
  return body
}

/** The assistant turn as it goes back into the history. */
export const assistantMessage = (
  content: unknown,
  calls: ReadonlyArray<ToolCall>,
  reasoning: unknown
): JsonObject => ({
  role: "assistant",
  content: Predicate.isString(content) && content.length > 0 ? content : null,
  ...(calls.length > 0 ? { tool_calls: toOpenAiToolCalls(calls) } : {}),
  ...(Predicate.isString(reasoning) && reasoning.length > 0 ? { reasoning_content: reasoning } : {})
})

/**
 * Runs a turn's calls and appends the assistant message and the `tool`
 * messages, in call order. The turn is kept under its call ids too: a
 * Responses client may send its `mcp_call` items back without their output.
 */
/** A span per tool-loop round that runs tools (docs/observability.md#traces). */
export const roundSpan = (round: number, calls: number) =>
  Effect.withSpan("mcpgate.tool_loop.round", {
    attributes: { "mcpgate.tool_loop.round": round, "mcpgate.tool_loop.tool_calls": calls }
  })

export const runRound = (
  ctx: LoopContext,
  conversation: Conversation,
  message: JsonObject,
  calls: ReadonlyArray<ToolCall>,
  emit: Emit
) =>
  Effect.flatMap(runCalls(conversation.target, calls, emit, ctx.concurrency), (results) => {
    conversation.messages.push(message, ...results)
    return ctx.pending.save(
      calls.map((call) => call.id),
      { assistant: message, results }
    )
  })

/**
 * A turn that called MCP tools and the client's own (docs/gateway.md#mixed-turns):
 * the MCP calls run now, the whole turn waits in `PendingTurns` under the
 * client's call ids, and the client gets only its own calls (returned).
 */
export const runMixedTurn = (
  ctx: LoopContext,
  conversation: Conversation,
  message: JsonObject,
  calls: ReadonlyArray<ToolCall>,
  emit: Emit
) =>
  Effect.gen(function* () {
    const mcpCalls = calls.filter((call) => conversation.mcpNames.has(call.name))
    const clientCalls = calls.filter((call) => !conversation.mcpNames.has(call.name))
    const results = yield* runCalls(conversation.target, mcpCalls, emit, ctx.concurrency)
    conversation.messages.push(message, ...results)
    yield* ctx.pending.save(
      calls.map((call) => call.id),
      { assistant: message, results }
    )
    return clientCalls
  })

const isToolMessage = (message: unknown) => isJsonObject(message) && message.role === "tool"

const callIds = (message: unknown): Array<string> =>
  toolCallsOf(message, () => "").flatMap((call) => (call.id === "" ? [] : [call.id]))

/** The kept turn of any of these call ids (only the client's ids are keys). */
const findPending = (ctx: LoopContext, ids: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const id of ids) {
      const found = yield* ctx.pending.find(id)
      if (Option.isSome(found)) return found
    }
    return Option.none<PendingTurn>()
  })

/**
 * Puts back what `runMixedTurn` kept: an assistant message that carries only
 * the client's calls becomes the whole turn again, and the MCP results the
 * history lacks (a standard client never had them, or sent the `mcp_call`
 * items back without their output) follow the client's own.
 */
const restorePending = (ctx: LoopContext, messages: Array<unknown>) =>
  Effect.gen(function* () {
    for (let index = 0; index < messages.length; index++) {
      const message = messages[index]
      if (!isJsonObject(message) || message.role !== "assistant") continue
      const found = yield* findPending(ctx, callIds(message))
      if (Option.isNone(found)) continue
      const turn = found.value
      let end = index + 1
      while (end < messages.length && isToolMessage(messages[end])) end++
      const present = new Set(
        messages.slice(index + 1, end).map((m) => (isJsonObject(m) ? m.tool_call_id : undefined))
      )
      const missing = turn.results.filter((result) => !present.has(result.tool_call_id))
      messages.splice(end, 0, ...missing)
      messages[index] = turn.assistant
      index = end + missing.length - 1
    }
  })

/**
 * The MCP calls of the history's last turn that have no result yet: a client
 * sent back a turn whose MCP calls it saw but could not run. They run first,
 * so the model sees a complete turn.
 */
export const resumePending = (ctx: LoopContext, conversation: Conversation, emit: Emit) =>
  Effect.gen(function* () {
    const messages = conversation.messages
    const last = messages.findLastIndex((message) => !(isJsonObject(message) && message.role === "tool"))
    const assistant = messages[last]
    if (last < 0 || !isJsonObject(assistant) || assistant.role !== "assistant") return
    const answered = new Set(
      messages.slice(last + 1).map((message) => (isJsonObject(message) ? message.tool_call_id : undefined))
    )
    const pending = toolCallsOf(assistant, (index) => conversation.makeId(-1, index)).filter(
      (call) => !answered.has(call.id) && conversation.mcpNames.has(call.name)
    )
    if (pending.length === 0) return
    messages.push(...(yield* runCalls(conversation.target, pending, emit, ctx.concurrency)))
  })
