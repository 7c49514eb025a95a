/**
 * The composed HTTP server that `mcpgate serve` launches (ARCHITECTURE.md): every
 * route group over one `McpClientManager`. It needs an `HttpServer` and an
 * `HttpClient` (the CLI provides the Node ones).
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import { AuthorizedFetch } from "@mcpgate/transport/AuthorizedFetch"
import { BuiltinTools } from "@mcpgate/transport/BuiltinTools"
import { McpClientManager } from "@mcpgate/transport/McpClientManager"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as ErrorBody from "./internal/ErrorBody.ts"
import * as McpApi from "./McpApi.ts"
import * as McpToolExecutor from "./McpToolExecutor.ts"
import * as OpenAiApi from "./OpenAiApi.ts"
import { ToolLoop } from "./ToolLoop.ts"
import { Upstream } from "./Upstream.ts"

export interface GatewayOptions {
  readonly config: McpgateConfig
}

/** `GET /health` answers at once, whatever state the MCP servers are in (SPEC §5). */
const healthRoute = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const manager = yield* McpClientManager
    yield* router.add(
      "GET",
      "/health",
      Effect.gen(function* () {
        const servers = (yield* manager.status).filter((server) => server.state !== "disabled")
        const tools = yield* manager.tools
        return HttpServerResponse.jsonUnsafe({
          status: "ok",
          mcp: {
            serversConnected: servers.filter((server) => server.state === "connected").length,
            serversTotal: servers.length,
            toolsAvailable: tools.length
          }
        })
      })
    )
  })
)

const notFoundRoute = HttpRouter.add("*", "*", (request) =>
  Effect.succeed(
    ErrorBody.response(404, {
      message: `no route for ${request.method} ${new URL(request.url, "http://gateway").pathname}`,
      type: "not_found"
    })
  )
)

export const routes = Layer.mergeAll(healthRoute, OpenAiApi.routes, McpApi.routes, notFoundRoute)

/** The MCP client manager with the builtin tools as one more provider. */
export const managerLayer = (config: McpgateConfig) =>
  Layer.unwrap(
    Effect.map(BuiltinTools.make(config.builtins), (builtin) => McpClientManager.layer(config, { builtin }))
  )

/** Everything the routes need, over one manager. */
export const services = (options: GatewayOptions) =>
  ToolLoop.layer({ maxToolCalls: options.config.maxToolCalls }).pipe(
    Layer.provideMerge(Upstream.layer(options.config.server.upstream)),
    Layer.provide(McpToolExecutor.layer),
    Layer.provideMerge(managerLayer(options.config)),
    Layer.provide(AuthorizedFetch.layer)
  )

/** Serves every route on the provided `HttpServer`. */
export const layer = (options: GatewayOptions) =>
  HttpRouter.serve(routes, { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provide(services(options))
  )
