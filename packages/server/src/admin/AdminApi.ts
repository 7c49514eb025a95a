/**
 * The admin API under `/admin/api/` (docs/gateway.md#admin-api): what the web UI
 * shows and does. One module per resource, each handler a function of its
 * decoded input:
 *
 * - `POST|DELETE session` (./SessionRoutes.ts): the admin token for a cookie.
 * - `GET mcp/servers`, `POST mcp/servers/{name}/reconnect | authenticate | logout`
 *   (./ServerRoutes.ts).
 * - `GET mcp/oauth/callback` (./OAuthCallback.ts): public, bound to the login's `state`.
 * - `GET|PUT mcp/config`, `POST mcp/reload` (./ConfigRoutes.ts).
 * - `GET mcp/events` (./EventRoutes.ts).
 *
 * This module only wires them: every route but the session and the callback
 * passes `Security.authorizeAdmin` first (a write's body is read and checked
 * even when unused); every answer carries the admin security headers; errors
 * are `{error: {message, type, code}}` (./AdminResponses.ts). Mount with
 * `AdminApi.routes`; it needs `Security`, `McpClientManager`, `OAuthManager`
 * and `ConfigFile`.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer } from "effect"
import { HttpRouter, type HttpServerRequest, type HttpServerResponse } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import { adminBodyLimit, readJson } from "../security/BodyLimits.ts"
import * as AdminContext from "./AdminContext.ts"
import { type ConfigRejected, finish, json } from "./AdminResponses.ts"
import * as ConfigRoutes from "./ConfigRoutes.ts"
import * as EventRoutes from "./EventRoutes.ts"
import * as OAuthCallback from "./OAuthCallback.ts"
import * as ServerRoutes from "./ServerRoutes.ts"
import * as SessionRoutes from "./SessionRoutes.ts"

export type { AdminApiOptions, OAuthCompletion } from "./AdminContext.ts"

type Handler = (
  request: HttpServerRequest.HttpServerRequest
) => Effect.Effect<HttpServerResponse.HttpServerResponse, Refused | ConfigRejected, HttpRouter.RouteContext>

const notFound = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.fail(
    new Refused({
      status: 404,
      type: "not_found_error",
      code: "route_not_found",
      message: `no admin route for ${request.method} ${new URL(request.url, "http://x").pathname}`
    })
  )

const serverName = Effect.map(HttpRouter.params, (params) => params.name ?? "")

/** A handler whose data is answered as JSON. */
const answer =
  <A, E extends Refused | ConfigRejected>(effect: Effect.Effect<A, E>): Handler =>
  () =>
    Effect.map(effect, (body) => json(body))

/** A handler of the server named in the path, answered as JSON. */
const forServer =
  <A, E extends Refused | ConfigRejected>(handler: (name: string) => Effect.Effect<A, E>): Handler =>
  () =>
    Effect.flatMap(serverName, (name) => Effect.map(handler(name), (body) => json(body)))

const wire = (router: HttpRouter.HttpRouter, ctx: AdminContext.AdminContext) =>
  Effect.gen(function* () {
    /** Admin token (or session) first; a write's body is read and checked even when unused. */
    const admin =
      (handler: Handler, options: { readonly readsBody?: boolean } = {}) =>
      (request: HttpServerRequest.HttpServerRequest) =>
        finish(
          Effect.gen(function* () {
            yield* ctx.security.authorizeAdmin(request)
            const write = request.method !== "GET" && request.method !== "HEAD"
            if (write && options.readsBody !== true) yield* readJson(request, adminBodyLimit)
            return yield* handler(request)
          })
        )
    const open = (handler: Handler) => (request: HttpServerRequest.HttpServerRequest) =>
      finish(handler(request))

    const openSession: Handler = (request) =>
      Effect.gen(function* () {
        yield* SessionRoutes.checkOrigin(ctx.security, request)
        const body = yield* SessionRoutes.decodeOpen(yield* readJson(request, adminBodyLimit))
        return yield* SessionRoutes.openSession(ctx, request, body)
      })
    const closeSession: Handler = (request) =>
      Effect.gen(function* () {
        yield* SessionRoutes.checkOrigin(ctx.security, request)
        yield* readJson(request, adminBodyLimit)
        return yield* SessionRoutes.closeSession(ctx, request)
      })
    const putConfig: Handler = (request) =>
      Effect.gen(function* () {
        const body = yield* ConfigRoutes.decodePut(yield* readJson(request, adminBodyLimit))
        return json(yield* ConfigRoutes.putConfig(ctx, body))
      })
    const callback: Handler = (request) => OAuthCallback.callback(ctx, request.url)
    const servers = "/admin/api/mcp/servers"

    yield* router.add("POST", "/admin/api/session", open(openSession))
    yield* router.add("DELETE", "/admin/api/session", open(closeSession))
    yield* router.add("GET", servers, admin(answer(ServerRoutes.servers(ctx))))
    yield* router.add(
      "POST",
      `${servers}/:name/reconnect`,
      admin(forServer((name) => ServerRoutes.reconnect(ctx, name)))
    )
    yield* router.add(
      "POST",
      `${servers}/:name/authenticate`,
      admin(forServer((name) => ServerRoutes.authenticate(ctx, name)))
    )
    yield* router.add(
      "POST",
      `${servers}/:name/logout`,
      admin(forServer((name) => ServerRoutes.logout(ctx, name)))
    )
    yield* router.add("GET", OAuthCallback.callbackPath, open(callback))
    yield* router.add("GET", "/admin/api/mcp/config", admin(answer(ConfigRoutes.getConfig(ctx))))
    yield* router.add("PUT", "/admin/api/mcp/config", admin(putConfig, { readsBody: true }))
    yield* router.add("POST", "/admin/api/mcp/reload", admin(answer(ConfigRoutes.reload(ctx))))
    yield* router.add(
      "GET",
      "/admin/api/mcp/events",
      admin(() => EventRoutes.events(ctx))
    )
    yield* router.add("*", "/admin/api/*", admin(notFound, { readsBody: true }))
  })

/** The routes, with options (tests shorten the heartbeat). */
export const routesWith = (options: AdminContext.AdminApiOptions = {}) =>
  HttpRouter.use((router) => Effect.flatMap(AdminContext.make(options), (ctx) => wire(router, ctx))).pipe(
    Layer.provide(NodeFileSystem.layer)
  )

/** The admin routes with the default options. */
export const routes = routesWith()
