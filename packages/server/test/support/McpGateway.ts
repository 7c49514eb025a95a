/**
 * The `/mcp` endpoint served for real on 127.0.0.1 (port 0): the endpoint's routes
 * over a live `McpClientManager` (real MCP servers, the builtin tools), and SDK
 * clients that connect to it with the streamable-HTTP client transport.
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { BuiltinsConfig, McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { AuthorizedFetch } from "@mcpgate/transport/AuthorizedFetch"
import * as BuiltinTools from "@mcpgate/transport/BuiltinTools"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import { Context, Duration, Effect, Layer, Queue, Redacted, type Scope } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import {
  McpEndpoint,
  type McpEndpointOptions,
  type McpEndpointShape,
  routes
} from "../../src/mcp/McpEndpoint.ts"
import { apiKeyMiddleware, Security } from "../../src/security/Security.ts"

export interface McpGatewayOptions {
  readonly servers: ReadonlyArray<ServerConfig>
  readonly builtins?: BuiltinsConfig
  readonly endpoint?: McpEndpointOptions
  /** When set, `/mcp` sits behind the gateway's API-key middleware (`server.apiKeys`). */
  readonly apiKeys?: ReadonlyArray<string>
}

export interface McpGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** `http://127.0.0.1:<port>/mcp` */
  readonly mcpUrl: string
  readonly manager: McpClientManagerShape
  readonly endpoint: McpEndpointShape
}

export const builtinsOff: BuiltinsConfig = {
  fetch: { enabled: false, allowPrivateNetwork: false },
  webSearch: { enabled: false, provider: "duckduckgo" }
}

export const config = (options: McpGatewayOptions): McpgateConfig => ({
  mcpServers: Object.fromEntries(options.servers.map((server) => [server.name, server])),
  maxToolCalls: 10,
  store: { type: "local" },
  defaultTimeout: 10,
  builtins: options.builtins ?? builtinsOff,
  server:
    options.apiKeys === undefined
      ? { host: "127.0.0.1", port: 0 }
      : {
          host: "127.0.0.1",
          port: 0,
          apiKeys: options.apiKeys.map((key) => Redacted.make(key)),
          adminToken: Redacted.make("admin-token-of-the-test-gateway")
        }
})

/** A normalized server entry (what `ConfigFile` would produce). */
export const server = (name: string, fields: Partial<Omit<ServerConfig, "name">>): ServerConfig => ({
  name,
  transport: fields.command !== undefined ? "stdio" : "auto",
  args: [],
  env: {},
  headers: {},
  enabled: true,
  ...fields
})

/** Serves the endpoint until the scope closes; waits until every server has had its first attempt. */
export const start = (options: McpGatewayOptions): Effect.Effect<McpGateway, never, Scope.Scope> =>
  Effect.gen(function* () {
    const gatewayConfig = config(options)
    const builtin = yield* BuiltinTools.make(gatewayConfig.builtins)
    const manager = McpClientManager.layer(gatewayConfig, {
      builtin,
      backoff: { initialMs: 50, maxMs: 400 },
      termGraceMs: 300,
      killGraceMs: 300,
      healthCheckIntervalMs: 0
    }).pipe(Layer.provide(AuthorizedFetch.layer))
    const services = McpEndpoint.layer(options.endpoint).pipe(Layer.provideMerge(manager))
    const mcpRoutes =
      options.apiKeys === undefined
        ? routes
        : routes.pipe(
            Layer.provide(apiKeyMiddleware.layer),
            Layer.provide(Security.layer({ config: gatewayConfig, host: "127.0.0.1", port: 0, env: {} }))
          )
    // As the gateway composes it: sessions close before the HTTP server's graceful shutdown.
    const app = McpEndpoint.layerCloseFirst.pipe(
      Layer.provideMerge(HttpRouter.serve(mcpRoutes, { disableLogger: true, disableListenLog: true })),
      Layer.provideMerge(services),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    )
    const context = yield* Layer.build(app).pipe(Effect.orDie)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
    const url = `http://127.0.0.1:${address.port}`
    const gateway: McpGateway = {
      url,
      mcpUrl: `${url}/mcp`,
      manager: Context.get(context, McpClientManager),
      endpoint: Context.get(context, McpEndpoint)
    }
    yield* gateway.manager.awaitSettled
    return gateway
  })

export interface ConnectedClient {
  readonly client: Client
  readonly transport: StreamableHTTPClientTransport
  /** Waits for the next notifications/tools/list_changed (fails after 5 s). */
  readonly nextListChanged: Effect.Effect<void, unknown>
}

/** An SDK client connected to the gateway's `/mcp`; closed with the scope (without ending the session). */
export const connect = (
  gateway: McpGateway,
  name = "test-client"
): Effect.Effect<ConnectedClient, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const listChanged = yield* Queue.unbounded<void>()
    const { client, transport } = yield* Effect.acquireRelease(
      promise(async () => {
        const client = new Client({ name, version: "1.0.0" })
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
          Queue.offerUnsafe(listChanged, undefined)
        })
        const transport = new StreamableHTTPClientTransport(new URL(gateway.mcpUrl))
        await client.connect(transport)
        return { client, transport }
      }),
      ({ client }) => Effect.promise(() => client.close())
    )
    const nextListChanged = Queue.take(listChanged).pipe(Effect.timeout(Duration.seconds(5)))
    return { client, transport, nextListChanged }
  })

/** Runs a promise-returning function, failing the effect on rejection. */
export const promise = <A>(f: () => Promise<A>): Effect.Effect<A, unknown> =>
  Effect.tryPromise({ try: f, catch: (error) => error })

/** An `initialize` request as a client would send it. */
export const initializeMessage = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "raw-client", version: "1.0.0" }
  }
} as const

export interface RawResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** One HTTP request to `/mcp` with the headers a streamable-HTTP client sends, read to the end. */
export const request = (
  gateway: McpGateway,
  init: {
    readonly method: string
    readonly body?: string
    readonly headers?: Readonly<Record<string, string>>
  }
): Effect.Effect<RawResponse, unknown> =>
  promise(async () => {
    const response = await fetch(gateway.mcpUrl, {
      method: init.method,
      headers: {
        accept: "application/json, text/event-stream",
        ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        ...init.headers
      },
      ...(init.body === undefined ? {} : { body: init.body })
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

/** The JSON-RPC error of a transport-level refusal. */
export const jsonRpcErrorOf = (response: RawResponse): { readonly code: number; readonly message: string } =>
  (JSON.parse(response.text) as { readonly error: { readonly code: number; readonly message: string } }).error
