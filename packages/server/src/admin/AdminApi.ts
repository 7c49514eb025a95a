/**
 * The admin API under `/admin/api/` (docs/http-api.md#admin-api): the handlers
 * of the groups declared in ../api/AdminHttpApi.ts, one module per resource,
 * each handler a function of its decoded input:
 *
 * - `session` (./SessionRoutes.ts): the admin token for a cookie.
 * - `servers` (./ServerRoutes.ts): list, catalog, reconnect, authenticate, logout.
 * - `oauth` (./OAuthCallback.ts): the web login's callback page.
 * - `config` (./ConfigRoutes.ts): the editor and reload.
 * - `events` (./EventRoutes.ts): the event stream.
 * - `audit` (./AuditRoutes.ts): the audit log.
 *
 * The middleware is in ./AdminMiddleware.ts; `adminResponses`
 * (./AdminResponses.ts) puts the admin headers on every answer. The routes
 * with a body use `handleRaw`: `AdminBody` has read and checked it, and the
 * handler decodes it with the group's schema, so that a wrong body is the API's
 * 400 `invalid_body` (the builder would answer an empty 400). Mount with
 * `AdminApi.routes`; it needs `Security`, `McpClientManager`, `OAuthManager`
 * and `ConfigFile`.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { AdminHttpApi } from "../api/AdminHttpApi.ts"
import { Activity } from "./Activity.ts"
import { type AdminApiOptions, AdminContext } from "./AdminContext.ts"
import * as AdminMiddleware from "./AdminMiddleware.ts"
import { adminResponses } from "./AdminResponses.ts"
import * as AuditRoutes from "./AuditRoutes.ts"
import * as ConfigRoutes from "./ConfigRoutes.ts"
import * as EventRoutes from "./EventRoutes.ts"
import * as OAuthCallback from "./OAuthCallback.ts"
import * as ServerRoutes from "./ServerRoutes.ts"
import * as SessionRoutes from "./SessionRoutes.ts"
import * as UserRoutes from "./UserRoutes.ts"

export type { AdminApiOptions, OAuthCompletion } from "./AdminContext.ts"

const session = HttpApiBuilder.group(
  AdminHttpApi,
  "session",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group
      .handleRaw("open", ({ request }) => SessionRoutes.openSession(ctx, request))
      .handle("close", ({ request }) => SessionRoutes.closeSession(ctx, request))
  })
)

const servers = HttpApiBuilder.group(
  AdminHttpApi,
  "servers",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group.handleAll({
      list: () => ServerRoutes.servers(ctx),
      catalog: ({ params }) => ServerRoutes.catalog(ctx, params.name),
      reconnect: ({ params }) => ServerRoutes.reconnect(ctx, params.name),
      authenticate: ({ params }) => ServerRoutes.authenticate(ctx, params.name),
      logout: ({ params }) => ServerRoutes.logout(ctx, params.name)
    })
  })
)

const users = HttpApiBuilder.group(
  AdminHttpApi,
  "users",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group.handleAll({
      list: () => UserRoutes.users(ctx),
      revoke: ({ params }) => UserRoutes.revoke(ctx, params.user, params.server)
    })
  })
)

const oauth = HttpApiBuilder.group(
  AdminHttpApi,
  "oauth",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group.handle("callback", ({ request }) => OAuthCallback.callback(ctx, request.url))
  })
)

const config = HttpApiBuilder.group(
  AdminHttpApi,
  "config",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group
      .handle("get", () => ConfigRoutes.getConfig(ctx))
      .handleRaw("put", () => ConfigRoutes.putConfig(ctx))
      .handle("reload", () => ConfigRoutes.reload(ctx))
  })
)

const events = HttpApiBuilder.group(
  AdminHttpApi,
  "events",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group.handle("stream", () => EventRoutes.events(ctx))
  })
)

const audit = HttpApiBuilder.group(
  AdminHttpApi,
  "audit",
  Effect.fnUntraced(function* (group) {
    const ctx = yield* AdminContext
    return group
      .handle("list", ({ query }) => AuditRoutes.list(ctx, query))
      .handle("configHistory", () => ConfigRoutes.history(ctx))
  })
)

const activity = HttpApiBuilder.group(
  AdminHttpApi,
  "activity",
  Effect.fnUntraced(function* (group) {
    const recent = (yield* Activity).recent
    return group.handle("recent", () => recent)
  })
)

/** The routes, with options (tests shorten the heartbeat). */
export const routesWith = (options: AdminApiOptions = {}) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(AdminHttpApi).pipe(
      Layer.provide([session, servers, users, oauth, config, events, audit, activity]),
      Layer.provide([
        AdminMiddleware.adminAccessLayer,
        AdminMiddleware.adminOriginLayer,
        AdminMiddleware.adminBodyLayer
      ]),
      // The builder's platform services; these routes serve no files.
      Layer.provide(HttpServer.layerServices)
    ),
    AdminMiddleware.notFoundRoute,
    // With a shared store: apply the config versions other replicas save.
    Layer.effectDiscard(
      Effect.gen(function* () {
        const ctx = yield* AdminContext
        yield* Effect.forkScoped(ConfigRoutes.followStoredConfig(ctx))
      })
    )
  ).pipe(
    Layer.provide(AdminContext.layer(options).pipe(Layer.provide(NodeFileSystem.layer))),
    Layer.provide(Activity.layer),
    Layer.provide(adminResponses)
  )

/** The admin routes with the default options. */
export const routes = routesWith()
