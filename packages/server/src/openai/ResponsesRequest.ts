/**
 * A Responses API request as a chat-completions request
 * (docs/gateway.md#responses-translated), for upstreams that only speak chat
 * completions (Ollama, llama.cpp, older vLLM) and for the tool loop, which
 * runs on chat messages whatever API the client speaks.
 *
 * `instructions` become the first system message; input items become
 * messages: consecutive calls (`function_call`, `mcp_call`) join one assistant
 * message, their outputs become `tool` messages, `reasoning` rides on the next
 * assistant message as `reasoning_content`. Function tools keep their schema;
 * `mcp` tools stay as they are for the loop. What has no chat equivalent
 * (hosted tools, file inputs, background mode) is a 400 that says so.
 */
import { Predicate, Result, Schema } from "effect"
import { isJsonObject, type JsonObject } from "./ChatFormat.ts"

/** Something in a Responses request that translation cannot carry (a 400). */
export class UntranslatableRequest extends Schema.TaggedError<UntranslatableRequest>()(
  "UntranslatableRequest",
  { code: Schema.String, message: Schema.String }
) {}

/** The public tool name for an `mcp_call` item's server and tool. */
export type PublicName = (serverLabel: string, tool: string) => string

const refuse = (code: string, message: string) => new UntranslatableRequest({ code, message })

const nativeHint = 'set "server.upstream.responses": "native" for an upstream with its own Responses API'

const textOf = (content: unknown): string => {
  if (Predicate.isString(content)) return content
  if (!Array.isArray(content)) return ""
  return content
    .map((part: unknown) =>
      isJsonObject(part) && Predicate.isString(part.text)
        ? part.text
        : isJsonObject(part) && Predicate.isString(part.refusal)
          ? part.refusal
          : ""
    )
    .join("")
}

/** A user message's content: a string, or chat parts when it carries images. */
const userContent = (content: unknown): unknown => {
  if (!Array.isArray(content)) return textOf(content)
  const parts: Array<JsonObject> = []
  for (const part of content) {
    if (!isJsonObject(part)) continue
    if (part.type === "input_image") {
      if (!Predicate.isString(part.image_url)) {
        throw refuse(
          "unsupported_input",
          `an input_image without image_url (a file_id) cannot be translated: ${nativeHint}`
        )
      }
      parts.push({
        type: "image_url",
        image_url: {
          url: part.image_url,
          ...(Predicate.isString(part.detail) ? { detail: part.detail } : {})
        }
      })
    } else if (part.type === "input_file") {
      throw refuse("unsupported_input", `input_file cannot be translated to chat completions: ${nativeHint}`)
    } else if (Predicate.isString(part.text)) {
      parts.push({ type: "text", text: part.text })
    }
  }
  return parts.every((part) => part.type === "text") ? parts.map((part) => part.text).join("") : parts
}

const outputText = (output: unknown): string => (Predicate.isString(output) ? output : textOf(output))

/** Input items as chat messages (see the module comment). Throws `UntranslatableRequest`. */
const messagesOf = (input: unknown, publicName: PublicName): Array<JsonObject> => {
  if (Predicate.isString(input)) return [{ role: "user", content: input }]
  if (!Array.isArray(input)) return []
  const messages: Array<JsonObject> = []
  let openTurn: { message: JsonObject; calls: Array<JsonObject> } | undefined
  let reasoning = ""
  const assistant = (content: string | null): JsonObject => {
    const message: JsonObject = { role: "assistant", content }
    if (reasoning.length > 0) message.reasoning_content = reasoning
    reasoning = ""
    messages.push(message)
    openTurn = { message, calls: [] }
    return message
  }
  const addCall = (id: string, name: string, args: string) => {
    const turn = openTurn ?? { message: assistant(null), calls: [] }
    openTurn = turn
    turn.calls.push({ id, type: "function", function: { name, arguments: args } })
    turn.message.tool_calls = turn.calls
  }
  for (const item of input) {
    if (!isJsonObject(item)) continue
    const type = item.type ?? (item.role === undefined ? undefined : "message")
    switch (type) {
      case "message": {
        const role = item.role
        if (role === "assistant") {
          assistant(textOf(item.content))
        } else {
          messages.push({
            role: role === "system" || role === "developer" ? "system" : "user",
            content: role === "user" ? userContent(item.content) : textOf(item.content)
          })
          openTurn = undefined
        }
        break
      }
      case "function_call": {
        const name = String(item.name ?? "")
        addCall(
          String(item.call_id ?? item.id ?? ""),
          Predicate.isString(item.namespace) ? flatName(item.namespace, name) : name,
          String(item.arguments ?? "")
        )
        break
      }
      case "function_call_output":
        messages.push({
          role: "tool",
          tool_call_id: String(item.call_id ?? ""),
          content: outputText(item.output)
        })
        break
      case "mcp_call": {
        const id = String(item.id ?? "")
        addCall(
          id,
          publicName(String(item.server_label ?? ""), String(item.name ?? "")),
          String(item.arguments ?? "")
        )
        const error = item.error
        // Clients may send the item back without its output (the Agents SDK does): the
        // loop then finds the result the gateway kept (./PendingTurns.ts).
        if (Predicate.isString(item.output)) {
          messages.push({ role: "tool", tool_call_id: id, content: item.output })
        } else if (error !== undefined && error !== null) {
          const text = isJsonObject(error)
            ? textOf(error.content) || String(error.message ?? "")
            : String(error)
          messages.push({ role: "tool", tool_call_id: id, content: `Error: ${text}` })
        }
        break
      }
      case "reasoning":
        reasoning += [textOf(item.content), textOf(item.summary)].filter((text) => text.length > 0).join("\n")
        break
      // Listings, approvals and references carry nothing the model needs again.
      case "mcp_list_tools":
      case "mcp_approval_request":
      case "mcp_approval_response":
      case "item_reference":
        break
      default:
        throw refuse(
          "unsupported_input",
          `input items of type "${String(type)}" cannot be translated: ${nativeHint}`
        )
    }
  }
  return messages
}

/** A namespaced function (`{"type": "namespace"}` tools) as one chat function name. */
const flatName = (namespace: string, name: string) => `${namespace}__${name}`

const functionTool = (tool: JsonObject, name: string) => ({
  type: "function",
  function: {
    name,
    ...(Predicate.isString(tool.description) ? { description: tool.description } : {}),
    parameters: isJsonObject(tool.parameters) ? tool.parameters : { type: "object", properties: {} },
    ...(Predicate.isBoolean(tool.strict) ? { strict: tool.strict } : {})
  }
})

const unsupportedTool = (tool: unknown) =>
  refuse(
    "unsupported_tool",
    `tools of type "${isJsonObject(tool) ? String(tool.type) : typeof tool}" cannot be translated to chat completions (function, namespace and mcp tools can): ${nativeHint}`
  )

const toolsOf = (tools: unknown): Array<unknown> | undefined => {
  if (!Array.isArray(tools)) return undefined
  return tools.flatMap((tool: unknown): Array<unknown> => {
    if (isJsonObject(tool) && tool.type === "mcp") return [tool]
    if (isJsonObject(tool) && tool.type === "function" && Predicate.isString(tool.name)) {
      return [functionTool(tool, tool.name)]
    }
    if (
      isJsonObject(tool) &&
      tool.type === "namespace" &&
      Predicate.isString(tool.name) &&
      Array.isArray(tool.tools)
    ) {
      const namespace = tool.name
      return tool.tools.map((inner: unknown) => {
        if (!isJsonObject(inner) || inner.type !== "function" || !Predicate.isString(inner.name)) {
          throw unsupportedTool(inner)
        }
        return functionTool(inner, flatName(namespace, inner.name))
      })
    }
    throw unsupportedTool(tool)
  })
}

/** The Responses name (and namespace) of a chat function name this request's tools define. */
export const responsesName = (request: JsonObject) => {
  const namespaced = new Map<string, { readonly namespace: string; readonly name: string }>()
  for (const tool of Array.isArray(request.tools) ? request.tools : []) {
    if (!isJsonObject(tool) || tool.type !== "namespace" || !Predicate.isString(tool.name)) continue
    for (const inner of Array.isArray(tool.tools) ? tool.tools : []) {
      if (isJsonObject(inner) && Predicate.isString(inner.name)) {
        namespaced.set(flatName(tool.name, inner.name), { namespace: tool.name, name: inner.name })
      }
    }
  }
  return (chatName: string): { readonly name: string; readonly namespace?: string } =>
    namespaced.get(chatName) ?? { name: chatName }
}

const toolChoiceOf = (choice: unknown): unknown => {
  if (Predicate.isString(choice)) return choice
  if (!isJsonObject(choice)) return undefined
  if (choice.type === "function" && Predicate.isString(choice.name)) {
    return { type: "function", function: { name: choice.name } }
  }
  if (choice.type === "allowed_tools" && Predicate.isString(choice.mode)) return choice.mode
  if (choice.type === "mcp") return "required"
  return undefined
}

const responseFormatOf = (text: unknown): unknown => {
  const format = isJsonObject(text) ? text.format : undefined
  if (!isJsonObject(format) || format.type === "text") return undefined
  if (format.type === "json_object") return { type: "json_object" }
  if (format.type === "json_schema") {
    const { type: _type, ...schema } = format
    return { type: "json_schema", json_schema: schema }
  }
  return undefined
}

/**
 * The chat request for a Responses request; `history` is the stored
 * conversation `previous_response_id` names (chat messages).
 */
export const toChat = (
  request: JsonObject,
  history: ReadonlyArray<unknown>,
  publicName: PublicName
): Result.Result<JsonObject, UntranslatableRequest> => {
  if (request.background === true) {
    return Result.fail(
      refuse("unsupported_parameter", `"background": true cannot be translated: ${nativeHint}`)
    )
  }
  try {
    const instructions = Predicate.isString(request.instructions) ? request.instructions : undefined
    const messages = [
      ...(instructions === undefined ? [] : [{ role: "system", content: instructions }]),
      ...history,
      ...messagesOf(request.input, publicName)
    ]
    const reasoning = isJsonObject(request.reasoning) ? request.reasoning.effort : undefined
    const chat: JsonObject = {
      model: request.model,
      messages,
      tools: toolsOf(request.tools),
      tool_choice: toolChoiceOf(request.tool_choice),
      response_format: responseFormatOf(request.text),
      max_tokens: request.max_output_tokens,
      temperature: request.temperature,
      top_p: request.top_p,
      parallel_tool_calls: request.parallel_tool_calls,
      user: request.user,
      reasoning_effort: reasoning,
      execute_mcp_tools: request.execute_mcp_tools,
      ...(request.stream === true ? { stream: true, stream_options: { include_usage: true } } : {})
    }
    for (const key of Object.keys(chat)) if (chat[key] === undefined || chat[key] === null) delete chat[key]
    return Result.succeed(chat)
  } catch (error) {
    if (error instanceof UntranslatableRequest) return Result.fail(error)
    throw error
  }
}
