/**
 * The tool loop's outcome as a Responses API `response` object
 * (docs/gateway.md#responses-translated): output items in the order things
 * happened (`mcp_list_tools` first, then per assistant turn its reasoning,
 * its text, an `mcp_call` for each MCP call the gateway ran and a
 * `function_call` for each call that is the client's), and usage in the
 * Responses form. Shapes follow the `openai` package's `Response` types.
 */
import { Predicate } from "effect"
import { firstChoice, isJsonObject, type JsonObject, toolCallsOf } from "./ChatFormat.ts"
import type { ToolDefinition } from "./ModelTools.ts"
import { responsesName } from "./ResponsesRequest.ts"
import type { ToolCallEvent } from "./ToolCalls.ts"
import type { LoopResult } from "./ToolLoop.ts"
import * as ToolSearch from "./ToolSearch.ts"

/** What every response object of one request shares. */
export interface ResponseMeta {
  readonly id: string
  readonly createdAt: number
  /** The client's Responses request. */
  readonly request: JsonObject
}

/** The response object with nothing produced yet. */
export const base = (meta: ResponseMeta, status: string): JsonObject => {
  const request = meta.request
  return {
    id: meta.id,
    object: "response",
    created_at: meta.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    metadata: request.metadata ?? {},
    model: request.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: request.reasoning ?? { effort: null, summary: null },
    store: request.store !== false,
    temperature: request.temperature ?? null,
    text: request.text ?? { format: { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: request.truncation ?? "disabled",
    usage: null,
    user: request.user ?? null
  }
}

const count = (value: unknown) => (Predicate.isNumber(value) ? value : 0)

/** Chat usage (`prompt_tokens` …) in the Responses form (`input_tokens` …). */
export const usageOf = (usage: unknown): JsonObject | null => {
  if (!isJsonObject(usage)) return null
  const prompt = isJsonObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {}
  const completion = isJsonObject(usage.completion_tokens_details) ? usage.completion_tokens_details : {}
  return {
    input_tokens: count(usage.prompt_tokens),
    input_tokens_details: {
      cached_tokens: count(prompt.cached_tokens),
      cache_write_tokens: count(prompt.cache_write_tokens)
    },
    output_tokens: count(usage.completion_tokens),
    output_tokens_details: { reasoning_tokens: count(completion.reasoning_tokens) },
    total_tokens: count(usage.total_tokens)
  }
}

/** The server and tool name behind a public name (the gateway's own tool search included). */
export const toolIndex = (tools: ReadonlyArray<ToolDefinition>): ReadonlyMap<string, ToolDefinition> =>
  new Map([...tools, ToolSearch.definition].map((tool) => [tool.name, tool]))

/** One `mcp_list_tools` item per server the request could use. */
export const listItems = (tools: ReadonlyArray<ToolDefinition>): Array<JsonObject> => {
  const servers = [...new Set(tools.map((tool) => tool.server))]
  return servers.map((server) => ({
    id: `mcpl_${server}`,
    type: "mcp_list_tools",
    server_label: server,
    tools: tools
      .filter((tool) => tool.server === server)
      .map((tool) => ({
        name: tool.tool,
        description: tool.description ?? null,
        input_schema: tool.parameters,
        annotations: tool.annotations ?? null
      }))
  }))
}

export const reasoningItem = (id: string, text: string): JsonObject => ({
  id,
  type: "reasoning",
  summary: [],
  content: [{ type: "reasoning_text", text }]
})

export const outputText = (text: string): JsonObject => ({
  type: "output_text",
  text,
  annotations: [],
  logprobs: []
})

export const messageItem = (id: string, text: string, status: string): JsonObject => ({
  id,
  type: "message",
  role: "assistant",
  status,
  content: [outputText(text)]
})

/** A call of the client's function `chatName` (a namespaced one is named back as such). */
export const functionCallItem = (
  meta: ResponseMeta,
  callId: string,
  chatName: string,
  args: string
): JsonObject => {
  const { name, namespace } = responsesName(meta.request)(chatName)
  return {
    id: `fc_${callId}`,
    type: "function_call",
    call_id: callId,
    name,
    ...(namespace === undefined ? {} : { namespace }),
    arguments: args,
    status: "completed"
  }
}

/** An `mcp_call` item; `event` is the call's last event (its output, or why it failed). */
export const mcpCallItem = (
  id: string,
  tool: ToolDefinition | undefined,
  name: string,
  args: string,
  event: ToolCallEvent | undefined
): JsonObject => {
  const failed = event?.status === "failed"
  const done = event !== undefined && event.status !== "started"
  return {
    id,
    type: "mcp_call",
    server_label: tool?.server ?? "",
    name: tool?.tool ?? name,
    arguments: args,
    output: done && !failed ? (event.result ?? "") : null,
    error: failed
      ? { type: "mcp_tool_execution_error", content: [{ type: "text", text: event.result ?? "" }] }
      : null,
    status: done ? (failed ? "failed" : "completed") : "in_progress"
  }
}

/** The output items of the messages this request produced. */
const itemsOf = (meta: ResponseMeta, result: LoopResult): Array<JsonObject> => {
  const index = toolIndex(result.tools)
  const lastEvent = new Map(result.events.map((event) => [event.id, event]))
  const items = listItems(result.tools)
  result.messages.slice(result.inputLength).forEach((message, position) => {
    if (!isJsonObject(message) || message.role !== "assistant") return
    const suffix = `${position}`
    if (Predicate.isString(message.reasoning_content) && message.reasoning_content.length > 0) {
      items.push(reasoningItem(`rs_${suffix}`, message.reasoning_content))
    }
    if (Predicate.isString(message.content) && message.content.length > 0) {
      items.push(messageItem(`msg_${suffix}`, message.content, "completed"))
    }
    for (const call of toolCallsOf(message, (i) => `call_${suffix}_${i}`)) {
      const tool = index.get(call.name)
      items.push(
        tool === undefined || !lastEvent.has(call.id)
          ? functionCallItem(meta, call.id, call.name, call.arguments)
          : mcpCallItem(call.id, tool, call.name, call.arguments, lastEvent.get(call.id))
      )
    }
  })
  return items
}

/** The text of every `output_text` part, as the SDKs' `output_text` convenience has it. */
export const textOfItems = (items: ReadonlyArray<JsonObject>): string =>
  items
    .flatMap((item) => (item.type === "message" && Array.isArray(item.content) ? item.content : []))
    .map((part: unknown) => (isJsonObject(part) && Predicate.isString(part.text) ? part.text : ""))
    .join("")

/** The finished response object for a non-streamed loop. */
export const fromResult = (meta: ResponseMeta, result: LoopResult): JsonObject => {
  const finish = firstChoice(result.completion)?.finish_reason
  const incomplete = finish === "length"
  const output = itemsOf(meta, result)
  return {
    ...base(meta, incomplete ? "incomplete" : "completed"),
    incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
    output,
    output_text: textOfItems(output),
    usage: usageOf(result.completion.usage)
  }
}
