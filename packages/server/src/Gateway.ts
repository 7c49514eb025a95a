/**
 * The composed HTTP server that `mcpgate serve` launches
 * (docs/architecture.md#services-server): every route group over one
 * `McpClientManager`. It needs an `HttpServer` and an `HttpClient` (the CLI
 * provides the Node ones).
 */
import { AuditLog } from "@mcpgate/core/AuditLog"
import type { McpgateConfig } from "@mcpgate/core/Config"
import { keyOf } from "@mcpgate/core/Credential"
import { CredentialChanges } from "@mcpgate/core/CredentialChanges"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import type { McpEventStore } from "@mcpgate/core/McpEventStore"
import { Browser } from "@mcpgate/oauth/Browser"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import type { PendingLogins } from "@mcpgate/oauth/PendingLogins"
import * as AuthorizedFetch from "@mcpgate/transport/AuthorizedFetch"
import { BuiltinTools } from "@mcpgate/transport/BuiltinTools"
import { McpClientManager } from "@mcpgate/transport/McpClientManager"
import { Effect, Layer, Option, Stream } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import * as NetAddress from "effect/net/NetAddress"
import * as AdminApi from "./admin/AdminApi.ts"
import type { ConfigVersions } from "./admin/ConfigVersions.ts"
import * as ErrorBody from "./http/ErrorBody.ts"
import * as MetricsRoute from "./http/MetricsRoute.ts"
import * as RequestLog from "./http/RequestLog.ts"
import * as McpEndpoint from "./mcp/McpEndpoint.ts"
import * as McpJsonApi from "./mcp/McpJsonApi.ts"
import type { McpSessionRecords } from "./mcp/McpSessionRecords.ts"
import { ModelTools } from "./openai/ModelTools.ts"
import * as OpenAiApi from "./openai/OpenAiApi.ts"
import { ResponseStore } from "./openai/ResponseStore.ts"
import * as ResponsesApi from "./openai/ResponsesApi.ts"
import { ToolLoop, type ToolLoopOptions } from "./openai/ToolLoop.ts"
import { Upstream } from "./openai/Upstream.ts"
import type * as AdminToken from "./security/AdminToken.ts"
import * as ProtectedResource from "./security/ProtectedResource.ts"
import * as Security from "./security/Security.ts"
import { UiRecords } from "./security/UiRecords.ts"
import { CallerTools } from "./teams/CallerTools.ts"
import * as ConnectionRoutes from "./teams/ConnectionRoutes.ts"
import { UserCredentials } from "./teams/UserCredentials.ts"
import * as UserModelTools from "./teams/UserModelTools.ts"
import { UserTools } from "./teams/UserTools.ts"
import * as SignInRoutes from "./web/SignInRoutes.ts"
import * as Web from "./web/WebUi.ts"

export interface GatewayOptions {
  readonly config: McpgateConfig
  /** The address to bind, as given (`--host` wins over `server.host`). */
  readonly host: string
  /** Runs once the server listens, e.g. to announce the URL and a new admin token. */
  readonly onListening?: (info: ListeningInfo) => Effect.Effect<void>
  /** Where web logins wait for their callback (default: this process); a shared store lets any replica complete them. */
  readonly pendingLogins?: Layer.Layer<PendingLogins> | undefined
  /** Where web sessions and sign-ins wait (default: this process); a shared store makes a sign-in valid on every replica. */
  readonly uiRecords?: Layer.Layer<UiRecords> | undefined
  /**
   * Where `/mcp` session records and stream events are kept (default: this process);
   * a shared store lets any replica continue any session (docs/store.md#mcp-sessions).
   */
  readonly mcpSessions?: Layer.Layer<McpSessionRecords | McpEventStore> | undefined
  /** Where stored responses are kept (default: this process, bounded); a shared store lets any replica continue them. */
  readonly responses?: Layer.Layer<ResponseStore> | undefined
  /** The audit log (docs/store.md#audit-log); default: in this process's memory. */
  readonly auditLog?: Layer.Layer<AuditLog> | undefined
  /** The config's versions in a shared store (docs/store.md#config); default none: the file is the config. */
  readonly configVersions?: Layer.Layer<ConfigVersions> | undefined
}

export interface ListeningInfo {
  /** `http://<host>:<port>` as bound. */
  readonly url: string
  readonly adminToken: AdminToken.AdminToken
}

/** `GET /health` answers at once, whatever state the MCP servers are in (docs/gateway.md#health). */
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

/**
 * Every route. `/v1/*` (and `/mcp`) sit behind the API-key middleware
 * (docs/gateway.md#api-keys): the original left `/v1/mcp/*` open, which made the
 * fetch tool an SSRF relay (docs/lessons.md#open-tool-routes). `/v1/mcp/*`
 * declares it in its group (api/McpJsonHttpApi.ts).
 */
export const routes = Layer.mergeAll(
  healthRoute,
  MetricsRoute.route,
  Layer.mergeAll(OpenAiApi.routes, ResponsesApi.routes, McpEndpoint.routes, ConnectionRoutes.routes).pipe(
    Layer.provide(Security.apiKeyMiddleware.layer)
  ),
  McpJsonApi.routes,
  ProtectedResource.routes,
  AdminApi.routes,
  Web.routes,
  SignInRoutes.routes,
  notFoundRoute
)

/** The MCP client manager with the builtin tools as one more provider. */
export const managerLayer = (config: McpgateConfig) =>
  Layer.unwrap(
    Effect.map(BuiltinTools.make(config.builtins), (builtin) => McpClientManager.layer(config, { builtin }))
  )

/**
 * OAuth for the gateway: never interactive (a step-up is reported, not opened in a
 * browser on the server's machine); logins come from the CLI or the web UI.
 */
export const oauthLayerWith = (pendingLogins?: Layer.Layer<PendingLogins> | undefined) =>
  OAuthManager.layer({ interactive: false }, pendingLogins).pipe(Layer.provide(Browser.layer))

export const oauthLayer = oauthLayerWith()

/** The tool loop's settings from the config (docs/configuration.md). */
export const toolLoopOptions = (config: McpgateConfig): ToolLoopOptions => ({
  maxToolCalls: config.maxToolCalls,
  maxTools: config.maxTools,
  toolSearch: config.toolSearch,
  maxToolResultChars: config.maxToolResultChars,
  serverMaxToolResultChars: Object.fromEntries(
    Object.values(config.mcpServers).map((server) => [server.name, server.maxToolResultChars])
  )
})

/** Everything the routes need, over one manager; needs a `CredentialStore`. */
export const services = (options: GatewayOptions) =>
  ToolLoop.layer(toolLoopOptions(options.config)).pipe(
    Layer.provideMerge(Upstream.layer(options.config.server.upstream)),
    Layer.provideMerge(UserModelTools.layer.pipe(Layer.provide(ModelTools.layerMcp))),
    Layer.provideMerge(options.responses ?? ResponseStore.layerMemory()),
    Layer.provideMerge(CallerTools.layer),
    Layer.provideMerge(UserTools.layer(options.config)),
    Layer.provideMerge(UserCredentials.layer(options.config)),
    Layer.provideMerge(managerLayer(options.config)),
    Layer.provide(AuthorizedFetch.layerOAuth),
    Layer.provideMerge(oauthLayerWith(options.pendingLogins)),
    // Shared with the rest of the gateway (the same layer value is built once).
    Layer.provideMerge(options.uiRecords ?? UiRecords.layerMemory),
    Layer.provideMerge(options.pendingLogins ?? Layer.empty)
  )

/** The security rules for the address actually bound (port 0 becomes the real port). */
const securityLayer = (options: GatewayOptions) =>
  Layer.unwrap(
    Effect.map(HttpServer.HttpServer, (server) =>
      Security.Security.layer({
        config: options.config,
        host: options.host,
        port: server.address._tag === "UnixPathAddress" ? options.config.server.port : server.address.port
      })
    )
  )

const mcpEndpointLayer = (options: GatewayOptions) =>
  Layer.unwrap(
    Effect.map(HttpServer.HttpServer, (server) => {
      const endpoint = McpEndpoint.McpEndpoint.layer({
        publicUrl: options.config.server.publicUrl ?? NetAddress.formatUrlUnsafe(server.address, "http")
      })
      return options.mcpSessions === undefined ? endpoint : endpoint.pipe(Layer.provide(options.mcpSessions))
    })
  )

const announce = (options: GatewayOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const security = yield* Security.Security
      if (options.onListening === undefined) return
      yield* options.onListening({
        url: NetAddress.formatUrlUnsafe(server.address, "http"),
        adminToken: security.adminToken
      })
    })
  )

/**
 * With a shared store (docs/store.md#cache): a server waiting for a login
 * reconnects as soon as any replica has stored its credential, so a login on
 * one replica applies on all of them; a connected server whose credential
 * another replica deleted (a logout) reconnects too, and so waits for a login
 * like there. Nothing to do for a local store.
 */
const reconnectOnCredentialChange = (options: GatewayOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const changes = yield* Effect.serviceOption(CredentialChanges)
      if (Option.isNone(changes)) return
      const manager = yield* McpClientManager
      const store = yield* CredentialStore
      const serverOf = new Map(
        Object.values(options.config.mcpServers).flatMap((server) =>
          server.url === undefined ? [] : [[keyOf({ server: server.name, url: server.url }), server] as const]
        )
      )
      const loggedOut = (server: { readonly name: string; readonly url: string }) =>
        Effect.map(store.get({ server: server.name, url: server.url }), Option.isNone)
      const onChange = (key: string) => {
        const server = serverOf.get(key)
        if (server?.url === undefined) return Effect.void
        const { name, url } = server
        return manager.serverStatus(name).pipe(
          Effect.flatMap((status) => {
            if (status.state === "needs_auth") return manager.reconnect(name)
            if (status.state !== "connected") return Effect.void
            return Effect.flatMap(loggedOut({ name, url }), (gone) =>
              gone ? manager.reconnect(name) : Effect.void
            )
          }),
          Effect.ignore
        )
      }
      yield* Effect.forkScoped(Stream.runForEach(changes.value.changes, onChange))
    })
  )

/**
 * Serves every route on the provided `HttpServer`; needs a `CredentialStore`, the
 * `ConfigFile` (admin config editor) and an `HttpClient` (the upstream).
 */
export const layer = (options: GatewayOptions) =>
  Layer.mergeAll(
    // Built after `serve`, so /mcp sessions close before the graceful shutdown waits on them.
    McpEndpoint.McpEndpoint.layerCloseFirst.pipe(
      Layer.provide(
        HttpRouter.serve(routes, {
          disableListenLog: true,
          disableLogger: true,
          middleware: RequestLog.middleware
        }).pipe(Layer.provide(RequestLog.spanNames))
      )
    ),
    announce(options),
    reconnectOnCredentialChange(options)
  ).pipe(
    Layer.provide(mcpEndpointLayer(options)),
    Layer.provide(services(options)),
    Layer.provideMerge(securityLayer(options)),
    Layer.provide(options.uiRecords ?? UiRecords.layerMemory),
    // Outermost: the OAuth manager and the admin API record to it as they are built.
    Layer.provideMerge(options.auditLog ?? AuditLog.layerMemory),
    Layer.provideMerge(options.configVersions ?? Layer.empty)
  )
