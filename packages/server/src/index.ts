/**
 * `@mcpgate/server`: the gateway's HTTP routes as Effect layers. `Gateway.layer`
 * is the whole server `mcpgate serve` runs; `Gateway.services` gives what the
 * route groups need, so a host can mount `OpenAiApi.routes`, `McpApi.routes` or
 * `McpEndpoint.routes` in its own `HttpRouter`. See README.md.
 */
export * as Gateway from "./Gateway.ts"
export * as McpApi from "./McpApi.ts"
export * as McpEndpoint from "./McpEndpoint.ts"
export * as OpenAiApi from "./OpenAiApi.ts"
export * as ToolLoop from "./ToolLoop.ts"
export * as Upstream from "./Upstream.ts"
