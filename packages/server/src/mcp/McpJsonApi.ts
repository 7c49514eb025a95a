/**
 * `GET /v1/mcp/tools`, `GET /v1/mcp/servers` and `POST /v1/mcp/execute`
 * (docs/http-api.md#plain-json-tool-routes): the handlers of the group in
 * ../api/McpJsonHttpApi.ts, and its API-key middleware.
 *
 * Each handler is a function of its decoded input that answers data or a
 * typed error; the builder encodes both with the group's schemas. The execute
 * body is read here, not by the builder: it is JSON whatever its
 * `Content-Type`, at most `maxExecuteBodyBytes`.
 */
import type { ServerStatus } from "@mcpgate/transport/ConnectionState"
import type { ToolCallError } from "@mcpgate/transport/Errors"
import {
  type AggregatedTool,
  McpClientManager,
  type McpClientManagerShape
} from "@mcpgate/transport/McpClientManager"
import type { NormalizedToolResult } from "@mcpgate/transport/ToolResult"
import { Effect, Layer, Option, Schema } from "effect"
import { HttpServer, type HttpServerRequest, HttpServerRequest as ServerRequest } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as ApiErrors from "../api/ApiErrors.ts"
import {
  ApiKey,
  type ExecuteAnswer,
  ExecuteRequest,
  McpJsonErrors,
  McpJsonHttpApi,
  type ToolsAnswer
} from "../api/McpJsonHttpApi.ts"
import * as Json from "../http/Json.ts"
import { readBody } from "../security/BodyLimits.ts"
import { refusedAs } from "../security/Refusals.ts"
import { CurrentPrincipal, Security, withAccess } from "../security/Security.ts"
import { CallerTools } from "../teams/CallerTools.ts"

export { ExecuteRequest } from "../api/McpJsonHttpApi.ts"

export const maxExecuteBodyBytes = 1024 * 1024

/** Why a call could not run, by its reason; `needs_auth` is a 409, not a 401 (see McpJsonErrors). */
const codeForReason = {
  unknown_tool: McpJsonErrors.unknownTool,
  needs_auth: McpJsonErrors.needsAuth,
  disconnected: McpJsonErrors.disconnected,
  timeout: McpJsonErrors.timeout,
  transport: McpJsonErrors.transport
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

/** `GET /v1/mcp/tools`: the tools `tools` lists (the manager's, or the caller's view of them). */
export const listTools = (tools: Effect.Effect<ReadonlyArray<AggregatedTool>>): Effect.Effect<ToolsAnswer> =>
  Effect.map(tools, (tools) => ({
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

/**
 * A call that could not be carried out, with the reason as `code`; a login need
 * says where to log in (`loginHint` undefined: the message already does).
 */
const toolRefusal = (error: ToolCallError, loginHint: string | undefined) =>
  codeForReason[error.reason].make(
    error.reason === "needs_auth" && loginHint !== undefined
      ? `${error.message}, ${loginHint}`
      : error.message
  )

/** Where the gateway's own logins happen. */
const adminHint = (adminUrl: string | undefined) =>
  `or sign in from the admin UI${adminUrl === undefined ? "" : ` (${adminUrl})`}`

/**
 * `POST /v1/mcp/execute`: the tool's own result (its `isError` included), or why
 * it could not run. `loginHint` ends a "needs login" answer of a server (where
 * to log in); `undefined` for a server whose message already says it.
 */
export const execute = (
  call: (
    name: string,
    args: Readonly<Record<string, unknown>>
  ) => Effect.Effect<NormalizedToolResult, ToolCallError>,
  request: ExecuteRequest,
  loginHint: (server: string) => string | undefined
): Effect.Effect<
  ExecuteAnswer,
  | ApiErrors.NotFound
  | ApiErrors.Conflict
  | ApiErrors.BadGateway
  | ApiErrors.ServiceUnavailable
  | ApiErrors.GatewayTimeout
> =>
  call(request.tool_name, request.arguments ?? {}).pipe(
    Effect.map((result) => ({
      tool_name: request.tool_name,
      content: result.text,
      is_error: result.isError,
      ...(result.structuredContent === undefined ? {} : { structured_content: result.structuredContent })
    })),
    Effect.mapError((error) => toolRefusal(error, loginHint(error.server)))
  )

const decodeExecute = Schema.decodeUnknownOption(ExecuteRequest)

/** The execute body: at most `maxExecuteBodyBytes` of JSON `{tool_name, arguments?}`. */
const readExecuteRequest = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const bytes = yield* readBody(request, maxExecuteBodyBytes).pipe(
      Effect.catch(refusedAs([ApiErrors.PayloadTooLarge, ApiErrors.BadRequest]))
    )
    const body = Json.parseBytes(bytes)
    if (Option.isNone(body)) {
      return yield* McpJsonErrors.invalidJson.make("the body must be JSON: {tool_name, arguments}")
    }
    const decoded = decodeExecute(body.value)
    if (Option.isNone(decoded)) {
      return yield* McpJsonErrors.invalidRequest.make("expected {tool_name: string, arguments?: object}")
    }
    return decoded.value
  })

/** `security.authorizeApi` in front of every route of the group. */
const apiKeyLayer = Layer.effect(
  ApiKey,
  Effect.map(Security, (security) =>
    ApiKey.of((httpEffect) =>
      Effect.flatMap(ServerRequest.HttpServerRequest, (request) =>
        security.authorizeApi(request).pipe(
          Effect.catch(
            refusedAs([ApiErrors.Unauthorized, ApiErrors.Forbidden, ApiErrors.ServiceUnavailable])
          ),
          Effect.flatMap((access) => withAccess(httpEffect, access))
        )
      )
    )
  )
)

const handlers = HttpApiBuilder.group(
  McpJsonHttpApi,
  "mcp",
  Effect.fnUntraced(function* (group) {
    const manager = yield* McpClientManager
    const publicUrl = (yield* Security).addresses.publicUrl
    const adminUrl = publicUrl === undefined ? undefined : `${publicUrl}/admin`
    // As the caller (docs/teams.md#per-user-tool-calls) when the gateway has users; else the manager's tools.
    const caller = Option.getOrUndefined(yield* Effect.serviceOption(CallerTools))
    const loginHint = (server: string) =>
      caller?.isUserServer(server) === true ? undefined : adminHint(adminUrl)
    const run = (decoded: ExecuteRequest) =>
      caller === undefined
        ? execute(manager.call, decoded, loginHint)
        : Effect.flatMap(CurrentPrincipal, (principal) =>
            execute((name, args) => caller.call(principal, name, args), decoded, loginHint)
          )
    return group
      .handle("tools", () =>
        listTools(caller === undefined ? manager.tools : Effect.flatMap(CurrentPrincipal, caller.tools))
      )
      .handle("servers", () => listServers(manager))
      .handleRaw("execute", ({ request }) => Effect.flatMap(readExecuteRequest(request), run))
  })
)

/** The routes, behind `server.apiKeys`; they need `McpClientManager` and `Security`. */
export const routes = HttpApiBuilder.layer(McpJsonHttpApi).pipe(
  Layer.provide(handlers),
  Layer.provide(apiKeyLayer),
  // The builder's platform services; these routes serve no files.
  Layer.provide(HttpServer.layerServices)
)
