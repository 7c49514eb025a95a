/**
 * The admin API as `effect/http-api` groups (docs/http-api.md#admin-api): what
 * the web UI shows and does. Definitions only: the handlers are in
 * ../admin/AdminApi.ts, the web UI's client in web/src/lib/adminApi.ts, the
 * reference in docs/http-api.md (./HttpApiReference.ts).
 *
 * - `session`: trade the admin token for the UI's session cookie, and end it.
 * - `servers`: list, reconnect, web login, logout.
 * - `oauth`: the web login's callback page (public, bound to its `state`).
 * - `config`: the config editor and reload.
 * - `events`: the event stream.
 * - `activity`: the last hour's tool calls (this replica's).
 *
 * Every group but `session` and `oauth` needs the admin token or a session
 * (`AdminAccess`); every write reads and checks its JSON body first
 * (`AdminBody`), used or not.
 */
import { Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  OpenApi
} from "effect/http-api"
import * as AdminSchemas from "./AdminSchemas.ts"
import * as ApiErrors from "./ApiErrors.ts"

const { documentedCode, errorCode } = ApiErrors

/** The codes the admin API answers. */
export const AdminErrors = {
  invalidAdminToken: documentedCode(
    ApiErrors.Unauthorized,
    "authentication_error",
    "invalid_admin_token",
    "no admin token or session, a wrong token, or a session that expired or was closed"
  ),
  crossOrigin: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "cross_origin",
    "a page of another origin (`Origin`, or `Sec-Fetch-Site: cross-site`)"
  ),
  crossOriginSignIn: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "cross_origin",
    "an `Origin` of another page than the gateway's own"
  ),
  csrfCheckFailed: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "csrf_check_failed",
    "a write with the session cookie, but neither `X-Mcpgate-Csrf: 1` nor a same-origin `Origin`"
  ),
  notAnAdmin: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "not_an_admin",
    "the session cookie of a user signed in through `server.auth` who is no admin (docs/teams.md#the-web-uis-sign-in)"
  ),
  tooManySignIns: documentedCode(
    ApiErrors.TooManyRequests,
    "rate_limit_error",
    "too_many_failed_sign_ins",
    "too many wrong tokens from this address within a minute; `Retry-After` says when to try again"
  ),
  invalidJson: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "invalid_json",
    "the body is not JSON (UTF-8)"
  ),
  unreadableBody: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "unreadable_body",
    "the body could not be read"
  ),
  bodyTooLarge: errorCode(
    ApiErrors.PayloadTooLarge,
    "invalid_request_error",
    "body_too_large",
    "a body over 1 MB"
  ),
  unsupportedMediaType: errorCode(
    ApiErrors.UnsupportedMediaType,
    "invalid_request_error",
    "unsupported_media_type",
    "a body not sent as `Content-Type: application/json`"
  ),
  invalidBody: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "invalid_body",
    "the body is JSON but not the object this route takes"
  ),
  serverNotFound: errorCode(
    ApiErrors.NotFound,
    "not_found_error",
    "server_not_found",
    "no server of that name in the config"
  ),
  oauthNotConfigured: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "oauth_not_configured",
    'the server has no `"auth"` in the config'
  ),
  publicUrlRequired: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "public_url_required",
    "the gateway listens on every interface and `server.publicUrl` is not set: no redirect URI a browser could reach"
  ),
  oauthMisconfigured: errorCode(
    ApiErrors.BadRequest,
    "oauth_error",
    "<configuration, insecure-endpoint or pkce-unsupported>",
    "the OAuth configuration or the authorization server's metadata is at fault (docs/oauth.md)"
  ),
  oauthFailed: errorCode(
    ApiErrors.BadGateway,
    "oauth_error",
    "<the OAuth failure's reason>",
    "the authorization server failed or answered something unusable (docs/oauth.md); `authorization` for an authorization URL that is not http(s)"
  ),
  noCredential: errorCode(
    ApiErrors.Conflict,
    "conflict_error",
    "no_credential",
    "nothing to log out of (not logged in, or a stdio server); nothing was changed"
  ),
  configUnreadable: errorCode(
    ApiErrors.InternalError,
    "server_error",
    "config_unreadable",
    "the config file cannot be read"
  ),
  configWriteFailed: errorCode(
    ApiErrors.InternalError,
    "server_error",
    "config_write_failed",
    "the config file cannot be written (nothing was applied)"
  ),
  invalidConfig: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "invalid_config",
    "the config is not valid or breaks a security rule; `issues` lists each problem at its line; nothing was written"
  ),
  configReadOnly: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "config_read_only",
    '`"server.configEditor": "read-only"`'
  ),
  configCommandsLocked: errorCode(
    ApiErrors.Forbidden,
    "permission_error",
    "config_commands_locked",
    "the save adds or changes how a stdio server is started, or `server.configEditor`, which the mode in force does not allow"
  ),
  configChanged: errorCode(
    ApiErrors.Conflict,
    "conflict_error",
    "config_changed",
    "`baseHash` is not the file's hash any more: it changed on disk since it was loaded"
  ),
  invalidQuery: errorCode(
    ApiErrors.BadRequest,
    "invalid_request_error",
    "invalid_query",
    "a query parameter is not what the route takes"
  ),
  storeUnavailable: errorCode(
    ApiErrors.ServiceUnavailable,
    "unavailable",
    "store_unavailable",
    "the shared store (docs/store.md) cannot be reached now; try again"
  ),
  routeNotFound: errorCode(
    ApiErrors.NotFound,
    "not_found_error",
    "route_not_found",
    "no admin route for that method and path (answered after the admin token is checked)"
  )
} as const

/**
 * The admin token (`Authorization: Bearer <token>`) or the session cookie, with
 * the Origin and CSRF rules and the sign-in rate limit (docs/gateway.md#admin-token).
 */
export class AdminAccess extends HttpApiMiddleware.Service<AdminAccess>()("@mcpgate/server/api/AdminAccess", {
  error: [ApiErrors.UnauthorizedJson, ApiErrors.ForbiddenJson, ApiErrors.TooManyRequestsJson]
}) {
  static readonly auth =
    "the admin token as `Authorization: Bearer <token>`, the session cookie `mcpgate_admin`, or the session cookie `mcpgate_session` of a signed-in admin (a write with a cookie also sends `X-Mcpgate-Csrf: 1` or a same-origin `Origin`)"
  static readonly codes = [
    AdminErrors.invalidAdminToken,
    AdminErrors.crossOrigin,
    AdminErrors.csrfCheckFailed,
    AdminErrors.notAnAdmin,
    AdminErrors.tooManySignIns
  ]
}

/** A page of another origin may not sign in or out; the token in the body is the credential. */
export class AdminOrigin extends HttpApiMiddleware.Service<AdminOrigin>()("@mcpgate/server/api/AdminOrigin", {
  error: ApiErrors.ForbiddenJson
}) {
  static readonly auth = "none: a present `Origin` must be the gateway's own (`POST` carries the admin token)"
  static readonly codes = [AdminErrors.crossOriginSignIn]
}

/**
 * A write's body, read and checked before anything else runs: at most 1 MB of
 * JSON sent as `application/json` (empty is allowed), even where unused.
 */
export class AdminBody extends HttpApiMiddleware.Service<AdminBody>()("@mcpgate/server/api/AdminBody", {
  error: [ApiErrors.BadRequestJson, ApiErrors.PayloadTooLargeJson, ApiErrors.UnsupportedMediaTypeJson]
}) {
  static readonly codes = [
    AdminErrors.invalidJson,
    AdminErrors.unreadableBody,
    AdminErrors.bodyTooLarge,
    AdminErrors.unsupportedMediaType
  ]
}

const describe = (description: string) => OpenApi.annotations({ description })

export class SessionGroup extends HttpApiGroup.make("session")
  .add(
    HttpApiEndpoint.post("open", "/session", {
      payload: AdminSchemas.SessionRequest,
      success: AdminSchemas.OkAnswer,
      error: [ApiErrors.BadRequestJson, ApiErrors.UnauthorizedJson, ApiErrors.TooManyRequestsJson]
    })
      .middleware(AdminBody)
      .annotateMerge(
        describe(
          "Checks the admin token and sets the session cookie `mcpgate_admin` (HttpOnly, `SameSite=Strict`, `Path=/admin`, `Secure` with an https public URL; 12 hours). A wrong token counts against the sign-in limit."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [
        AdminErrors.invalidBody,
        AdminErrors.invalidAdminToken,
        AdminErrors.tooManySignIns
      ]),
    HttpApiEndpoint.delete("close", "/session", { success: AdminSchemas.OkAnswer })
      .middleware(AdminBody)
      .annotateMerge(describe("Ends the session of the request's cookie and expires the cookie."))
  )
  .middleware(AdminOrigin)
  .prefix("/admin/api")
  .annotateMerge(OpenApi.annotations({ title: "Admin sessions", description: "The web UI's sign-in." })) {}

export class ServersGroup extends HttpApiGroup.make("servers")
  .add(
    HttpApiEndpoint.get("list", "/servers", { success: AdminSchemas.ServersAnswer }).annotateMerge(
      describe("Every configured server with its status, tools and authorization; the builtin tools apart.")
    ),
    HttpApiEndpoint.get("catalog", "/servers/:name/catalog", {
      params: { name: AdminSchemas.ServerName },
      success: AdminSchemas.CatalogAnswer,
      error: ApiErrors.NotFoundJson
    })
      .annotateMerge(
        describe(
          "The server's resources, resource templates and prompts, read from it now (every page), with the names the aggregated /mcp gives them; empty while it is not connected."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [AdminErrors.serverNotFound]),
    HttpApiEndpoint.post("reconnect", "/servers/:name/reconnect", {
      params: { name: AdminSchemas.ServerName },
      success: AdminSchemas.ReconnectAnswer,
      error: ApiErrors.NotFoundJson
    })
      .middleware(AdminBody)
      .annotateMerge(describe("Closes the server's connection and connects again now, with a fresh backoff."))
      .annotate(ApiErrors.ErrorCodes, [AdminErrors.serverNotFound]),
    HttpApiEndpoint.post("authenticate", "/servers/:name/authenticate", {
      params: { name: AdminSchemas.ServerName },
      success: AdminSchemas.AuthenticateAnswer,
      error: [
        ApiErrors.BadRequestJson,
        ApiErrors.NotFoundJson,
        ApiErrors.BadGatewayJson,
        ApiErrors.ServiceUnavailableJson
      ]
    })
      .middleware(AdminBody)
      .annotateMerge(
        describe(
          "Starts a web login (docs/oauth.md#web-login): the UI opens `authUrl` in a popup; the authorization server sends the browser back to the callback, whose redirect URI is `<publicUrl>/admin/api/mcp/oauth/callback`."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [
        AdminErrors.serverNotFound,
        AdminErrors.oauthNotConfigured,
        AdminErrors.publicUrlRequired,
        AdminErrors.oauthMisconfigured,
        AdminErrors.oauthFailed,
        AdminErrors.storeUnavailable
      ]),
    HttpApiEndpoint.post("logout", "/servers/:name/logout", {
      params: { name: AdminSchemas.ServerName },
      success: AdminSchemas.LogoutAnswer,
      error: [
        ApiErrors.BadRequestJson,
        ApiErrors.NotFoundJson,
        ApiErrors.ConflictJson,
        ApiErrors.BadGatewayJson,
        ApiErrors.ServiceUnavailableJson
      ]
    })
      .middleware(AdminBody)
      .annotateMerge(
        describe(
          "Revokes the server's tokens where the authorization server allows it, deletes the credential and disconnects the server (docs/oauth.md#logout-and-revocation)."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [
        AdminErrors.serverNotFound,
        AdminErrors.noCredential,
        AdminErrors.oauthMisconfigured,
        AdminErrors.oauthFailed,
        AdminErrors.storeUnavailable
      ])
  )
  .middleware(AdminAccess)
  .prefix("/admin/api/mcp")
  .annotateMerge(OpenApi.annotations({ title: "Servers" })) {}

export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.get("list", "/users", { success: AdminSchemas.UsersAnswer }).annotateMerge(
      describe(
        'Each user and the metadata of their own connections to `identity: "user"` servers (docs/teams.md#connections); never a token.'
      )
    ),
    HttpApiEndpoint.delete("revoke", "/users/:user/connections/:server", {
      params: { user: Schema.String, server: AdminSchemas.ServerName },
      success: AdminSchemas.LogoutAnswer,
      error: [
        ApiErrors.BadRequestJson,
        ApiErrors.NotFoundJson,
        ApiErrors.ConflictJson,
        ApiErrors.BadGatewayJson,
        ApiErrors.ServiceUnavailableJson
      ]
    })
      .annotateMerge(describe("Revokes (RFC 7009) and deletes one user's credential of one server."))
      .annotate(ApiErrors.ErrorCodes, [
        AdminErrors.serverNotFound,
        AdminErrors.noCredential,
        AdminErrors.oauthMisconfigured,
        AdminErrors.oauthFailed,
        AdminErrors.storeUnavailable
      ])
  )
  .middleware(AdminAccess)
  .prefix("/admin/api/mcp")
  .annotateMerge(OpenApi.annotations({ title: "Users" })) {}

/** The callback page: HTML, 200 on success, 400 for a refused or unknown login, 502 when the authorization server failed. */
export const CallbackPage = Schema.String.pipe(
  HttpApiSchema.asText({ contentType: "text/html; charset=utf-8" })
).annotate({ description: "a small page that tells the admin page the outcome and closes the popup" })

export class OAuthGroup extends HttpApiGroup.make("oauth")
  .add(
    HttpApiEndpoint.get("callback", "/oauth/callback", { success: CallbackPage }).annotateMerge(
      describe(
        "Where the authorization server sends the browser after a web login, with `state` and `code` (or `error` and `error_description`) in the query (RFC 6749 §4.1.2). Needs no credential: it is bound to the `state` the gateway keeps for 10 minutes. Answers a page with a strict Content-Security-Policy: 200 when signed in (the server reconnects), 400 for a refused, unknown or expired login, 502 when the authorization server failed transiently; the event stream reports the outcome."
      )
    )
  )
  .prefix("/admin/api/mcp")
  .annotateMerge(OpenApi.annotations({ title: "Web OAuth callback" })) {}

export class ConfigGroup extends HttpApiGroup.make("config")
  .add(
    HttpApiEndpoint.get("get", "/config", {
      success: AdminSchemas.ConfigAnswer,
      error: [ApiErrors.InternalErrorJson, ApiErrors.ServiceUnavailableJson]
    })
      .annotateMerge(
        describe(
          "The config file's text as on disk, and its hash; with a Postgres store, the newest version saved there (docs/store.md#config)."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [AdminErrors.configUnreadable, AdminErrors.storeUnavailable]),
    HttpApiEndpoint.put("put", "/config", {
      payload: AdminSchemas.PutConfigRequest,
      success: AdminSchemas.AppliedAnswer,
      error: [
        ApiErrors.BadRequestJson,
        ApiErrors.ForbiddenJson,
        ApiErrors.ConflictJson,
        ApiErrors.InternalErrorJson,
        ApiErrors.ServiceUnavailableJson
      ]
    })
      .middleware(AdminBody)
      .annotateMerge(
        describe(
          "Validates the text like a loaded file and against the security rules, writes it verbatim (comments kept) and atomically with the previous file kept as a backup, then applies it: the servers reload and API keys change at once. With a Postgres store the text is first kept there as a new version, which every replica applies within 2 s (docs/store.md#config)."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [
        AdminErrors.invalidBody,
        AdminErrors.invalidConfig,
        AdminErrors.configReadOnly,
        AdminErrors.configCommandsLocked,
        AdminErrors.configChanged,
        AdminErrors.configUnreadable,
        AdminErrors.configWriteFailed,
        AdminErrors.storeUnavailable
      ]),
    HttpApiEndpoint.post("reload", "/reload", {
      success: AdminSchemas.AppliedAnswer,
      error: ApiErrors.BadRequestJson
    })
      .middleware(AdminBody)
      .annotateMerge(describe("Reads the config file again and applies it."))
      .annotate(ApiErrors.ErrorCodes, [AdminErrors.invalidConfig])
  )
  .middleware(AdminAccess)
  .prefix("/admin/api/mcp")
  .annotateMerge(OpenApi.annotations({ title: "Config editor" })) {}

export class AuditGroup extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("list", "/audit", {
      query: AdminSchemas.AuditQuery,
      success: AdminSchemas.AuditAnswer,
      error: [ApiErrors.BadRequestJson, ApiErrors.ServiceUnavailableJson]
    })
      .annotateMerge(
        describe(
          "The audit log, newest first (docs/store.md#audit-log): logins, logouts and failed refreshes of MCP servers, admin sign-ins with their address, config changes with the paths that changed, revoked user connections. Never a token, a secret or a config value."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [AdminErrors.invalidQuery, AdminErrors.storeUnavailable]),
    HttpApiEndpoint.get("configHistory", "/config/history", {
      success: AdminSchemas.ConfigHistoryAnswer,
      error: ApiErrors.ServiceUnavailableJson
    })
      .annotateMerge(
        describe(
          "With a Postgres store, the config versions saved through the admin API, newest first (the last 100): who saved each, when, and which paths changed, never the text (docs/store.md#config). Empty without a shared store."
        )
      )
      .annotate(ApiErrors.ErrorCodes, [AdminErrors.storeUnavailable])
  )
  .middleware(AdminAccess)
  .prefix("/admin/api")
  .annotateMerge(OpenApi.annotations({ title: "Audit log and config history" })) {}

/** Server-sent events, each `data` one line of JSON; `: heartbeat` comments every 15 seconds. */
export const AdminEventStream = HttpApiSchema.StreamSse({ events: AdminSchemas.AdminEvent })

export class EventsGroup extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("stream", "/events", { success: AdminEventStream }).annotateMerge(
      describe(
        "`retry: 3000`, then a `snapshot`, then every change as it happens, and a `: heartbeat` comment every 15 seconds so that proxies keep an idle stream open. The subscription starts before the snapshot is read, so no change falls between them. `EventSource` cannot send headers: the session cookie is how the web UI opens it."
      )
    )
  )
  .middleware(AdminAccess)
  .prefix("/admin/api/mcp")
  .annotateMerge(OpenApi.annotations({ title: "Event stream" })) {}

export class ActivityGroup extends HttpApiGroup.make("activity")
  .add(
    HttpApiEndpoint.get("recent", "/activity", { success: AdminSchemas.ActivityAnswer }).annotateMerge(
      describe(
        "Per server and tool, the last hour's calls, errors and p50/p95 latency, in total and by minute (docs/observability.md#activity): this replica's calls since it started, from the tool-call histogram of `/metrics`."
      )
    )
  )
  .middleware(AdminAccess)
  .prefix("/admin/api")
  .annotateMerge(OpenApi.annotations({ title: "Activity" })) {}

export class AdminHttpApi extends HttpApi.make("admin")
  .add(
    SessionGroup,
    ServersGroup,
    UsersGroup,
    OAuthGroup,
    ConfigGroup,
    EventsGroup,
    AuditGroup,
    ActivityGroup
  )
  .annotateMerge(
    OpenApi.annotations({
      title: "Admin API",
      description:
        "Under `/admin/api/`: what the web UI at `/admin` shows and does. Any other admin path answers 404 `route_not_found` once the admin token is checked. Every answer carries `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store` and `X-Frame-Options: DENY`."
    })
  ) {}
