/**
 * Child process: the gateway's HTTP routes on 127.0.0.1, composed as `mcpgate serve`
 * composes them (`NodeHttpServer.layer`, `NodeHttpClient.layerUndici`), with only
 * the routes a benchmark asks for. argv[2] is JSON:
 *
 *   { "routes": ["openai" | "responses" | "mcp-api" | "mcp-endpoint", …],
 *     "upstream"?: "http://127.0.0.1:<port>/v1",   // server.upstream.baseUrl
 *     "mcpUrl"?: "http://127.0.0.1:<port>/mcp",    // one streamable-HTTP MCP server named "bench"
 *     "otlp"?: "http://127.0.0.1:<port>",           // OTEL_EXPORTER_OTLP_ENDPOINT: traces and metrics exported
 *     "platformFetch"?: true }                       // MCP servers reached with Node's `fetch`, not the pooled one
 *
 * Ready line: `{"url", "echoTool"?}` once listening and, with `mcpUrl`, once the MCP
 * server is connected; or `{"unavailable": "<why>"}` when a route module asked for
 * does not exist yet (the routes are being written while the benchmarks are).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ConfigProvider, Context, Effect, Layer, Predicate } from "effect"
import { FetchHttpClient, HttpRouter, HttpServer } from "effect/http"
import type { McpgateConfig } from "../../packages/core/src/Config.ts"
import * as Telemetry from "../../packages/server/src/http/Telemetry.ts"
import { ModelTools } from "../../packages/server/src/openai/ModelTools.ts"
import * as OpenAiApi from "../../packages/server/src/openai/OpenAiApi.ts"
import { ResponseStore } from "../../packages/server/src/openai/ResponseStore.ts"
import * as ResponsesApi from "../../packages/server/src/openai/ResponsesApi.ts"
import { ToolLoop } from "../../packages/server/src/openai/ToolLoop.ts"
import { Upstream } from "../../packages/server/src/openai/Upstream.ts"
import { Security } from "../../packages/server/src/security/Security.ts"
import { AuthorizedFetch } from "../../packages/transport/src/AuthorizedFetch.ts"
import { McpClientManager } from "../../packages/transport/src/McpClientManager.ts"
import { announceReady } from "./Child.ts"
import { httpServerConfig } from "./McpClients.ts"
import { NodeHttpClient, NodeHttpServer } from "./Platform.ts"

type RouteName = "openai" | "responses" | "mcp-api" | "mcp-endpoint"

interface Options {
  readonly routes: ReadonlyArray<RouteName>
  readonly upstream?: string
  readonly mcpUrl?: string
  readonly otlp?: string
  /** Provide Node's own `fetch` as `FetchHttpClient.Fetch` (what the gateway used before its pooled one). */
  readonly platformFetch?: boolean
}

type RouteLayer = Layer.Layer<
  never,
  unknown,
  HttpRouter.HttpRouter | McpClientManager | Upstream | ToolLoop | ModelTools | ResponseStore | Security
>

const options = JSON.parse(process.argv[2] ?? "{}") as Options

const config: McpgateConfig = {
  ...httpServerConfig(options.mcpUrl ?? ""),
  ...(options.mcpUrl === undefined ? { mcpServers: {} } : {}),
  server: {
    host: "127.0.0.1",
    port: 0,
    // The bench upstream has no Responses API: translate without probing.
    ...(options.upstream === undefined
      ? {}
      : { upstream: { baseUrl: options.upstream, responses: "translate" } })
  }
}

/**
 * The `routes` layer of a server module that may not exist yet, with the module's
 * own service layer provided when it has one (`McpEndpoint.layer()` for
 * `McpEndpoint.routes`); a string says why it is unusable.
 */
const optionalRoutes = async (file: string, service: string): Promise<RouteLayer | string> => {
  const url = new URL(`../../packages/server/src/${file}`, import.meta.url)
  if (!existsSync(url)) return `packages/server/src/${file} does not exist yet`
  const module: unknown = await import(url.href)
  if (!Predicate.hasProperty(module, "routes") || !Layer.isLayer(module.routes)) {
    return `packages/server/src/${file} exports no \`routes\` layer`
  }
  // Requirements are checked when the layer is built: a missing service fails the start.
  const routes = module.routes as RouteLayer
  const owner: unknown = Reflect.get(module, service)
  const makeLayer = Predicate.hasProperty(owner, "layer") ? owner.layer : undefined
  if (typeof makeLayer !== "function") return routes
  const serviceLayer: unknown = makeLayer()
  if (!Layer.isLayer(serviceLayer)) return routes
  return Layer.provide(routes, serviceLayer as Layer.Layer<never, unknown, McpClientManager>) as RouteLayer
}

const routeLayers: Array<RouteLayer> = []
const unavailable: Array<string> = []
for (const route of options.routes) {
  if (route === "openai") {
    routeLayers.push(OpenAiApi.routes)
    continue
  }
  if (route === "responses") {
    routeLayers.push(ResponsesApi.routes)
    continue
  }
  const loaded = await (route === "mcp-api"
    ? optionalRoutes("mcp/McpJsonApi.ts", "McpJsonApi")
    : optionalRoutes("mcp/McpEndpoint.ts", "McpEndpoint"))
  if (typeof loaded === "string") unavailable.push(loaded)
  else routeLayers.push(loaded)
}

const [first, ...rest] = routeLayers
if (unavailable.length > 0 || first === undefined) {
  announceReady({ unavailable: unavailable.join("; ") || "no routes were asked for" })
} else {
  const manager = McpClientManager.layer(config).pipe(
    Layer.provide(AuthorizedFetch.layer),
    // A fetch other than the platform's own is used as given (AuthorizedFetch.ts).
    Layer.provide(
      options.platformFetch === true
        ? Layer.succeed(FetchHttpClient.Fetch, (input, init) => globalThis.fetch(input, init))
        : Layer.empty
    )
  )
  const openAi = ToolLoop.layer({ maxToolCalls: config.maxToolCalls }).pipe(
    Layer.provideMerge(Upstream.layer(config.server.upstream)),
    Layer.provideMerge(ModelTools.layerEmpty),
    Layer.provideMerge(ResponseStore.layerMemory()),
    Layer.provide(NodeHttpClient.layerUndici)
  )
  // The /v1/mcp routes read the public URL from it; no API keys, the admin token in a temporary directory.
  const stateDirectory = mkdtempSync(join(tmpdir(), "mcpgate-bench-"))
  process.on("exit", () => rmSync(stateDirectory, { recursive: true, force: true }))
  const security = Security.layer({ config, host: "127.0.0.1", port: 0, env: {}, stateDirectory })
  // As `mcpgate serve` does with OTEL_EXPORTER_OTLP_ENDPOINT set (docs/observability.md#traces).
  const telemetry =
    options.otlp === undefined
      ? Layer.empty
      : Telemetry.layerFromEnv.pipe(
          Layer.provide(
            ConfigProvider.layer(ConfigProvider.fromEnvRecord({ OTEL_EXPORTER_OTLP_ENDPOINT: options.otlp }))
          ),
          Layer.provide(NodeHttpClient.layerUndici)
        )
  const app = HttpRouter.serve(Layer.mergeAll(first, ...rest), {
    disableLogger: true,
    disableListenLog: true
  }).pipe(
    Layer.provide(openAi),
    Layer.provideMerge(manager),
    Layer.provideMerge(security),
    Layer.provide(telemetry),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )

  const program = Effect.gen(function* () {
    const context = yield* Layer.build(app)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
    const url = `http://127.0.0.1:${address.port}`
    if (options.mcpUrl === undefined) return announceReady({ url })
    const mcp = Context.get(context, McpClientManager)
    const [status] = yield* mcp.awaitSettled
    if (status?.state !== "connected") {
      return yield* Effect.die(`the MCP server did not connect: ${status?.lastError ?? "no status"}`)
    }
    const tools = yield* mcp.tools
    const echo = tools.find((tool) => tool.tool.name === "echo")
    announceReady({ url, echoTool: echo?.publicName })
  }).pipe(Effect.andThen(Effect.never), Effect.scoped)

  Effect.runPromise(program).catch((error: unknown) => {
    process.stderr.write(`gateway: ${String(error)}\n`)
    process.exit(1)
  })
}
