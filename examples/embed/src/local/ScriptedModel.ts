/**
 * A stand-in for an OpenAI-compatible model (Ollama, vLLM, OpenAI) so part 3
 * runs offline: `POST /v1/chat/completions` first asks for the tool named in
 * the user's message, then answers with what the tool returned.
 */
import * as http from "node:http"
import { Effect, Option, Schema, type Scope } from "effect"
import { json, listen, readBody } from "./Http.ts"

const ChatRequest = Schema.Struct({
  messages: Schema.Array(Schema.Struct({ role: Schema.String, content: Schema.optionalKey(Schema.Unknown) }))
})
const decodeChatRequest = Schema.decodeUnknownOption(Schema.fromJsonString(ChatRequest))

const completion = (message: Record<string, unknown>, finishReason: string) => ({
  id: `chatcmpl-${Date.now()}`,
  object: "chat.completion",
  created: Math.floor(Date.now() / 1000),
  model: "scripted",
  choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: finishReason }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
})

/** Starts the model; its base URL (`http://127.0.0.1:<port>/v1`) is what `server.upstream.baseUrl` takes. */
export const start = (tool: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function* () {
    const server = http.createServer(async (request, response) => {
      if (request.method !== "POST" || request.url !== "/v1/chat/completions") {
        return json(response, 404, { error: { message: "not found" } })
      }
      const body = decodeChatRequest(await readBody(request))
      if (Option.isNone(body)) return json(response, 400, { error: { message: "not a chat request" } })
      const toolResult = body.value.messages.findLast((message) => message.role === "tool")
      if (toolResult === undefined) {
        const call = {
          id: "call_1",
          type: "function",
          function: { name: tool, arguments: JSON.stringify({ text: "hello from the host app" }) }
        }
        return json(response, 200, completion({ content: null, tool_calls: [call] }, "tool_calls"))
      }
      return json(
        response,
        200,
        completion({ content: `The tool said: ${String(toolResult.content)}` }, "stop")
      )
    })
    return `${yield* listen(server)}/v1`
  })
