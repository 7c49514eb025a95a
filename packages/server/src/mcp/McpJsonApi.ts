/**
 * `GET /v1/mcp/tools`, `GET /v1/mcp/servers` and `POST /v1/mcp/execute`
 * (docs/gateway.md#plain-json-tool-routes): the aggregated tools as plain JSON
 * for clients that do not speak MCP.
 *
 * Each handler is a function of its decoded input that answers data or a
 * `Refused`; the routes below only read and decode the request and write the
 * answer.
 */
import type { ServerStatus } from "@mcpgate/transport/ConnectionState"
import type { ToolCallError } from "@mcpgate/transport/Errors"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Effect, Option, Schema } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { Refused, toResponse } from "../http/ErrorBody.ts"
import * as Json from "../http/Json.ts"
import { readBody } from "../security/BodyLimits.ts"
import { Security } from "../security/Security.ts"

/** `arguments` as an object; absent means `{}`. */
export const ExecuteRequest = Schema.Struct({
  tool_name: Schema.String,
  arguments: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
})
export type ExecuteRequest = typeof ExecuteRequest.Type

export const maxExecuteBodyBytes = 1024 * 1024

const invalid = (message: string, code = "invalid_request") =>
  new Refused({ status: 400, type: "invalid_request_error", code, message })

// `needs_auth` is a conflict with the server's state, not 401: clients read a 401
// here as a wrong gateway key (RFC 9110 §15.5.10).
const statusForReason = {
  unknown_tool: 404,
  needs_auth: 409,
  disconnected: 503,
  timeout: 504,
  transport: 502
} as const

/**
 * A server's status for API-key holders: field by field, without a stdio
 * server's stderr (a detail of the host, for the admin API only).
 */
const publicStatus = (status: ServerStatus) => ({
  name: status.name,
  transport: status.transport,
  state: status.state,
  attempts: status.attempts,
  toolCount: status.toolCount,
  ...(status.lastError === undefined ? {} : { lastError: status.lastError }),
  ...(status.lastConnectedAt === undefined ? {} : { lastConnectedAt: status.lastConnectedAt }),
  ...(status.nextRetryAt === undefined ? {} : { nextRetryAt: status.nextRetryAt }),
  ...(status.serverInfo === undefined ? {} : { serverInfo: status.serverInfo }),
  ...(status.pid === undefined ? {} : { pid: status.pid })
})

/** `GET /v1/mcp/tools`. */
export const listTools = (manager: McpClientManagerShape) =>
  Effect.map(manager.tools, (tools) => ({
    tools: tools.map(({ publicName, server, tool }) => ({
      name: publicName,
      server,
      tool: tool.name,
      ...(tool.title === undefined ? {} : { title: tool.title }),
      ...(tool.description === undefined ? {} : { description: tool.description }),
      inputSchema: tool.inputSchema,
      ...(tool.annotations === undefined ? {} : { annotations: tool.annotations })
    }))
  }))

/** `GET /v1/mcp/servers`. */
export const listServers = (manager: McpClientManagerShape) =>
  Effect.map(manager.status, (servers) => ({ servers: servers.map(publicStatus) }))

/** A call that could not be carried out, with the reason as `code`; a login need says where to log in. */
const toolRefusal = (error: ToolCallError, adminUrl: string | undefined) =>
  new Refused({
    status: statusForReason[error.reason],
    type: "tool_error",
    code: error.reason,
    message:
      error.reason === "needs_auth"
        ? `${error.message}, or sign in from the admin UI${adminUrl === undefined ? "" : ` (${adminUrl})`}`
        : error.message
  })

/**
 * `POST /v1/mcp/execute`: the tool's own result (its `isError` included), or why
 * it could not run. `adminUrl` is the admin page a "needs login" answer names.
 */
export const execute = (
  manager: McpClientManagerShape,
  request: ExecuteRequest,
  adminUrl: string | undefined
) =>
  manager.call(request.tool_name, request.arguments ?? {}).pipe(
    Effect.map((result) => ({
      tool_name: request.tool_name,
      content: result.text,
      is_error: result.isError,
      ...(result.structuredContent === undefined ? {} : { structured_content: result.structuredContent })
    })),
    Effect.mapError((error) => toolRefusal(error, adminUrl))
  )

const decodeExecute = Schema.decodeUnknownOption(ExecuteRequest)

/** The execute body: at most `maxExecuteBodyBytes` of JSON `{tool_name, arguments?}`. */
const readExecuteRequest = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const body = Json.parseBytes(yield* readBody(request, maxExecuteBodyBytes))
    if (body._tag === "None") {
      return yield* invalid("the body must be JSON: {tool_name, arguments}", "invalid_json")
    }
    const decoded = decodeExecute(body.value)
    if (decoded._tag === "None") return yield* invalid("expected {tool_name: string, arguments?: object}")
    return decoded.value
  })

const answer = <A, R>(effect: Effect.Effect<A, Refused, R>) =>
  effect.pipe(
    Effect.map((body) => HttpServerResponse.jsonUnsafe(body)),
    Effect.catchTag("Refused", (refused) => Effect.succeed(toResponse(refused)))
  )

/** The routes; they need `McpClientManager`, and take the admin page's address from `Security` when it is there. */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const manager = yield* McpClientManager
    const security = yield* Effect.serviceOption(Security)
    const publicUrl = Option.getOrUndefined(security)?.addresses.publicUrl
    const adminUrl = publicUrl === undefined ? undefined : `${publicUrl}/admin`
    yield* router.add("GET", "/v1/mcp/tools", answer(listTools(manager)))
    yield* router.add("GET", "/v1/mcp/servers", answer(listServers(manager)))
    yield* router.add("POST", "/v1/mcp/execute", (request) =>
      answer(Effect.flatMap(readExecuteRequest(request), (decoded) => execute(manager, decoded, adminUrl)))
    )
  })
)
