/**
 * What the upstream metrics say about a model call (docs/observability.md#metrics):
 * the bounded `model` label, and the tokens an answer reports in `usage`,
 * read from the end of the answer as it passes (a completion, the last chunk
 * of a stream when `stream_options.include_usage` was set, a Responses
 * `response.completed` event) without parsing the rest of it.
 */
import type { Readable } from "node:stream"
import * as Metrics from "@mcpgate/core/Metrics"
import type { Exit } from "effect"
import { Context, Effect, Predicate, Stream, Tracer } from "effect"
import { parseJson } from "./ToolCalls.ts"

/** At most this many distinct models become labels; later new ones count as `other`. */
const maxModelLabels = 100

// A model name as providers spell them (`gpt-4.1`, `meta-llama/Llama-3.1-8B`, `qwen2.5:7b`).
const saneModel = /^[A-Za-z0-9._:/@+-]{1,100}$/

/**
 * The `model` label of a request's model: `""` when the request names none
 * (`GET /v1/models`, bodies passed on unread), `other` for a name that is not
 * a sane model name or past the first `maxModelLabels` names, so that clients
 * cannot grow the series without bound (as unknown tool names do not).
 */
export const makeModelLabels = () => {
  // A plain Set, read on every upstream request on the pass-through's hot path; it only grows to the limit.
  const seen = new Set<string>()
  return (model: unknown): string => {
    if (typeof model !== "string" || model === "") return ""
    if (seen.has(model)) return model
    if (seen.size >= maxModelLabels || !saneModel.test(model)) return "other"
    seen.add(model)
    return model
  }
}

const tokenCount = (value: unknown) => (typeof value === "number" && value >= 0 ? value : undefined)

const seriesOf = (model: string, type: "input" | "output") =>
  Metrics.series(Metrics.upstreamTokens, { model, type })

/**
 * Adds a `usage` object, chat (`prompt_tokens`, `completion_tokens`) or
 * Responses form (`input_tokens`, `output_tokens`), to the token counter of
 * `context` and to its span as `gen_ai.usage.*`. Synchronous, without a
 * fiber: a pass-through calls it from the body's `end` event.
 */
const countIn = (model: string, usage: unknown, context: Context.Context<never>): void => {
  if (!Predicate.isObject(usage)) return
  const input = tokenCount(
    "prompt_tokens" in usage ? usage.prompt_tokens : "input_tokens" in usage ? usage.input_tokens : undefined
  )
  const output = tokenCount(
    "completion_tokens" in usage
      ? usage.completion_tokens
      : "output_tokens" in usage
        ? usage.output_tokens
        : undefined
  )
  if (input !== undefined && input > 0) seriesOf(model, "input").updateUnsafe(input, context)
  if (output !== undefined && output > 0) seriesOf(model, "output").updateUnsafe(output, context)
  const span = Context.getOrUndefined(context, Tracer.ParentSpan)
  if (span?._tag !== "Span") return
  if (input !== undefined) span.attribute("gen_ai.usage.input_tokens", input)
  if (output !== undefined) span.attribute("gen_ai.usage.output_tokens", output)
}

/** `countIn` for the current context and span. */
export const count = (model: string, usage: unknown): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) => Effect.sync(() => countIn(model, usage, context)))

const isSpace = (code: number) => code === 32 || code === 9 || code === 10 || code === 13

/**
 * The last `"usage": {…}` object in `text`, parsed; `undefined` when the last
 * `usage` is `null` or there is none. A `"usage"` inside a string is escaped
 * there (`\"usage\"`) and skipped.
 */
export const lastUsageIn = (text: string): unknown => {
  let at = text.lastIndexOf('"usage"')
  while (at > 0 && text.charCodeAt(at - 1) === 92) at = text.lastIndexOf('"usage"', at - 1)
  if (at === -1) return undefined
  let index = at + 7
  while (index < text.length && isSpace(text.charCodeAt(index))) index++
  if (text[index] !== ":") return undefined
  index++
  while (index < text.length && isSpace(text.charCodeAt(index))) index++
  if (text[index] !== "{") return undefined
  // Usage holds numbers and nested objects, no strings: counting braces finds its end.
  let depth = 0
  for (let end = index; end < text.length; end++) {
    const char = text[end]
    if (char === "{") depth++
    else if (char === "}" && --depth === 0) {
      const parsed = parseJson(text.slice(index, end + 1))
      return parsed.ok ? parsed.value : undefined
    }
  }
  return undefined
}

/** Enough of an answer's end to hold its last usage (a Responses `response.completed` repeats the whole response). */
const tailBytes = 64 * 1024

/**
 * Keeps the last bytes of an answer body as they pass to the client and hands
 * the usage in them to `found` once the body ended. It listens from the
 * moment the body starts flowing (`resume`, when it is piped to the client),
 * so it never takes a byte before the client's pipe does; a body cut short
 * (the client went away) reports nothing.
 */
export const watch = (body: Readable, found: (usage: unknown) => void): void => {
  const chunks: Array<Buffer> = []
  let size = 0
  const keep = (chunk: Buffer) => {
    chunks.push(chunk)
    size += chunk.length
    while (chunks.length > 1 && size - (chunks[0]?.length ?? 0) >= tailBytes)
      size -= chunks.shift()?.length ?? 0
  }
  body.once("resume", () => body.on("data", keep))
  body.once("end", () => {
    const usage = lastUsageIn(Buffer.concat(chunks).toString("utf8"))
    if (usage !== undefined) found(usage)
  })
}

/**
 * Counts the usage at the end of a pass-through answer's body once it was
 * sent, in the request's context: its span gets `gen_ai.usage.*`.
 */
export const countPassed = (model: string, body: Readable) =>
  Effect.map(Effect.context<never>(), (context) => watch(body, (usage) => countIn(model, usage, context)))

/** The `data` of a stream's events, its last usage counted and put on `span` when it ends. */
export const countStreamed = <E>(
  events: Stream.Stream<string, E>,
  model: string,
  span: Tracer.Span,
  end: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
): Stream.Stream<string, E> => {
  let usage: unknown
  return events.pipe(
    Stream.tap((data) => {
      // OpenAI sends `"usage":null` on every chunk but the last one when asked for usage.
      const found = data.includes('"usage"') ? lastUsageIn(data) : undefined
      if (found !== undefined) usage = found
      return Effect.void
    }),
    Stream.onExit((exit) =>
      Effect.andThen(
        usage === undefined ? Effect.void : Effect.withParentSpan(count(model, usage), span),
        end(exit)
      )
    )
  )
}
