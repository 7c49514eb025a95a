/**
 * The conversation the tool loop carries from round to round
 * (docs/gateway.md#tool-loop): the request as sent upstream, the messages so
 * far, which tool names the gateway runs, and the body of each round's upstream
 * call. Shared by the non-streamed and the streamed loop.
 */
import { Effect, Predicate, Random } from "effect"
import {
  functionToolNames,
  isJsonObject,
  type JsonObject,
  type ToolCall,
  toOpenAiToolCalls,
  toolCallsOf
} from "./ChatFormat.ts"
import type { ModelToolsShape } from "./ModelTools.ts"
import { type Emit, runCalls } from "./ToolCalls.ts"

/** What the loop runs with, fixed for the service's life. */
export interface LoopContext {
  readonly tools: ModelToolsShape
  /** Rounds before the final `tool_choice: "none"` call. */
  readonly maxRounds: number
  /** Calls of one turn run at a time. */
  readonly concurrency: number
}

export interface Conversation {
  /** The request as sent upstream, minus `messages`. */
  readonly base: JsonObject
  readonly mcpNames: ReadonlySet<string>
  readonly messages: Array<unknown>
  /** Ids for calls a model left without one. */
  readonly makeId: (round: number, index: number) => string
}

/** The client's request with the MCP tools offered beside its own (its own win on a name clash). */
export const prepare = Effect.fnUntraced(function* (ctx: LoopContext, request: JsonObject) {
  const mcpTools = yield* ctx.tools.tools
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
  } satisfies Conversation
})

// A forced choice ("required", or one named function) would force every later round too.
const forcesTool = (choice: unknown) => choice === "required" || isJsonObject(choice)

/** The upstream body of a round: the last one may not call tools, later ones are not forced to. */
export const bodyFor = (ctx: LoopContext, conversation: Conversation, round: number): JsonObject => {
  const body: JsonObject = { ...conversation.base, messages: [...conversation.messages] }
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
  tool_calls: toOpenAiToolCalls(calls),
  ...(Predicate.isString(reasoning) && reasoning.length > 0 ? { reasoning_content: reasoning } : {})
})

/** Runs a turn's calls and appends the assistant message and the `tool` messages, in call order. */
export const runRound = (
  ctx: LoopContext,
  conversation: Conversation,
  message: JsonObject,
  calls: ReadonlyArray<ToolCall>,
  emit: Emit
) =>
  Effect.map(runCalls(ctx.tools, calls, emit, ctx.concurrency), (results) => {
    conversation.messages.push(message, ...results)
  })

/**
 * The MCP calls of the history's last turn that have no result yet: a turn that
 * also called a client tool went back to the client whole, and comes back with
 * only the client's results (see ./ToolLoop.ts).
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
    messages.push(...(yield* runCalls(ctx.tools, pending, emit, ctx.concurrency)))
  })
