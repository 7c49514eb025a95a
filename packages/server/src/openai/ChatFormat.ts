/**
 * The few parts of the OpenAI chat-completions format the gateway reads.
 * Everything else in a request or an answer is carried through untouched, so
 * these are readers over `unknown`, not full models of the format.
 */
import { Predicate, Schema } from "effect"

/** What `POST /v1/chat/completions` must carry; other fields are the upstream's business. */
export const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Schema.Unknown),
  execute_mcp_tools: Schema.optionalKey(Schema.Boolean)
})

export type JsonObject = Record<string, unknown>

export const isJsonObject = (value: unknown): value is JsonObject =>
  Predicate.isObject(value) && !Array.isArray(value)

/** One function call of an assistant turn. */
export interface ToolCall {
  readonly id: string
  readonly name: string
  /** JSON text, exactly as the model wrote it. */
  readonly arguments: string
}

/** The calls of an assistant `message` (non-streamed answer or history); ids made up when a model omits them. */
export const toolCallsOf = (message: unknown, makeId: (index: number) => string): Array<ToolCall> => {
  if (!isJsonObject(message) || !Array.isArray(message.tool_calls)) return []
  const calls: Array<ToolCall> = []
  message.tool_calls.forEach((call: unknown, index) => {
    if (!isJsonObject(call)) return
    const fn = isJsonObject(call.function) ? call.function : {}
    calls.push({
      id: Predicate.isString(call.id) && call.id.length > 0 ? call.id : makeId(index),
      name: Predicate.isString(fn.name) ? fn.name : "",
      arguments: Predicate.isString(fn.arguments) ? fn.arguments : ""
    })
  })
  return calls
}

/** The `tool_calls` field of an assistant message or delta, in OpenAI form. */
export const toOpenAiToolCalls = (calls: ReadonlyArray<ToolCall>) =>
  calls.map((call) => ({
    id: call.id,
    type: "function",
    function: { name: call.name, arguments: call.arguments }
  }))

/** The names of the client's own function tools (they win over MCP tools of the same name). */
export const functionToolNames = (tools: unknown): Set<string> => {
  const names = new Set<string>()
  if (!Array.isArray(tools)) return names
  for (const tool of tools) {
    if (isJsonObject(tool) && isJsonObject(tool.function) && Predicate.isString(tool.function.name)) {
      names.add(tool.function.name)
    }
  }
  return names
}

/**
 * Adds two `usage` objects field by field, nested details included
 * (`completion_tokens_details.reasoning_tokens` …); a field only one side has is kept.
 */
export const addUsage = (sum: unknown, next: unknown): unknown => {
  if (next === undefined || next === null) return sum
  if (sum === undefined || sum === null) return next
  if (Predicate.isNumber(sum) && Predicate.isNumber(next)) return sum + next
  if (isJsonObject(sum) && isJsonObject(next)) {
    const result: JsonObject = { ...sum }
    for (const [key, value] of Object.entries(next)) {
      result[key] = key in sum ? addUsage(sum[key], value) : value
    }
    return result
  }
  return next
}

/** The first choice of a completion or chunk (`index` 0, or the first listed). */
export const firstChoice = (value: JsonObject): JsonObject | undefined => {
  if (!Array.isArray(value.choices)) return undefined
  const choices: ReadonlyArray<unknown> = value.choices
  const first = choices.find((choice) => isJsonObject(choice) && choice.index === 0) ?? choices[0]
  return isJsonObject(first) ? first : undefined
}
