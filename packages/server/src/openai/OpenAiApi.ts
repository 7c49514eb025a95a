/**
 * The OpenAI-compatible routes: `POST /v1/chat/completions`
 * (docs/gateway.md#chat-completions) and `GET /v1/models` (docs/gateway.md#models).
 *
 * Without `execute_mcp_tools` a chat request is a faithful pass-through: the
 * body is parsed once (to validate it and look for the flag; a byte search
 * would be cheaper but could not validate) and its original bytes are
 * forwarded; the answer is streamed back byte for byte, never parsed. With
 * `"execute_mcp_tools": true` the `ToolLoop` answers.
 *
 * Mount with `OpenAiApi.routes` beside the other `HttpRouter.add` layers; it
 * needs `Upstream` and `ToolLoop`. API keys are checked by a middleware around it.
 */
import { ByteSize, Effect, Option, Result, Schema, type Stream } from "effect"
import {
  HttpIncomingMessage,
  HttpMethod,
  HttpRouter,
  type HttpServerError,
  type HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import * as Json from "../http/Json.ts"
import { ChatRequest, isJsonObject, type JsonObject } from "./ChatFormat.ts"
import * as ChatStream from "./ChatStream.ts"
import { hasMcpTools, type InvalidToolRequest } from "./McpToolSelection.ts"
import { ToolLoop } from "./ToolLoop.ts"
import { toServerResponse, Upstream } from "./Upstream.ts"
import * as UpstreamErrorBody from "./UpstreamErrorBody.ts"

/** Request bodies above this are refused with 413 (prompts with images stay well below). */
export const maxBodyBytes = 10 * 1024 * 1024

export const invalidRequest = (status: number, code: string, message: string) =>
  ErrorBody.response(status, { message, type: "invalid_request_error", code })

export const bodyError = (error: HttpServerError.HttpServerError) =>
  error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
    ? invalidRequest(413, "body_too_large", `the request body is larger than ${maxBodyBytes} bytes`)
    : invalidRequest(400, "unreadable_body", `the request body could not be read: ${error.message}`)

export const readBody = (request: HttpServerRequest.HttpServerRequest) =>
  request.arrayBuffer.pipe(
    Effect.map((buffer) => new Uint8Array(buffer)),
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes))
  )

const textEncoder = new TextEncoder()

/** A request's `mcp` tools (or too many tools) refused: docs/gateway.md#mcp-tools-per-request. */
export const invalidTools = (error: InvalidToolRequest) =>
  Effect.succeed(invalidRequest(400, error.code, error.message))

const decodeChatRequest = Schema.decodeUnknownResult(ChatRequest)

const querySuffix = (url: string) => {
  const index = url.indexOf("?")
  return index === -1 ? "" : url.slice(index)
}

/** The routes; they need `Upstream` and `ToolLoop` when built. */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const upstream = yield* Upstream
    const loop = yield* ToolLoop

    /** `model` is the chat body's, already parsed: it labels the metrics, and the answer's usage is counted. */
    const passThrough = (
      request: HttpServerRequest.HttpServerRequest,
      method: HttpMethod.HttpMethod,
      path: string,
      body?: Uint8Array | Stream.Stream<Uint8Array, unknown>,
      model?: string
    ) =>
      Effect.flatMap(
        upstream.forward({
          method,
          path: path + querySuffix(request.url),
          headers: request.headers,
          body,
          model,
          reportsUsage: model !== undefined
        }),
        toServerResponse
      )

    const runLoop = (body: JsonObject) =>
      body.stream === true
        ? Effect.flatMap(loop.stream(body), (items) =>
            Effect.map(ChatStream.toSse(items, body), (frames) =>
              HttpServerResponse.stream(frames, {
                contentType: "text/event-stream",
                headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
              })
            )
          )
        : Effect.map(loop.complete(body), (result) =>
            HttpServerResponse.jsonUnsafe({ ...result.completion, mcp_tool_events: result.events })
          )

    const chatCompletions = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        const bytes = yield* readBody(request)
        const parsed = Json.parseBytes(bytes)
        if (Option.isNone(parsed))
          return invalidRequest(400, "invalid_json", "the request body is not valid JSON")
        const decoded = decodeChatRequest(parsed.value)
        if (Result.isFailure(decoded) || !isJsonObject(parsed.value)) {
          const detail = Result.isFailure(decoded) ? decoded.failure.message.replace(/\s*\n\s*/g, " ") : ""
          return invalidRequest(
            400,
            "invalid_body",
            `invalid chat request: ${detail} (a JSON object with "model", a string, and "messages", an array)`
          )
        }
        const body = parsed.value
        if (body.execute_mcp_tools === true || hasMcpTools(body.tools)) {
          if (body.n !== undefined && body.n !== null && body.n !== 1) {
            return invalidRequest(
              400,
              "unsupported_n",
              'the gateway runs MCP tools for one conversation: "n" must be 1'
            )
          }
          return yield* runLoop(body).pipe(Effect.catchTag("InvalidToolRequest", invalidTools))
        }
        if (!("execute_mcp_tools" in body)) {
          return yield* passThrough(request, "POST", "/chat/completions", bytes, decoded.success.model)
        }
        // `"execute_mcp_tools": false` is still a gateway field, which OpenAI would refuse.
        const { execute_mcp_tools: _gatewayOnly, ...forwarded } = body
        return yield* passThrough(
          request,
          "POST",
          "/chat/completions",
          textEncoder.encode(JSON.stringify(forwarded)),
          decoded.success.model
        )
      }).pipe(
        Effect.catchTag("HttpServerError", (error) => Effect.succeed(bodyError(error))),
        Effect.catch((error) => Effect.succeed(UpstreamErrorBody.upstreamResponse(error))),
        Effect.catchDefect(ErrorBody.internalError)
      )

    const models = (request: HttpServerRequest.HttpServerRequest) =>
      passThrough(request, "GET", "/models").pipe(
        Effect.catch((error) => Effect.succeed(UpstreamErrorBody.upstreamResponse(error))),
        Effect.catchDefect(ErrorBody.internalError)
      )

    // Everything else under /v1 (embeddings, audio, images, files …) goes to the upstream
    // untouched, bodies streamed both ways (docs/gateway.md#other-routes).
    const other = (request: HttpServerRequest.HttpServerRequest) => {
      const path = new URL(request.url, "http://gateway").pathname
      if (path.startsWith("/v1/mcp/") || !HttpMethod.isHttpMethod(request.method)) {
        return Effect.succeed(
          ErrorBody.response(404, { message: `no route for ${request.method} ${path}`, type: "not_found" })
        )
      }
      return passThrough(request, request.method, path.slice("/v1".length), request.stream).pipe(
        Effect.catch((error) => Effect.succeed(UpstreamErrorBody.upstreamResponse(error))),
        Effect.catchDefect(ErrorBody.internalError)
      )
    }

    yield* router.add("POST", "/v1/chat/completions", chatCompletions)
    yield* router.add("GET", "/v1/models", models)
    yield* router.add("*", "/v1/*", other)
  })
)
