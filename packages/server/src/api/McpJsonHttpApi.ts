/**
 * The plain JSON tool routes as an `effect/http-api` group
 * (docs/http-api.md#plain-json-tool-routes): the aggregated tools for clients
 * that do not speak MCP. Definitions only: the handlers are in
 * ../mcp/McpJsonApi.ts.
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, OpenApi } from "effect/http-api"
import * as AdminSchemas from "./AdminSchemas.ts"
import * as ApiErrors from "./ApiErrors.ts"

const { documentedCode, errorCode } = ApiErrors

/** The codes the tool routes answer. */
export const McpJsonErrors = {
  invalidApiKey: documentedCode(
    ApiErrors.Unauthorized,
    "authentication_error",
    "invalid_api_key",
    'with `server.apiKeys`: no key, or a wrong one (`WWW-Authenticate: Bearer realm="mcpgate"`)'
  ),
  missingCredentials: documentedCode(
    ApiErrors.Unauthorized,
    "authentication_error",
    "missing_credentials",
    "with `server.auth`: no bearer token (`WWW-Authenticate: Bearer resource_metadata=…`, RFC 9728 §5.1)"
  ),
  invalidToken: documentedCode(
    ApiErrors.Unauthorized,
    "authentication_error",
    "invalid_token",
    'with `server.auth`: neither an API key nor an access token the gateway accepts (expired, another audience or issuer, a bad signature; `error="invalid_token"`)'
  ),
  insufficientScope: documentedCode(
    ApiErrors.Forbidden,
    "permission_error",
    "insufficient_scope",
    "with `server.auth`: the access token lacks a scope of `server.auth.scopes`"
  ),
  providerUnavailable: documentedCode(
    ApiErrors.ServiceUnavailable,
    "server_error",
    "identity_provider_unavailable",
    "with `server.auth`: the provider's metadata, keys or introspection could not be read"
  ),
  forbiddenHost: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "forbidden_host",
    "without `server.apiKeys`: a `Host` that is neither loopback nor the public URL's (a DNS-rebinding guard)"
  ),
  forbiddenOrigin: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "forbidden_origin",
    "without `server.apiKeys`: an `Origin` of another site"
  ),
  invalidJson: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "invalid_json",
    "the body is not JSON (UTF-8)"
  ),
  invalidRequest: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "invalid_request",
    "the body is not `{tool_name: string, arguments?: object}`"
  ),
  unreadableBody: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "unreadable_body",
    "the body could not be read"
  ),
  bodyTooLarge: errorCode(
    ApiErrors.PayloadTooLarge,
    "invalid_request_error",
    "body_too_large",
    "a body over 1 MB"
  ),
  unknownTool: errorCode(ApiErrors.NotFound, "tool_error", "unknown_tool", "no tool of that public name"),
  needsAuth: errorCode(
    ApiErrors.Conflict,
    "tool_error",
    "needs_auth",
    "the tool's server needs a login: the message says to run `mcpgate login <server>` or to sign in from the admin UI; for a per-user server the caller has not connected, to connect at `<publicUrl>/connections` (not a 401, which clients read as a wrong gateway key)"
  ),
  transport: errorCode(
    ApiErrors.BadGateway,
    "tool_error",
    "transport",
    "the server failed to answer the call"
  ),
  disconnected: errorCode(
    ApiErrors.ServiceUnavailable,
    "tool_error",
    "disconnected",
    "the tool's server is not connected"
  ),
  timeout: errorCode(
    ApiErrors.GatewayTimeout,
    "tool_error",
    "timeout",
    "the call took longer than its timeout"
  )
} as const

/**
 * `server.apiKeys` (docs/gateway.md#api-keys): one of them as a bearer token;
 * without keys (loopback only) a foreign `Host` or `Origin` is refused.
 */
export class ApiKey extends HttpApiMiddleware.Service<ApiKey>()("@mcpgate/server/api/ApiKey", {
  error: [ApiErrors.UnauthorizedJson, ApiErrors.ForbiddenJson, ApiErrors.ServiceUnavailableJson]
}) {
  static readonly auth =
    "an API key as `Authorization: Bearer <key>` when `server.apiKeys` or `server.users` is set, or an access token of `server.auth`'s provider; without any (loopback only) none"
  static readonly codes = [
    McpJsonErrors.invalidApiKey,
    McpJsonErrors.missingCredentials,
    McpJsonErrors.invalidToken,
    McpJsonErrors.insufficientScope,
    McpJsonErrors.providerUnavailable,
    McpJsonErrors.forbiddenHost,
    McpJsonErrors.forbiddenOrigin
  ]
}

/** A tool as the plain JSON routes list it. */
export const McpTool = Schema.Struct({
  name: Schema.String.annotate({ description: "the public name (docs/connections.md#tool-names)" }),
  server: Schema.String,
  tool: Schema.String.annotate({ description: "the server's own name for it" }),
  title: Schema.optionalKey(Schema.String),
  description: Schema.optionalKey(Schema.String),
  inputSchema: AdminSchemas.OpaqueJson.annotate({ description: "the JSON Schema of its arguments" }),
  annotations: Schema.optionalKey(
    AdminSchemas.OpaqueJson.annotate({ description: "the MCP tool annotations" })
  )
}).annotate({ identifier: "McpTool" })

export const ToolsAnswer = Schema.Struct({ tools: Schema.Array(McpTool) }).annotate({
  identifier: "ToolsAnswer"
})
export type ToolsAnswer = typeof ToolsAnswer.Type

export const PublicServersAnswer = Schema.Struct({
  servers: Schema.Array(AdminSchemas.PublicServerStatus)
}).annotate({ identifier: "PublicServersAnswer" })

/** `arguments` as an object; absent means `{}`. */
export const ExecuteRequest = Schema.Struct({
  tool_name: Schema.String.annotate({ description: "a tool's public name" }),
  arguments: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
}).annotate({ identifier: "ExecuteRequest" })
export type ExecuteRequest = typeof ExecuteRequest.Type

/** The tool's own result, its `isError` included. */
export const ExecuteAnswer = Schema.Struct({
  tool_name: Schema.String,
  content: Schema.String.annotate({ description: "every content block as text" }),
  is_error: Schema.Boolean.annotate({ description: "the server's own `isError`" }),
  structured_content: Schema.optionalKey(Schema.Record(Schema.String, AdminSchemas.OpaqueJson))
}).annotate({ identifier: "ExecuteAnswer" })
export type ExecuteAnswer = typeof ExecuteAnswer.Type

const describe = (description: string) => OpenApi.annotations({ description })

export class McpJsonGroup extends HttpApiGroup.make("mcp")
  .add(
    HttpApiEndpoint.get("tools", "/tools", { success: ToolsAnswer }).annotateMerge(
      describe(
        "The aggregated tools of every connected server, the builtins included, as the caller sees them: a user's own per-user servers and `<server>__connect` for those not connected (docs/teams.md#per-user-tool-calls)."
      )
    ),
    HttpApiEndpoint.get("servers", "/servers", { success: PublicServersAnswer }).annotateMerge(
      describe("Each server's status (docs/connections.md#states).")
    ),
    HttpApiEndpoint.post("execute", "/execute", {
      payload: ExecuteRequest,
      success: ExecuteAnswer,
      error: [
        ApiErrors.BadRequestJson,
        ApiErrors.NotFoundJson,
        ApiErrors.ConflictJson,
        ApiErrors.PayloadTooLargeJson,
        ApiErrors.BadGatewayJson,
        ApiErrors.ServiceUnavailableJson,
        ApiErrors.GatewayTimeoutJson
      ]
    })
      .annotateMerge(
        describe(
          "Calls one tool. The body is read as JSON whatever its `Content-Type`. A result with `is_error` is still a 200: the tool ran and said so; an error answer means it could not run."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [
        McpJsonErrors.invalidJson,
        McpJsonErrors.invalidRequest,
        McpJsonErrors.unreadableBody,
        McpJsonErrors.bodyTooLarge,
        McpJsonErrors.unknownTool,
        McpJsonErrors.needsAuth,
        McpJsonErrors.transport,
        McpJsonErrors.disconnected,
        McpJsonErrors.timeout
      ])
  )
  .middleware(ApiKey)
  .prefix("/v1/mcp")
  .annotateMerge(OpenApi.annotations({ title: "Tools" })) {}

export class McpJsonHttpApi extends HttpApi.make("mcp-json")
  .add(McpJsonGroup)
  .annotateMerge(
    OpenApi.annotations({
      title: "Plain JSON tool routes",
      description: "Under `/v1/mcp/`: the aggregated MCP tools for clients that do not speak MCP."
    })
  ) {}
