/**
 * `POST /v1/responses` and `GET`/`DELETE /v1/responses/{id}`
 * (docs/gateway.md#responses).
 *
 * Without MCP tools a request goes to the upstream's own Responses API when
 * it has one (`server.upstream.responses`: `auto` finds out with the first
 * request and remembers, `native` always), bytes unchanged both ways. Else, and
 * whenever the request has `mcp` tools or `execute_mcp_tools`, it is
 * translated to chat completions (./ResponsesRequest.ts) and answered by the
 * same tool loop as chat completions, whose outcome is rendered back as a
 * response (./ResponsesOutput.ts, ./ResponsesStream.ts). Responses the gateway
 * produced are kept (unless `store: false`) so that `previous_response_id`
 * continues them.
 */
import { Clock, Effect, Option, Predicate, Random, Ref, Result } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import * as Json from "../http/Json.ts"
import { isJsonObject, type JsonObject } from "./ChatFormat.ts"
import { hasMcpTools } from "./McpToolSelection.ts"
import { ModelTools } from "./ModelTools.ts"
import { bodyError, invalidRequest, invalidTools, readBody } from "./OpenAiApi.ts"
import { ResponseStore, type StoredResponsesUnavailable } from "./ResponseStore.ts"
import * as ResponsesOutput from "./ResponsesOutput.ts"
import { toChat } from "./ResponsesRequest.ts"
import * as ResponsesStream from "./ResponsesStream.ts"
import { ToolLoop } from "./ToolLoop.ts"
import { toServerResponse, Upstream } from "./Upstream.ts"
import * as UpstreamErrorBody from "./UpstreamErrorBody.ts"

/** What `auto` knows about the upstream's Responses API: found out once, again after a failure. */
type Probe = "unknown" | "present" | "absent"

const textEncoder = new TextEncoder()

const streamed = toServerResponse

/** An upstream without `/responses` answers 404, 405 or 501; a 404 for an unknown model is no such sign. */
const lacksResponses = (status: number, body: string) => {
  if (status === 405 || status === 501) return true
  if (status !== 404) return false
  const parsed = Json.parseBytes(textEncoder.encode(body))
  const error = Option.isSome(parsed) && isJsonObject(parsed.value) ? parsed.value.error : undefined
  return !(isJsonObject(error) && error.code === "model_not_found")
}

const sseHeaders = { "cache-control": "no-cache", "x-accel-buffering": "no" }

/** The shared store is out of reach (docs/store.md#outage): 503, the client may retry. */
const storeUnavailable = (error: StoredResponsesUnavailable) =>
  Effect.succeed(
    ErrorBody.response(503, { message: error.message, type: "unavailable", code: "store_unavailable" })
  )

/** The routes; they need `Upstream`, `ToolLoop`, `ModelTools` and `ResponseStore` when built. */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const upstream = yield* Upstream
    const loop = yield* ToolLoop
    const tools = yield* ModelTools
    const store = yield* ResponseStore
    const probe = yield* Ref.make<Probe>("unknown")

    /** Forwards as it is; `undefined` when `auto` learns the upstream has no Responses API. */
    const forward = (request: HttpServerRequest.HttpServerRequest, body: Uint8Array, model: string) =>
      Effect.gen(function* () {
        const response = yield* upstream.forward({
          method: "POST",
          path: "/responses",
          headers: request.headers,
          body,
          model,
          reportsUsage: true
        })
        if (upstream.responses !== "auto" || (response.status >= 200 && response.status < 300)) {
          if (upstream.responses === "auto") yield* Ref.set(probe, "present")
          return yield* streamed(response)
        }
        const text = yield* response.text
        if (lacksResponses(response.status, text)) {
          yield* Ref.set(probe, "absent")
          return undefined
        }
        return HttpServerResponse.text(text, { status: response.status, headers: response.headers })
      })

    const translated = (request: JsonObject, history: ReadonlyArray<unknown>) =>
      Effect.gen(function* () {
        const known = yield* tools.tools
        const publicName = (server: string, tool: string) =>
          known.find((candidate) => candidate.server === server && candidate.tool === tool)?.name ??
          `${server}__${tool}`
        const chat = toChat(request, history, publicName)
        if (Result.isFailure(chat)) return invalidRequest(400, chat.failure.code, chat.failure.message)
        const meta: ResponsesOutput.ResponseMeta = {
          id: `resp_mcpgate_${(yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)}${(yield* Clock.currentTimeMillis).toString(36)}`,
          createdAt: Math.floor((yield* Clock.currentTimeMillis) / 1000),
          request
        }
        // Instructions do not carry over to a continuation (OpenAI's rule): keep the rest.
        const save = (response: JsonObject, messages: ReadonlyArray<unknown>) =>
          request.store === false
            ? Effect.void
            : store.save(meta.id, {
                response,
                messages: messages.slice(Predicate.isString(request.instructions) ? 1 : 0)
              })
        if (request.stream === true) {
          const items = yield* loop.stream(chat.success)
          // The answer is already on its way: a store that fails now only means it is not kept.
          const events = ResponsesStream.toSse(items, meta, (done) =>
            save(done.response, done.messages).pipe(
              Effect.catchTag("StoredResponsesUnavailable", (error) =>
                Effect.logWarning(`response ${meta.id} not kept: ${error.message}`)
              )
            )
          )
          return HttpServerResponse.stream(events, { contentType: "text/event-stream", headers: sseHeaders })
        }
        const result = yield* loop.complete(chat.success)
        const response = ResponsesOutput.fromResult(meta, result)
        yield* save(response, result.messages)
        return HttpServerResponse.jsonUnsafe(response)
      }).pipe(
        Effect.catchTag("InvalidToolRequest", invalidTools),
        // A failed translation may mean the upstream changed: find out again next time.
        Effect.tapError(() => Ref.set(probe, "unknown"))
      )

    const create = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        const bytes = yield* readBody(request)
        const parsed = Json.parseBytes(bytes)
        if (Option.isNone(parsed))
          return invalidRequest(400, "invalid_json", "the request body is not valid JSON")
        const body = parsed.value
        if (!isJsonObject(body) || !Predicate.isString(body.model)) {
          return invalidRequest(
            400,
            "invalid_body",
            'invalid Responses request: a JSON object with "model", a string'
          )
        }
        const previous = body.previous_response_id
        const stored = Predicate.isString(previous) ? yield* store.get(previous) : Option.none()
        const runsTools = body.execute_mcp_tools === true || hasMcpTools(body.tools)
        if (!runsTools && Option.isNone(stored) && upstream.responses !== "translate") {
          if (upstream.responses === "native" || (yield* Ref.get(probe)) !== "absent") {
            const { execute_mcp_tools: _gatewayOnly, ...rest } = body
            const forwarded = "execute_mcp_tools" in body ? textEncoder.encode(JSON.stringify(rest)) : bytes
            const answer = yield* forward(request, forwarded, body.model)
            if (answer !== undefined) return answer
          }
        }
        if (Predicate.isString(previous) && Option.isNone(stored)) {
          return invalidRequest(
            400,
            "previous_response_not_found",
            `previous response "${previous}" is not kept by the gateway (it expired, was stored with "store": false, or is another server's)`
          )
        }
        return yield* translated(
          body,
          Option.match(stored, { onNone: () => [], onSome: (kept) => kept.messages })
        )
      }).pipe(
        Effect.catchTag("HttpServerError", (error) => Effect.succeed(bodyError(error))),
        Effect.catchTag("StoredResponsesUnavailable", storeUnavailable),
        Effect.catch((error) => Effect.succeed(UpstreamErrorBody.upstreamResponse(error))),
        Effect.catchDefect(ErrorBody.internalError)
      )

    /** A kept response, else the upstream's (it may have stored it itself). */
    const byId = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function* () {
        const id = (yield* HttpRouter.params).id ?? ""
        const kept = yield* store.get(id)
        if (Option.isSome(kept)) {
          if (request.method === "GET") return HttpServerResponse.jsonUnsafe(kept.value.response)
          yield* store.remove(id)
          return HttpServerResponse.jsonUnsafe({ id, object: "response.deleted", deleted: true })
        }
        const path = new URL(request.url, "http://gateway").pathname.slice("/v1".length)
        return yield* streamed(
          yield* upstream.forward({
            method: request.method === "GET" ? "GET" : "DELETE",
            path,
            headers: request.headers
          })
        )
      }).pipe(
        Effect.catchTag("StoredResponsesUnavailable", storeUnavailable),
        Effect.catch((error) => Effect.succeed(UpstreamErrorBody.upstreamResponse(error))),
        Effect.catchDefect(ErrorBody.internalError)
      )

    yield* router.add("POST", "/v1/responses", create)
    yield* router.add("GET", "/v1/responses/:id", byId)
    yield* router.add("DELETE", "/v1/responses/:id", byId)
  })
)
