/**
 * `@mcpgate/server`: the gateway's HTTP routes as Effect layers. `Gateway.layer`
 * is the whole server `mcpgate serve` runs; `Gateway.services` gives what the
 * route groups need, so a host can mount `OpenAiApi.routes`, `McpJsonApi.routes` or
 * `McpEndpoint.routes` in its own `HttpRouter`. See README.md.
 */
export * as Gateway from "./Gateway.ts"
export * as McpEndpoint from "./mcp/McpEndpoint.ts"
export * as McpJsonApi from "./mcp/McpJsonApi.ts"
export * as ModelTools from "./openai/ModelTools.ts"
export * as OpenAiApi from "./openai/OpenAiApi.ts"
export * as ToolLoop from "./openai/ToolLoop.ts"
export * as Upstream from "./openai/Upstream.ts"
