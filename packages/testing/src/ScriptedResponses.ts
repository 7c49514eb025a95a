/**
 * The scripted upstream's own Responses API (`POST /v1/responses`), for an
 * upstream that has one: a script turn as a `response` object, or as the
 * stream of events OpenAI sends (named SSE events, `sequence_number`s, text
 * and arguments in several deltas), so that the gateway's pass-through can be
 * checked byte for byte.
 */
import type { Turn } from "./ScriptedUpstream.ts"

const created = 1_700_000_000

const usageOf = (turn: Turn) =>
  turn.usage === undefined
    ? null
    : {
        input_tokens: turn.usage.prompt_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: turn.usage.completion_tokens,
        output_tokens_details: {
          reasoning_tokens: turn.usage.completion_tokens_details?.reasoning_tokens ?? 0
        },
        total_tokens: turn.usage.total_tokens
      }

const outputOf = (turn: Turn, id: string) => [
  ...(turn.content === undefined
    ? []
    : [
        {
          id: `msg_${id}`,
          type: "message",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: turn.content, annotations: [], logprobs: [] }]
        }
      ]),
  ...(turn.toolCalls ?? []).map((call) => ({
    id: `fc_${call.id}`,
    type: "function_call",
    call_id: call.id,
    name: call.name,
    arguments: call.arguments,
    status: "completed"
  }))
]

export const responseOf = (turn: Turn, id: string, model: unknown, status = "completed") => ({
  id,
  object: "response",
  created_at: created,
  status,
  error: null,
  incomplete_details: null,
  instructions: null,
  model,
  output: status === "completed" ? outputOf(turn, id) : [],
  parallel_tool_calls: true,
  tool_choice: "auto",
  tools: [],
  temperature: null,
  top_p: null,
  usage: status === "completed" ? usageOf(turn) : null
})

const pieces = (text: string, size: number): Array<string> => {
  const result: Array<string> = []
  for (let i = 0; i < text.length; i += size) result.push(text.slice(i, i + size))
  return result
}

/** The SSE events of a streamed turn. */
export const eventsOf = (turn: Turn, id: string, model: unknown): Array<string> => {
  let sequence = 0
  const events: Array<string> = []
  const event = (type: string, fields: Record<string, unknown>) =>
    events.push(
      `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`
    )
  event("response.created", { response: responseOf(turn, id, model, "in_progress") })
  event("response.in_progress", { response: responseOf(turn, id, model, "in_progress") })
  const output = outputOf(turn, id)
  output.forEach((item, index) => {
    if (item.type === "message") {
      const text = turn.content ?? ""
      event("response.output_item.added", {
        output_index: index,
        item: { ...item, status: "in_progress", content: [] }
      })
      const at = { item_id: item.id, output_index: index, content_index: 0 }
      event("response.content_part.added", {
        ...at,
        part: { type: "output_text", text: "", annotations: [] }
      })
      for (const delta of pieces(text, 5)) event("response.output_text.delta", { ...at, delta, logprobs: [] })
      event("response.output_text.done", { ...at, text, logprobs: [] })
      event("response.content_part.done", { ...at, part: { type: "output_text", text, annotations: [] } })
    } else {
      const args = "arguments" in item ? item.arguments : ""
      event("response.output_item.added", { output_index: index, item: { ...item, arguments: "" } })
      const at = { item_id: item.id, output_index: index }
      for (const delta of pieces(args, 4)) event("response.function_call_arguments.delta", { ...at, delta })
      event("response.function_call_arguments.done", { ...at, arguments: args })
    }
    event("response.output_item.done", { output_index: index, item })
  })
  event("response.completed", { response: responseOf(turn, id, model) })
  return events
}
