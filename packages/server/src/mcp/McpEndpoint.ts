/**
 * The aggregated MCP endpoint `POST|GET|DELETE /mcp` (docs/gateway.md#mcp-endpoint):
 * one streamable-HTTP MCP server that exposes every enabled tool of every connected
 * server plus the builtins, so any MCP client can use OAuth-protected servers through
 * the gateway.
 *
 * Each session (./McpSessions.ts) is tied to the API key that opened it (another key
 * gets 404, as for an unknown id); each key may hold `maxSessionsPerKey`, so one key
 * cannot take them all. A session ends on `DELETE /mcp`, after `idleTimeout` without
 * any open request (an open `GET` event stream counts as open: a client that only
 * listens is still there), and when the gateway shuts down. Clients are told
 * `notifications/tools/list_changed` whenever the aggregate changes. A client that
 * drops a POST's response stream before it ends cancels the requests of that POST,
 * as `notifications/cancelled` would.
 *
 * Mount with `McpEndpoint.routes` beside the other route layers and provide
 * `McpEndpoint.layer(options)` (it needs `McpClientManager`). API keys are checked by a
 * middleware around the routes, as for `/v1/*`.
 */

import type { McpEventStoreShape } from "@mcpgate/core/McpEventStore"
import { version } from "@mcpgate/core/Version"
import type { McpClientManager } from "@mcpgate/transport/McpClientManager"
import type { Implementation } from "@modelcontextprotocol/sdk/types.js"
import { Context, Duration, Effect, Fiber, Layer, Schema, type Scope } from "effect"
import { HttpRouter, type HttpServerRequest, type HttpServerResponse } from "effect/http"
import type * as McpSessionRecordsModule from "./McpSessionRecords.ts"
import type * as McpSessions from "./McpSessions.ts"

export type { McpSessionInfo } from "./McpSessions.ts"

export interface McpEndpointOptions {
  /**
   * `server.publicUrl`: its origin may use the endpoint from a browser, and "needs
   * login" results point to `<publicUrl>/admin`.
   */
  readonly publicUrl?: string
  /** More browser origins allowed besides loopback ones and `publicUrl`'s. */
  readonly allowedOrigins?: ReadonlyArray<string>
  /** A session without any open request for this long is closed (default 30 minutes). */
  readonly idleTimeout?: Duration.Input
  /** Sessions open at once at most; a new one beyond is refused with 503 (default 1000). */
  readonly maxSessions?: number
  /**
   * Sessions one API key may hold (default 100): beyond, its oldest idle session is
   * closed, or the new one refused with 429 when all are in use. Not applied while
   * the API has no keys (one local user).
   */
  readonly maxSessionsPerKey?: number
  /** Largest accepted POST body in bytes (default 4 MiB, as the SDK's own transport). */
  readonly maxBodyBytes?: number
  /** What the endpoint says it is in `initialize` (default `mcpgate`). */
  readonly serverInfo?: Implementation
  /**
   * Where the events of resumable streams are kept (default: the `McpEventStore`
   * service when there is one, else in memory, bounded).
   */
  readonly eventStore?: McpEventStoreShape | undefined
  /**
   * Where session records are kept (default: the `McpSessionRecords` service when
   * there is one, else in memory).
   */
  readonly sessionRecords?: McpSessionRecordsModule.McpSessionRecordsShape | undefined
  /**
   * An aggregated session without any open request for this long drops its live
   * objects and keeps only its record (McpRevive.ts); its next request rebuilds it
   * (default 45 seconds).
   */
  readonly dormantAfter?: Duration.Input | undefined
}

export const defaultIdleTimeout = Duration.minutes(30)
export const defaultDormantAfter = Duration.seconds(45)
export const defaultMaxSessions = 1000
export const defaultMaxSessionsPerKey = 100
export const defaultMaxBodyBytes = 4 * 1024 * 1024
export const defaultServerInfo: Implementation = { name: "mcpgate", title: "mcpgate", version }

export interface McpEndpointShape {
  /** Answers one request to `/mcp` (any method); the request's scope must last until the response is written. */
  readonly handle: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope>
  /** Answers one request to `/mcp/<server>` (docs/gateway.md#one-server-passed-through). */
  readonly handleServer: (
    server: string,
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, Scope.Scope>
  readonly sessions: Effect.Effect<ReadonlyArray<McpSessions.McpSessionInfo>>
  /** Waits until `predicate` holds for the sessions (checked now and after every change). */
  readonly awaitSessions: (
    predicate: (sessions: ReadonlyArray<McpSessions.McpSessionInfo>) => boolean
  ) => Effect.Effect<ReadonlyArray<McpSessions.McpSessionInfo>>
  /** Ends a session as `DELETE` would; false when there is no such session. */
  readonly closeSession: (id: string) => Effect.Effect<boolean>
  /**
   * Refuses new sessions and closes every open one (their event streams end, their
   * calls are interrupted). Closing the layer does it too; see `layerCloseFirst`.
   */
  readonly shutdown: Effect.Effect<void>
}

/** The body of a POST that is not JSON. */
export class InvalidMcpBody extends Schema.TaggedError<InvalidMcpBody>()("InvalidMcpBody", {
  status: Schema.Number,
  code: Schema.Number,
  message: Schema.String
}) {}

/** The endpoint at work (McpEndpointLive.ts), with the MCP SDK under it. */
const loadLive = Effect.promise(() => import("./McpEndpointLive.ts"))

/**
 * Builds the endpoint in the current scope; closing the scope closes every session.
 * The sessions and their handling (McpEndpointLive.ts, over the MCP SDK) are loaded
 * and built on the first use of `/mcp`, with the services and scope given here: a
 * gateway starts without them (bench/RESULTS.md, issue 18: start-up).
 */
export const make = Effect.fn("McpEndpoint.make")(function* (options: McpEndpointOptions = {}) {
  const context = yield* Effect.context<McpClientManager | Scope.Scope>()
  const scope = yield* Effect.scope
  let built: McpEndpointShape | undefined
  let shutDown = false
  const build = Effect.gen(function* () {
    const endpoint = yield* Effect.flatMap(loadLive, (Live) => Live.make(options))
    built = endpoint
    // Shut down while it was being built: it refuses new sessions from the start.
    if (shutDown) yield* endpoint.shutdown
    return endpoint
  }).pipe(Effect.updateContext((_: Context.Context<never>) => context))
  // Built once, by a fiber of the layer's scope: a first request that goes away does not cancel it.
  let building: Fiber.Fiber<McpEndpointShape> | undefined
  const live = Effect.uninterruptible(
    Effect.suspend(() =>
      building === undefined
        ? Effect.map(Effect.forkIn(build, scope), (fiber) => (building = fiber))
        : Effect.succeed(building)
    )
  ).pipe(Effect.flatMap(Fiber.join))
  return McpEndpoint.of({
    handle: (request) => Effect.flatMap(live, (endpoint) => endpoint.handle(request)),
    handleServer: (server, request) =>
      Effect.flatMap(live, (endpoint) => endpoint.handleServer(server, request)),
    // Not built yet: no session was ever opened here.
    sessions: Effect.suspend(() => (built === undefined ? Effect.succeed([]) : built.sessions)),
    awaitSessions: (predicate) => Effect.flatMap(live, (endpoint) => endpoint.awaitSessions(predicate)),
    // Built for it: a session recorded by another replica can be ended here.
    closeSession: (id) => Effect.flatMap(live, (endpoint) => endpoint.closeSession(id)),
    shutdown: Effect.suspend(() => {
      shutDown = true
      return built === undefined ? Effect.void : built.shutdown
    })
  })
})

export class McpEndpoint extends Context.Service<McpEndpoint, McpEndpointShape>()(
  "@mcpgate/server/McpEndpoint"
) {
  /**
   * The endpoint over the manager's tools (each session's principal's view of
   * them when `CallerTools` is provided); closing the layer closes every session.
   */
  static readonly layer = (options?: McpEndpointOptions): Layer.Layer<McpEndpoint, never, McpClientManager> =>
    Layer.effect(McpEndpoint, make(options))

  /**
   * Closes the sessions when the gateway stops, before the HTTP server's graceful
   * shutdown: that shutdown waits for open requests (up to `gracefulShutdownTimeout`,
   * 20 s by default), and a session's event stream stays open until the session ends.
   * Build it after `HttpRouter.serve`, e.g.
   * `McpEndpoint.layerCloseFirst.pipe(Layer.provide(HttpRouter.serve(routes)), Layer.provide(McpEndpoint.layer(options)))`.
   */
  static readonly layerCloseFirst: Layer.Layer<never, never, McpEndpoint> = Layer.effectDiscard(
    Effect.gen(function* () {
      const endpoint = yield* McpEndpoint
      yield* Effect.addFinalizer(() => endpoint.shutdown)
    })
  )
}

/**
 * `POST|GET|DELETE /mcp` and `/mcp/<server>` (other methods get 405 from the
 * endpoint); needs `McpEndpoint`.
 */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const endpoint = yield* McpEndpoint
    yield* router.add("*", "/mcp", endpoint.handle)
    yield* router.add("*", "/mcp/:server", (request) =>
      Effect.flatMap(HttpRouter.params, (params) => endpoint.handleServer(params.server ?? "", request))
    )
  })
)
