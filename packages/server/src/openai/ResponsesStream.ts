/**
 * The streamed tool loop as Responses API events
 * (docs/gateway.md#responses-translated): `response.created` and
 * `response.in_progress`; `mcp_list_tools` items; for text and reasoning an
 * output item with `content_part`, `output_text.delta`/`done` (and
 * `reasoning_text.*`); for each MCP call an `mcp_call` item with the
 * `response.mcp_call_arguments.*` and `response.mcp_call.*` events OpenAI's
 * hosted MCP tool sends; for the client's calls `function_call` items with
 * `function_call_arguments.*`; then `response.completed` with the whole
 * response, or `error` and `response.failed`. Each event is an SSE event
 * named after its `type`, with a `sequence_number`. Names and shapes follow
 * the `openai` package's `ResponseStreamEvent` types.
 */
import { Effect, Predicate, Stream } from "effect"
import { firstChoice, isJsonObject, type JsonObject } from "./ChatFormat.ts"
import { keepAliveComment } from "./ChatStream.ts"
import type { ToolDefinition } from "./ModelTools.ts"
import * as ResponsesOutput from "./ResponsesOutput.ts"
import type { LoopItem } from "./ToolLoopStream.ts"

const encoder = new TextEncoder()

/** What the stream ends with, for the caller to keep (stored responses). */
export interface Finished {
  readonly response: JsonObject
  readonly messages: ReadonlyArray<unknown>
}

interface OpenPart {
  readonly kind: "message" | "reasoning"
  readonly index: number
  readonly id: string
  text: string
}

/** The renderer's state for one response. */
class Renderer {
  private sequence = 0
  readonly output: Array<JsonObject> = []
  private open: OpenPart | undefined
  private tools: ReadonlyMap<string, ToolDefinition> = new Map()
  private readonly calls = new Map<string, { readonly index: number; readonly item: JsonObject }>()
  private finish: unknown
  private counter = 0

  readonly meta: ResponsesOutput.ResponseMeta

  constructor(meta: ResponsesOutput.ResponseMeta) {
    this.meta = meta
  }

  private event(type: string, fields: JsonObject): Uint8Array {
    const data = JSON.stringify({ type, sequence_number: this.sequence++, ...fields })
    return encoder.encode(`event: ${type}\ndata: ${data}\n\n`)
  }

  private add(item: JsonObject, events: Array<Uint8Array>): number {
    const index = this.output.length
    this.output.push(item)
    events.push(this.event("response.output_item.added", { output_index: index, item }))
    return index
  }

  private done(index: number, events: Array<Uint8Array>) {
    events.push(this.event("response.output_item.done", { output_index: index, item: this.output[index] }))
  }

  private close(events: Array<Uint8Array>) {
    const open = this.open
    if (open === undefined) return
    this.open = undefined
    const at = { item_id: open.id, output_index: open.index, content_index: 0 }
    if (open.kind === "reasoning") {
      events.push(this.event("response.reasoning_text.done", { ...at, text: open.text }))
      events.push(
        this.event("response.content_part.done", { ...at, part: { type: "reasoning_text", text: open.text } })
      )
      this.output[open.index] = ResponsesOutput.reasoningItem(open.id, open.text)
    } else {
      events.push(this.event("response.output_text.done", { ...at, text: open.text, logprobs: [] }))
      events.push(
        this.event("response.content_part.done", { ...at, part: ResponsesOutput.outputText(open.text) })
      )
      this.output[open.index] = ResponsesOutput.messageItem(open.id, open.text, "completed")
    }
    this.done(open.index, events)
  }

  private text(kind: OpenPart["kind"], delta: string, events: Array<Uint8Array>) {
    if (this.open?.kind !== kind) {
      this.close(events)
      const id = `${kind === "message" ? "msg" : "rs"}_${this.meta.id}_${this.counter++}`
      const item =
        kind === "message"
          ? { id, type: "message", role: "assistant", status: "in_progress", content: [] }
          : { id, type: "reasoning", summary: [], content: [] }
      const index = this.add(item, events)
      this.open = { kind, index, id, text: "" }
      const part = kind === "message" ? ResponsesOutput.outputText("") : { type: "reasoning_text", text: "" }
      events.push(
        this.event("response.content_part.added", {
          item_id: id,
          output_index: index,
          content_index: 0,
          part
        })
      )
    }
    const open = this.open
    if (open === undefined) return
    open.text += delta
    const at = { item_id: open.id, output_index: open.index, content_index: 0 }
    events.push(
      kind === "message"
        ? this.event("response.output_text.delta", { ...at, delta, logprobs: [] })
        : this.event("response.reasoning_text.delta", { ...at, delta })
    )
  }

  private started(tools: ReadonlyArray<ToolDefinition>): Array<Uint8Array> {
    this.tools = ResponsesOutput.toolIndex(tools)
    const events = [
      this.event("response.created", { response: ResponsesOutput.base(this.meta, "in_progress") }),
      this.event("response.in_progress", { response: ResponsesOutput.base(this.meta, "in_progress") })
    ]
    for (const listing of ResponsesOutput.listItems(tools)) {
      const index = this.add({ ...listing, tools: [] }, events)
      const at = { item_id: listing.id, output_index: index }
      events.push(this.event("response.mcp_list_tools.in_progress", at))
      events.push(this.event("response.mcp_list_tools.completed", at))
      this.output[index] = listing
      this.done(index, events)
    }
    return events
  }

  private chunk(chunk: JsonObject): Array<Uint8Array> {
    const events: Array<Uint8Array> = []
    const choice = firstChoice(chunk)
    const delta = isJsonObject(choice?.delta) ? choice.delta : {}
    if (Predicate.isString(delta.reasoning_content) && delta.reasoning_content.length > 0) {
      this.text("reasoning", delta.reasoning_content, events)
    }
    if (Predicate.isString(delta.content) && delta.content.length > 0)
      this.text("message", delta.content, events)
    if (choice?.finish_reason !== null && choice?.finish_reason !== undefined)
      this.finish = choice.finish_reason
    return events
  }

  render(
    item: LoopItem,
    onDone: (finished: Finished) => Effect.Effect<void>
  ): Effect.Effect<Array<Uint8Array>> {
    switch (item._tag) {
      case "Started":
        return Effect.succeed(this.started(item.tools))
      case "Chunk":
        return Effect.succeed(this.chunk(item.chunk))
      case "Data":
        return Effect.succeed([])
      case "Finish":
        this.finish = item.reason
        return Effect.succeed([])
      case "KeepAlive":
        return Effect.succeed([keepAliveComment])
      case "ToolEvent": {
        const events: Array<Uint8Array> = []
        const event = item.event
        if (event.status === "started") {
          this.close(events)
          const call = ResponsesOutput.mcpCallItem(
            event.id,
            this.tools.get(event.name),
            event.name,
            "",
            event
          )
          const index = this.add(call, events)
          this.calls.set(event.id, { index, item: call })
          const at = { item_id: event.id, output_index: index }
          events.push(this.event("response.mcp_call_arguments.delta", { ...at, delta: event.arguments }))
          events.push(this.event("response.mcp_call_arguments.done", { ...at, arguments: event.arguments }))
          events.push(this.event("response.mcp_call.in_progress", at))
          return Effect.succeed(events)
        }
        const call = this.calls.get(event.id)
        if (call === undefined) return Effect.succeed(events)
        this.output[call.index] = ResponsesOutput.mcpCallItem(
          event.id,
          this.tools.get(event.name),
          event.name,
          event.arguments,
          event
        )
        const type = event.status === "failed" ? "response.mcp_call.failed" : "response.mcp_call.completed"
        events.push(this.event(type, { item_id: event.id, output_index: call.index }))
        this.done(call.index, events)
        return Effect.succeed(events)
      }
      case "ClientCalls": {
        const events: Array<Uint8Array> = []
        this.close(events)
        for (const call of item.calls) {
          const done = ResponsesOutput.functionCallItem(this.meta, call.id, call.name, call.arguments)
          const index = this.add({ ...done, arguments: "", status: "in_progress" }, events)
          const at = { item_id: done.id, output_index: index }
          events.push(this.event("response.function_call_arguments.delta", { ...at, delta: call.arguments }))
          events.push(
            this.event("response.function_call_arguments.done", {
              ...at,
              name: call.name,
              arguments: call.arguments
            })
          )
          this.output[index] = done
          this.done(index, events)
        }
        return Effect.succeed(events)
      }
      case "Done": {
        const events: Array<Uint8Array> = []
        this.close(events)
        const incomplete = this.finish === "length"
        const response = {
          ...ResponsesOutput.base(this.meta, incomplete ? "incomplete" : "completed"),
          incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
          output: this.output,
          usage: ResponsesOutput.usageOf(item.usage)
        }
        events.push(this.event(incomplete ? "response.incomplete" : "response.completed", { response }))
        return Effect.as(onDone({ response, messages: item.messages }), events)
      }
      case "Failed": {
        const events: Array<Uint8Array> = []
        this.close(events)
        const error = isJsonObject(item.error) ? item.error : {}
        const message = Predicate.isString(error.message) ? error.message : "the upstream failed"
        const code = Predicate.isString(error.code) ? error.code : "upstream_error"
        events.push(this.event("error", { code, message, param: null }))
        const response = {
          ...ResponsesOutput.base(this.meta, "failed"),
          output: this.output,
          error: { code, message }
        }
        events.push(this.event("response.failed", { response }))
        return Effect.succeed(events)
      }
    }
  }
}

/** The SSE bytes of a streamed loop, as Responses API events; `onDone` sees the finished response. */
export const toSse = (
  items: Stream.Stream<LoopItem>,
  meta: ResponsesOutput.ResponseMeta,
  onDone: (finished: Finished) => Effect.Effect<void>
): Stream.Stream<Uint8Array> => {
  const renderer = new Renderer(meta)
  return items.pipe(
    Stream.mapEffect((item) => renderer.render(item, onDone)),
    Stream.flatMap((events) => Stream.fromIterable(events))
  )
}
