/**
 * `GET /v1/mcp/tools`, `GET /v1/mcp/servers` and `POST /v1/mcp/execute` (SPEC §5):
 * the aggregated tools as plain JSON for clients that do not speak MCP.
 */
import type { ServerStatus } from "@mcpgate/transport/ConnectionState"
import { McpClientManager } from "@mcpgate/transport/McpClientManager"
import { Effect, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import * as Json from "../http/Json.ts"
import * as Security from "../security/Security.ts"

/** `arguments` as an object; absent means `{}`. */
const ExecuteRequest = Schema.Struct({
  tool_name: Schema.String,
  arguments: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
})

export const maxExecuteBodyBytes = 1024 * 1024

const invalid = (message: string, code = "invalid_request") =>
  ErrorBody.response(400, { message, type: "invalid_request_error", code })

const statusForReason = {
  unknown_tool: 404,
  needs_auth: 401,
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

export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const manager = yield* McpClientManager

    yield* router.add(
      "GET",
      "/v1/mcp/tools",
      Effect.map(manager.tools, (tools) =>
        HttpServerResponse.jsonUnsafe({
          tools: tools.map(({ publicName, server, tool }) => ({
            name: publicName,
            server,
            tool: tool.name,
            ...(tool.title === undefined ? {} : { title: tool.title }),
            ...(tool.description === undefined ? {} : { description: tool.description }),
            inputSchema: tool.inputSchema,
            ...(tool.annotations === undefined ? {} : { annotations: tool.annotations })
          }))
        })
      )
    )

    yield* router.add(
      "GET",
      "/v1/mcp/servers",
      Effect.map(manager.status, (servers) =>
        HttpServerResponse.jsonUnsafe({ servers: servers.map(publicStatus) })
      )
    )

    yield* router.add("POST", "/v1/mcp/execute", (request) =>
      Effect.gen(function* () {
        const bytes = yield* Security.readBody(request, maxExecuteBodyBytes).pipe(Effect.result)
        if (bytes._tag === "Failure") return Security.toResponse(bytes.failure)
        const body = Json.parseBytes(bytes.success)
        if (body._tag === "None")
          return invalid("the body must be JSON: {tool_name, arguments}", "invalid_json")
        const decoded = Schema.decodeUnknownOption(ExecuteRequest)(body.value)
        if (decoded._tag === "None") {
          return invalid("expected {tool_name: string, arguments?: object}")
        }
        const { tool_name, arguments: args = {} } = decoded.value
        return yield* manager.call(tool_name, args).pipe(
          Effect.map((result) =>
            HttpServerResponse.jsonUnsafe({
              tool_name,
              content: result.text,
              is_error: result.isError,
              ...(result.structuredContent === undefined
                ? {}
                : { structured_content: result.structuredContent })
            })
          ),
          Effect.catch((error) =>
            Effect.succeed(
              ErrorBody.response(statusForReason[error.reason], {
                message: error.message,
                type: "tool_error",
                code: error.reason
              })
            )
          )
        )
      })
    )
  })
)
