/**
 * Running a model's tool calls (docs/gateway.md#tool-loop, #tool-call-events):
 * the arguments parsed, the call made through `ModelTools`, the outcome turned
 * into what the model reads in its `tool` message and what the client sees as
 * events. A call never fails the conversation: whatever goes wrong is told to
 * the model as text. Shared by every API that runs tools for a model.
 */
import { Clock, Effect } from "effect"
import { isJsonObject, type JsonObject, type ToolCall } from "./ChatFormat.ts"
import type { ModelToolError, ToolOutcome } from "./ModelTools.ts"

/** What runs a conversation's calls: the MCP tools (and the gateway's own), with each one's result limit. */
export interface CallTarget {
  readonly call: (name: string, args: JsonObject) => Effect.Effect<ToolOutcome, ModelToolError>
  /** `maxToolResultChars` for the tool's server (docs/gateway.md#tool-results). */
  readonly resultLimit: (name: string) => number
}

/** Events (and the UI they feed) carry at most this much of a result. */
export const eventResultChars = 4000

/** One step of one MCP call, as the client sees it (streamed, and in `mcp_tool_events`). */
export interface ToolCallEvent {
  readonly id: string
  readonly name: string
  /** The arguments as the model wrote them (JSON text). */
  readonly arguments: string
  readonly status: "started" | "completed" | "failed"
  /** The tool's own text (or why the call could not run), its first 4000 characters; absent on `started`. */
  readonly result?: string
  /** Set when `result` is only the start of a longer text. */
  readonly result_truncated?: boolean
  readonly duration_ms?: number
}

/** Where a call's events go (a stream, or the list of a non-streamed answer). */
export type Emit = (event: ToolCallEvent) => Effect.Effect<unknown>

interface CallOutcome {
  readonly failed: boolean
  /** For the client's event. */
  readonly result: string
  /** For the model's `tool` message. */
  readonly text: string
}

const errorWithoutMessage = "the tool reported an error without a message"

export const parseJson = (
  text: string
): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

const failedCall = (text: string): CallOutcome => ({ failed: true, result: text, text })

// What the model reads when a call could not run; a login need says where to log in (docs/gateway.md#tool-loop).
const describeFailure = (name: string, error: ModelToolError): string => {
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

/** The first `limit` characters, never splitting a surrogate pair. */
const head = (text: string, limit: number) => {
  const end = limit > 0 && /[\uD800-\uDBFF]/.test(text.charAt(limit - 1)) ? limit - 1 : limit
  return text.slice(0, end)
}

/** A result longer than `limit` reaches the model cut, with a note saying how much was left out. */
export const cutForModel = (text: string, limit: number): string => {
  if (text.length <= limit) return text
  const kept = head(text, limit)
  return (
    `${kept}\n\n[mcpgate: the tool's result was cut here: ${text.length - kept.length} of ` +
    `${text.length} characters were left out (maxToolResultChars is ${limit}).]`
  )
}

const execute = (tools: CallTarget, call: ToolCall): Effect.Effect<CallOutcome> => {
  const parsed = call.arguments.trim() === "" ? { ok: true as const, value: {} } : parseJson(call.arguments)
  if (!parsed.ok || !isJsonObject(parsed.value)) {
    return Effect.succeed(
      failedCall(
        `Error: the arguments for tool ${call.name} are not a JSON object: ${call.arguments.slice(0, 200)}`
      )
    )
  }
  return tools.call(call.name, parsed.value).pipe(
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
const runCall = (tools: CallTarget, call: ToolCall, emit: Emit) =>
  Effect.gen(function* () {
    const base = { id: call.id, name: call.name, arguments: call.arguments }
    yield* emit({ ...base, status: "started" })
    const start = yield* Clock.currentTimeMillis
    const outcome = yield* execute(tools, call)
    const end = yield* Clock.currentTimeMillis
    const truncated = outcome.result.length > eventResultChars
    yield* emit({
      ...base,
      status: outcome.failed ? "failed" : "completed",
      result: truncated ? head(outcome.result, eventResultChars) : outcome.result,
      ...(truncated ? { result_truncated: true } : {}),
      duration_ms: end - start
    })
    return cutForModel(outcome.text, tools.resultLimit(call.name))
  })

/** Runs calls concurrently (at most `concurrency` at a time); the `tool` messages, in call order. */
export const runCalls = (
  tools: CallTarget,
  calls: ReadonlyArray<ToolCall>,
  emit: Emit,
  concurrency: number
): Effect.Effect<Array<{ readonly role: "tool"; readonly tool_call_id: string; readonly content: string }>> =>
  Effect.map(
    Effect.forEach(calls, (call) => runCall(tools, call, emit), { concurrency }),
    (texts) =>
      calls.map((call, index) => ({
        role: "tool" as const,
        tool_call_id: call.id,
        content: texts[index] ?? ""
      }))
  )
