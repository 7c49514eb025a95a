/**
 * The composed HTTP server that `mcpgate serve` launches. It needs an
 * `HttpServer` (the CLI provides the Node one) and grows route by route.
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

export interface GatewayOptions {
  readonly config: McpgateConfig
}

const errorBody = (status: number, type: string, message: string) =>
  HttpServerResponse.jsonUnsafe({ error: { message, type } }, { status })

/** `GET /health` answers at once, whatever state the MCP servers are in (SPEC §5). */
const healthRoute = (options: GatewayOptions) =>
  HttpRouter.add(
    "GET",
    "/health",
    Effect.sync(() => {
      const servers = Object.values(options.config.mcpServers).filter((server) => server.enabled)
      return HttpServerResponse.jsonUnsafe({
        status: "ok",
        mcp: { serversConnected: 0, serversTotal: servers.length, toolsAvailable: 0 }
      })
    })
  )

const notFoundRoute = HttpRouter.add("*", "*", (request) =>
  Effect.succeed(
    errorBody(404, "not_found", `no route for ${request.method} ${new URL(request.url, "http://x").pathname}`)
  )
)

export const routes = (options: GatewayOptions) => Layer.mergeAll(healthRoute(options), notFoundRoute)

/** Serves every route on the provided `HttpServer`. */
export const layer = (options: GatewayOptions) => HttpRouter.serve(routes(options))
