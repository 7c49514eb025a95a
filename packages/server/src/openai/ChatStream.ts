/**
 * The streamed tool loop as a chat-completions stream
 * (docs/gateway.md#tool-call-events): upstream chunks as they came (their own
 * bytes when unchanged), each tool-call event as a chunk whose
 * `choices[0].delta.tool_call_event` is the event, the client's own calls as
 * a `tool_calls` delta, one usage chunk at the end when
 * `stream_options.include_usage`, then `[DONE]`; a failure as an SSE `error`
 * event, as OpenAI sends it. Chunks the gateway makes carry the upstream's
 * `id`, `created` and `model` once it has sent them.
 */
import { Clock, Effect, Random, Stream } from "effect"
import * as Sse from "../http/Sse.ts"
import { isJsonObject, type JsonObject, toOpenAiToolCalls } from "./ChatFormat.ts"
import type { LoopItem } from "./ToolLoopStream.ts"

const encoder = new TextEncoder()

/** An SSE comment line: clients ignore it, proxies see traffic. */
export const keepAliveComment: Uint8Array = encoder.encode(": keep-alive\n\n")

interface ChunkMeta {
  id: unknown
  created: unknown
  model: unknown
  learned: boolean
}

const render = (meta: ChunkMeta, includeUsage: boolean, item: LoopItem): ReadonlyArray<Uint8Array> => {
  const json = (value: unknown) => Sse.encodeData(JSON.stringify(value))
  const chunkOf = (choices: ReadonlyArray<unknown>, extra: JsonObject = {}) =>
    json({
      id: meta.id,
      object: "chat.completion.chunk",
      created: meta.created,
      model: meta.model,
      choices,
      ...extra
    })
  switch (item._tag) {
    case "Started":
      return []
    case "Chunk": {
      if (!meta.learned) {
        meta.learned = true
        if (item.chunk.id !== undefined) meta.id = item.chunk.id
        if (item.chunk.created !== undefined) meta.created = item.chunk.created
        if (item.chunk.model !== undefined) meta.model = item.chunk.model
      }
      return [item.raw === undefined ? json(item.chunk) : Sse.encodeData(item.raw)]
    }
    case "Data":
      return [Sse.encodeData(item.data)]
    case "ToolEvent":
      return [chunkOf([{ index: 0, delta: { tool_call_event: item.event }, finish_reason: null }])]
    case "Finish":
      return [chunkOf([{ index: 0, delta: {}, finish_reason: item.reason }])]
    case "ClientCalls": {
      const calls = toOpenAiToolCalls(item.calls).map((call, index) => ({ index, ...call }))
      return [chunkOf([{ index: 0, delta: { role: "assistant", tool_calls: calls }, finish_reason: null }])]
    }
    case "KeepAlive":
      return [keepAliveComment]
    case "Done":
      return includeUsage && item.usage !== undefined
        ? [chunkOf([], { usage: item.usage }), Sse.done]
        : [Sse.done]
    case "Failed":
      return [json({ error: item.error })]
  }
}

/** The SSE bytes of a streamed chat loop. */
export const toSse = Effect.fnUntraced(function* (items: Stream.Stream<LoopItem>, request: JsonObject) {
  const includeUsage = isJsonObject(request.stream_options) && request.stream_options.include_usage === true
  const meta: ChunkMeta = {
    id: `chatcmpl-mcpgate-${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}`,
    created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
    model: request.model,
    learned: false
  }
  return items.pipe(Stream.flatMap((item) => Stream.fromIterable(render(meta, includeUsage, item))))
})
