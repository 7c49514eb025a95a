/**
 * The admin API (SPEC §5) under `/admin/api/`: what the web UI shows and does.
 *
 * - `POST|DELETE session`: the UI trades the admin token for an HttpOnly cookie.
 * - `GET mcp/servers`: every configured server with its state, tools and auth
 *   metadata (never a token).
 * - `POST mcp/servers/{name}/reconnect | authenticate | logout`.
 * - `GET mcp/oauth/callback`: public; bound to the `state` that `OAuthManager`
 *   keeps for 10 minutes; answers a small escaped page (admin/CallbackPage.ts).
 * - `GET|PUT mcp/config`, `POST mcp/reload`: the file text as on disk (with its
 *   `${env:…}` references, never their values); a save is validated, written
 *   atomically with a backup, then applied.
 * - `GET mcp/events`: server-sent events, a snapshot first, then every change.
 *
 * Every route but the callback passes `Security.authorizeAdmin` first; every
 * answer carries the admin security headers; errors are `{error: {message, type, code}}`.
 * Mount with `AdminApi.routes`; it needs `Security`, `McpClientManager`,
 * `OAuthManager` and `ConfigFile`.
 */
import { createHash } from "node:crypto"
import * as NodeFs from "node:fs/promises"
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { type ConfigError, ConfigFile, emptyConfig } from "@mcpgate/core/ConfigFile"
import type { OAuthError } from "@mcpgate/oauth/Errors"
import { type AuthStatus, OAuthManager } from "@mcpgate/oauth/OAuthManager"
import type { ManagerChange, ServerStatus } from "@mcpgate/transport/ConnectionState"
import { type AggregatedTool, McpClientManager } from "@mcpgate/transport/McpClientManager"
import { Clock, Duration, Effect, Option, Predicate, PubSub, Ref, Schema, Semaphore, Stream } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import * as ConfigEditor from "../security/ConfigEditorMode.ts"
import {
  adminBodyLimit,
  adminHeaders,
  Refused,
  readJson,
  Security,
  toResponse,
  withAdminHeaders
} from "../security/Security.ts"
import * as CallbackPage from "./CallbackPage.ts"

/** The path of the web OAuth callback; the redirect URI is `<publicUrl>` followed by it. */
export const callbackPath = "/admin/api/mcp/oauth/callback"

/** How long a web login may take (the same 10 minutes `OAuthManager` keeps its state). */
const pendingLoginMs = 10 * 60 * 1000

export interface AdminApiOptions {
  /** Time between SSE heartbeats (default 15 seconds). */
  readonly heartbeatMs?: number
  /** Called when an event stream starts and when it ends (metrics, tests). */
  readonly onEventStream?: (change: "opened" | "closed") => void
}

/** A login finished in the browser, as `GET events` reports it. */
export interface OAuthCompletion {
  readonly server: string
  readonly ok: boolean
  readonly error?: string
}

/** The config editor's save was refused: the problems, each at its line. */
class ConfigRejected extends Schema.TaggedError<ConfigRejected>()("ConfigRejected", {
  message: Schema.String,
  issues: Schema.Array(
    Schema.Struct({
      path: Schema.String,
      message: Schema.String,
      line: Schema.optionalKey(Schema.Number),
      column: Schema.optionalKey(Schema.Number)
    })
  )
}) {}

const rejectedResponse = (error: ConfigRejected) =>
  HttpServerResponse.jsonUnsafe(
    {
      error: {
        message: error.message,
        type: "invalid_request_error",
        code: "invalid_config",
        issues: error.issues
      }
    },
    { status: 400 }
  )

const fromConfigError = (error: ConfigError) =>
  new ConfigRejected({ message: error.message, issues: error.issues })

const badBody = (message: string) =>
  new Refused({ status: 400, type: "invalid_request_error", code: "invalid_body", message })

/** OAuth failures: the authorization server's (502) unless the configuration is at fault (400). */
const oauthRefusal = (error: OAuthError) =>
  new Refused({
    status: ["configuration", "insecure-endpoint", "pkce-unsupported"].includes(error.reason) ? 400 : 502,
    type: "oauth_error",
    code: error.reason,
    message: error.message
  })

const internalError = () =>
  Effect.succeed(
    HttpServerResponse.jsonUnsafe(
      { error: { message: "internal error in the gateway", type: "server_error", code: "internal_error" } },
      { status: 500 }
    )
  )

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex")

/** A URL for display: origin and path only (a query may carry a key). */
const displayUrl = (url: string | undefined): string | undefined => {
  if (url === undefined) return undefined
  const parsed = URL.parse(url)
  return parsed === null ? undefined : `${parsed.origin}${parsed.pathname}`
}

/** What needs a restart to change: the listener, the upstream, the builtins, the loop budget. */
const restartSettings = (config: McpgateConfig) => {
  const { apiKeys: _live, ...server } = config.server
  return JSON.stringify([server, config.builtins, config.maxToolCalls])
}

interface AuthView {
  readonly state: AuthStatus["state"] | "unknown"
  readonly summary: string
  readonly refreshable: boolean
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt?: number
  readonly issuer?: string
  readonly registrationMethod?: string
  readonly clientId?: string
  readonly tokenType?: string
  readonly neededScopes?: ReadonlyArray<string>
}

/** Field by field, so that nothing `AuthStatus` may gain later reaches a response unseen. */
const authView = (status: AuthStatus): AuthView => ({
  state: status.state,
  summary: status.summary,
  refreshable: status.refreshable,
  scopes: status.scopes,
  ...(status.expiresAt === undefined ? {} : { expiresAt: status.expiresAt }),
  ...(status.issuer === undefined ? {} : { issuer: status.issuer }),
  ...(status.registrationMethod === undefined ? {} : { registrationMethod: status.registrationMethod }),
  ...(status.clientId === undefined ? {} : { clientId: status.clientId }),
  ...(status.tokenType === undefined ? {} : { tokenType: status.tokenType }),
  ...(status.neededScopes === undefined ? {} : { neededScopes: status.neededScopes })
})

const notRequired: AuthView = {
  state: "not-required",
  summary: "not required",
  refreshable: false,
  scopes: []
}

const toolView = (tool: AggregatedTool) => ({
  publicName: tool.publicName,
  name: tool.tool.name,
  ...(tool.tool.title === undefined
    ? tool.tool.annotations?.title === undefined
      ? {}
      : { title: tool.tool.annotations.title }
    : { title: tool.tool.title }),
  ...(tool.tool.description === undefined ? {} : { description: tool.tool.description }),
  inputSchema: tool.tool.inputSchema
})

const statusView = (status: ServerStatus) => ({
  name: status.name,
  transport: status.transport,
  state: status.state,
  attempts: status.attempts,
  toolCount: status.toolCount,
  ...(status.lastError === undefined ? {} : { lastError: status.lastError }),
  ...(status.stderr === undefined ? {} : { stderr: status.stderr }),
  ...(status.lastConnectedAt === undefined ? {} : { lastConnectedAt: status.lastConnectedAt }),
  ...(status.nextRetryAt === undefined ? {} : { nextRetryAt: status.nextRetryAt }),
  ...(status.serverInfo === undefined ? {} : { serverInfo: status.serverInfo })
})

/** One SSE event (WHATWG HTML §9.2): JSON never holds a raw newline, so one `data` line. */
const sseEvent = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

const changeEvent = (change: ManagerChange): string => {
  switch (change._tag) {
    case "StatusChanged":
      return sseEvent("status", statusView(change.status))
    case "ToolsChanged":
      return sseEvent("tools", { server: change.server, toolCount: change.toolCount })
    case "ServerRemoved":
      return sseEvent("removed", { server: change.server })
  }
}

const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The routes, with options (tests shorten the heartbeat). */
export const routesWith = (options: AdminApiOptions = {}) =>
  HttpRouter.use((router) =>
    Effect.gen(function* () {
      const security = yield* Security
      const manager = yield* McpClientManager
      const oauth = yield* OAuthManager
      const configFile = yield* ConfigFile
      const heartbeat = Duration.millis(options.heartbeatMs ?? 15_000)

      /** The config the manager runs, kept in step with every save and reload. */
      const applied = yield* Ref.make(
        yield* configFile.current.pipe(
          Effect.map((loaded) => loaded.config),
          Effect.orElseSucceed(() => emptyConfig)
        )
      )
      const logins = yield* PubSub.sliding<OAuthCompletion>(256)
      /** Web logins in progress, by `state`: only to name the server when a login fails. */
      const pending = new Map<string, { readonly server: string; readonly expiresAt: number }>()
      const configLock = yield* Semaphore.make(1)

      const lookup = (name: string | undefined) =>
        Effect.flatMap(Ref.get(applied), (config) => {
          const server = name === undefined ? undefined : config.mcpServers[name]
          return server === undefined
            ? Effect.fail(
                new Refused({
                  status: 404,
                  type: "not_found_error",
                  code: "server_not_found",
                  message: `no server named "${name ?? ""}" in the config`
                })
              )
            : Effect.succeed(server)
        })

      const serverName = Effect.map(HttpRouter.params, (params) => params.name)

      const authOf = (server: ServerConfig | undefined) =>
        server?.url === undefined
          ? Effect.succeed(notRequired)
          : oauth.status(server).pipe(
              Effect.map(authView),
              Effect.catch((error) =>
                Effect.succeed<AuthView>({
                  state: "unknown",
                  summary: error.message,
                  refreshable: false,
                  scopes: []
                })
              )
            )

      const serversPayload = Effect.gen(function* () {
        const config = yield* Ref.get(applied)
        const statuses = yield* manager.status
        const tools = yield* manager.tools
        const names = new Set(statuses.map((status) => status.name))
        const servers = yield* Effect.forEach(
          statuses,
          (status) =>
            Effect.gen(function* () {
              const server = config.mcpServers[status.name]
              const url = displayUrl(server?.url)
              return {
                ...statusView(status),
                enabled: server?.enabled ?? status.state !== "disabled",
                ...(url === undefined ? {} : { url }),
                tools: tools.filter((tool) => tool.server === status.name).map(toolView),
                auth: yield* authOf(server)
              }
            }),
          { concurrency: 8 }
        )
        return {
          servers,
          builtinTools: tools.filter((tool) => !names.has(tool.server)).map(toolView)
        }
      })

      /** Validated, written, applied; `restartRequired` when a setting only a restart applies changed. */
      const applyConfig = (config: McpgateConfig) =>
        Effect.gen(function* () {
          const previous = yield* Ref.get(applied)
          yield* manager.reload(config)
          // Checked before saving; a failure here would only mean the keys stay as they were.
          yield* security.apply(config).pipe(Effect.ignore)
          yield* Ref.set(applied, config)
          return { restartRequired: restartSettings(previous) !== restartSettings(config) }
        })

      const readConfigText = Effect.tryPromise({
        try: () =>
          NodeFs.readFile(configFile.path, "utf8").then(
            (text) => Option.some(text),
            (error: unknown) =>
              Predicate.hasProperty(error, "code") && error.code === "ENOENT"
                ? Option.none<string>()
                : Promise.reject(error)
          ),
        catch: () =>
          new Refused({
            status: 500,
            type: "server_error",
            code: "config_unreadable",
            message: `cannot read the config file ${configFile.path}`
          })
      })

      const securityCheck = (config: McpgateConfig) =>
        security.check(config).pipe(
          Effect.mapError(
            (error) =>
              new ConfigRejected({
                message: error.message,
                issues: [{ path: error.path, message: error.message }]
              })
          )
        )

      /** The config in the file now (what its owner wrote), else the one running. */
      const fileConfig = Effect.gen(function* () {
        const text = yield* readConfigText.pipe(Effect.orElseSucceed(() => Option.none<string>()))
        const parsed = Option.isSome(text)
          ? yield* Effect.option(configFile.parse(text.value))
          : Option.none()
        return Option.isSome(parsed) ? parsed.value : yield* Ref.get(applied)
      })

      const editorRefused = (refusal: ConfigEditor.EditorRefusal) =>
        Effect.fail(
          new Refused({ status: 403, type: "permission_error", code: refusal.code, message: refusal.message })
        )

      /** `server.configEditor` (security/ConfigEditorMode.ts): 403 for what the mode does not allow. */
      const editorCheck = (current: McpgateConfig, next: McpgateConfig) => {
        const refusal = ConfigEditor.check(security.configEditor, current, next)
        return refusal === undefined ? Effect.void : editorRefused(refusal)
      }

      // -----------------------------------------------------------------
      // Handlers

      const getServers = () => Effect.map(serversPayload, (payload) => json(payload))

      const reconnect = () =>
        Effect.gen(function* () {
          const server = yield* lookup(yield* serverName)
          yield* manager.reconnect(server.name).pipe(Effect.mapError(() => notFoundLater(server.name)))
          return json({
            ok: true,
            server: statusView(yield* manager.serverStatus(server.name).pipe(Effect.orDie))
          })
        })

      const authenticate = () =>
        Effect.gen(function* () {
          const server = yield* lookup(yield* serverName)
          if (server.auth === undefined) {
            return yield* new Refused({
              status: 400,
              type: "invalid_request_error",
              code: "oauth_not_configured",
              message: `server "${server.name}" does not use OAuth: add "auth": {"type": "oauth2"} to its entry in the config`
            })
          }
          const base = security.addresses.publicUrl
          if (base === undefined) {
            return yield* new Refused({
              status: 400,
              type: "invalid_request_error",
              code: "public_url_required",
              message:
                'the gateway listens on every interface and "server.publicUrl" is not set, so there is no redirect URI a browser could reach; set "server.publicUrl"'
            })
          }
          // Built from the configuration only, never from the request's Host (SPEC §5).
          const begun = yield* oauth
            .beginLogin(server, { redirectUri: `${base}${callbackPath}` })
            .pipe(Effect.mapError(oauthRefusal))
          const protocol = URL.parse(begun.authorizationUrl)?.protocol
          if (protocol !== "https:" && protocol !== "http:") {
            // The UI opens this URL: a javascript: or data: URL from the metadata must never reach it.
            return yield* new Refused({
              status: 502,
              type: "oauth_error",
              code: "authorization",
              message: `${server.name}: the authorization server gave an authorization URL that is not http(s)`
            })
          }
          const now = yield* Clock.currentTimeMillis
          for (const [state, entry] of pending) if (entry.expiresAt <= now) pending.delete(state)
          pending.set(begun.state, { server: server.name, expiresAt: now + pendingLoginMs })
          return json({ authUrl: begun.authorizationUrl })
        })

      const logout = () =>
        Effect.gen(function* () {
          const server = yield* lookup(yield* serverName)
          // Only an HTTP server can hold a credential; a stdio server is never logged in.
          const result =
            server.url === undefined
              ? { removed: false, revoked: false }
              : yield* oauth.logout(server).pipe(Effect.mapError(oauthRefusal))
          if (!result.removed) {
            // Nothing was logged out, so the connection stays as it is.
            return yield* new Refused({
              status: 409,
              type: "conflict_error",
              code: "no_credential",
              message:
                server.url === undefined
                  ? `server "${server.name}" has no credential to log out of: it is a stdio server and does not use OAuth; nothing was changed`
                  : `server "${server.name}" has no credential to log out of (it is not logged in); nothing was changed`
            })
          }
          yield* manager.disconnect(server.name).pipe(Effect.ignore)
          return json({ ok: true, removed: result.removed, revoked: result.revoked })
        })

      const getConfig = () =>
        Effect.gen(function* () {
          const text = yield* readConfigText
          return json({
            path: configFile.path,
            editor: security.configEditor,
            exists: Option.isSome(text),
            text: Option.getOrElse(text, () => ""),
            hash: sha256(Option.getOrElse(text, () => ""))
          })
        })

      const putConfig = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.gen(function* () {
          const body = yield* readJson(request, adminBodyLimit)
          if (!isObject(body) || typeof body.text !== "string") {
            return yield* badBody('expected a JSON object {"text": "<the config file>"}')
          }
          if (body.baseHash !== undefined && typeof body.baseHash !== "string") {
            return yield* badBody('"baseHash" must be the "hash" that GET config returned')
          }
          const text = body.text
          const baseHash = body.baseHash
          if (security.configEditor === "read-only") return yield* editorRefused(ConfigEditor.readOnly)
          return yield* Effect.gen(function* () {
            const config = yield* configFile.parse(text).pipe(Effect.mapError(fromConfigError))
            yield* securityCheck(config)
            yield* editorCheck(yield* fileConfig, config)
            if (baseHash !== undefined) {
              const current = Option.getOrElse(yield* readConfigText, () => "")
              if (sha256(current) !== baseHash) {
                return yield* new Refused({
                  status: 409,
                  type: "conflict_error",
                  code: "config_changed",
                  message:
                    "the config file changed on disk since it was loaded; reload it and apply the edit again"
                })
              }
            }
            const saved = yield* configFile.saveText(text).pipe(
              Effect.catchTags({
                ConfigError: (error) => Effect.fail(fromConfigError(error)),
                ConfigWriteError: (error) =>
                  Effect.fail(
                    new Refused({
                      status: 500,
                      type: "server_error",
                      code: "config_write_failed",
                      message: error.message
                    })
                  )
              })
            )
            const { restartRequired } = yield* applyConfig(saved.config)
            return json({ ok: true, path: saved.path, restartRequired })
          }).pipe(configLock.withPermits(1))
        })

      const reload = () =>
        Effect.gen(function* () {
          const loaded = yield* configFile.reload.pipe(Effect.mapError(fromConfigError))
          yield* securityCheck(loaded.config)
          const { restartRequired } = yield* applyConfig(loaded.config)
          return json({ ok: true, path: loaded.path, restartRequired })
        }).pipe(configLock.withPermits(1))

      const events = () => {
        const notify = (change: "opened" | "closed") => Effect.sync(() => options.onEventStream?.(change))
        const stream = Stream.unwrap(
          Effect.gen(function* () {
            yield* notify("opened")
            // Runs when the client goes away too: the server interrupts the response then.
            yield* Effect.addFinalizer(() => notify("closed"))
            // Subscribe first, then read the snapshot: no change falls between them.
            const changes = yield* manager.subscribe
            const completions = Stream.fromSubscription(yield* PubSub.subscribe(logins))
            const snapshot = yield* serversPayload
            return Stream.concat(
              Stream.make("retry: 3000\n\n", sseEvent("snapshot", snapshot)),
              Stream.mergeAll(
                [
                  Stream.map(changes, changeEvent),
                  Stream.map(completions, (completion) => sseEvent("oauth", completion)),
                  // A comment line keeps proxies and the browser from timing out an idle stream.
                  Stream.tick(heartbeat).pipe(
                    Stream.drop(1),
                    Stream.map(() => ": heartbeat\n\n")
                  )
                ],
                { concurrency: "unbounded" }
              )
            )
          })
        )
        return Effect.succeed(
          HttpServerResponse.stream(Stream.encodeText(stream), {
            contentType: "text/event-stream",
            headers: { ...adminHeaders, "x-accel-buffering": "no" }
          })
        )
      }

      const openSession = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.gen(function* () {
          // The token is the credential here, so only the Origin rule applies first.
          const origin = request.headers.origin
          if (origin !== undefined && !security.addresses.allowedOrigins.has(origin)) {
            return yield* new Refused({
              status: 403,
              type: "permission_error",
              code: "cross_origin",
              message: `cross-origin request refused: the admin API answers only pages of ${security.addresses.origin}`
            })
          }
          const body = yield* readJson(request, adminBodyLimit)
          if (!isObject(body) || typeof body.token !== "string") {
            return yield* badBody('expected a JSON object {"token": "<the admin token>"}')
          }
          const session = yield* security.openSession(request, body.token)
          return security.setSessionCookie(json({ ok: true }), session)
        })

      const closeSession = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.gen(function* () {
          const origin = request.headers.origin
          if (origin !== undefined && !security.addresses.allowedOrigins.has(origin)) {
            return yield* new Refused({
              status: 403,
              type: "permission_error",
              code: "cross_origin",
              message: `cross-origin request refused: the admin API answers only pages of ${security.addresses.origin}`
            })
          }
          yield* readJson(request, adminBodyLimit)
          yield* security.closeSession(request)
          return security.clearSessionCookie(json({ ok: true }))
        })

      const callback = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.gen(function* () {
          const url = new URL(request.url, "http://callback.invalid")
          const params = url.searchParams
          const state = params.get("state")
          const asError = params.get("error")
          const asDescription = params.get("error_description")
          const reported = [
            ...(asError === null ? [] : [`The authorization server answered: ${asError}`]),
            ...(asDescription === null ? [] : [asDescription])
          ]
          const origin = security.addresses.origin
          const page = (fields: Omit<CallbackPage.CallbackPage, "origin">) =>
            CallbackPage.render({ ...fields, origin })
          if (state === null || state === "") {
            return page({
              status: 400,
              ok: false,
              server: undefined,
              title: "Sign-in failed",
              lines: [
                "This page was opened without the state of a sign-in. Start again from the admin page.",
                ...reported
              ],
              error: "missing state"
            })
          }
          const now = yield* Clock.currentTimeMillis
          for (const [key, entry] of pending) if (entry.expiresAt <= now) pending.delete(key)
          const login = pending.get(state)
          pending.delete(state)
          const base = security.addresses.publicUrl ?? origin
          const result = yield* Effect.result(oauth.completeLogin(`${base}${callbackPath}${url.search}`))
          if (result._tag === "Failure") {
            const error = result.failure
            const server = login?.server
            // `OAuthManager` keeps the state: a state it does not know is unknown or expired.
            const expired = error.reason === "state-mismatch"
            const message = expired ? "this sign-in is unknown or has expired" : error.message
            if (server !== undefined) yield* PubSub.publish(logins, { server, ok: false, error: message })
            return page({
              status: error.retryable ? 502 : 400,
              ok: false,
              server,
              title: expired ? "Sign-in unknown or expired" : "Sign-in failed",
              lines: expired
                ? [
                    "This sign-in is unknown or has expired (a sign-in is valid for 10 minutes). Start it again from the admin page.",
                    ...reported
                  ]
                : [error.message, ...reported],
              error: message
            })
          }
          const server = result.success.server
          // The new credential is used at once: the connection starts over.
          yield* manager.reconnect(server).pipe(Effect.ignore)
          yield* PubSub.publish(logins, { server, ok: true })
          return page({
            status: 200,
            ok: true,
            server,
            title: "Signed in",
            lines: [
              `mcpgate is now authorized for "${server}" and reconnects it.`,
              "You can close this window."
            ]
          })
        })

      const notFound = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.fail(
          new Refused({
            status: 404,
            type: "not_found_error",
            code: "route_not_found",
            message: `no admin route for ${request.method} ${new URL(request.url, "http://x").pathname}`
          })
        )

      // -----------------------------------------------------------------
      // Wiring

      type Handler = (
        request: HttpServerRequest.HttpServerRequest
      ) => Effect.Effect<
        HttpServerResponse.HttpServerResponse,
        Refused | ConfigRejected,
        HttpRouter.RouteContext
      >

      const finish = <R>(
        effect: Effect.Effect<HttpServerResponse.HttpServerResponse, Refused | ConfigRejected, R>
      ) =>
        effect.pipe(
          Effect.catchTags({
            Refused: (refused) => Effect.succeed(toResponse(refused)),
            ConfigRejected: (rejected) => Effect.succeed(rejectedResponse(rejected))
          }),
          Effect.catchDefect(internalError),
          Effect.map(withAdminHeaders)
        )

      /** Admin token (or session) first; a write's body is read and checked even when unused. */
      const admin =
        (handler: Handler, options: { readonly readsBody?: boolean } = {}) =>
        (request: HttpServerRequest.HttpServerRequest) =>
          finish(
            Effect.gen(function* () {
              yield* security.authorizeAdmin(request)
              const write = request.method !== "GET" && request.method !== "HEAD"
              if (write && options.readsBody !== true) yield* readJson(request, adminBodyLimit)
              return yield* handler(request)
            })
          )

      const open = (handler: Handler) => (request: HttpServerRequest.HttpServerRequest) =>
        finish(handler(request))

      yield* router.add("POST", "/admin/api/session", open(openSession))
      yield* router.add("DELETE", "/admin/api/session", open(closeSession))
      yield* router.add("GET", "/admin/api/mcp/servers", admin(getServers))
      yield* router.add("POST", "/admin/api/mcp/servers/:name/reconnect", admin(reconnect))
      yield* router.add("POST", "/admin/api/mcp/servers/:name/authenticate", admin(authenticate))
      yield* router.add("POST", "/admin/api/mcp/servers/:name/logout", admin(logout))
      yield* router.add("GET", callbackPath, open(callback))
      yield* router.add("GET", "/admin/api/mcp/config", admin(getConfig))
      yield* router.add("PUT", "/admin/api/mcp/config", admin(putConfig, { readsBody: true }))
      yield* router.add("POST", "/admin/api/mcp/reload", admin(reload))
      yield* router.add("GET", "/admin/api/mcp/events", admin(events))
      yield* router.add("*", "/admin/api/*", admin(notFound, { readsBody: true }))
    })
  )

/** A server removed between the lookup and the action. */
const notFoundLater = (name: string) =>
  new Refused({
    status: 404,
    type: "not_found_error",
    code: "server_not_found",
    message: `no server named "${name}" in the config`
  })

/** The admin routes with the default options. */
export const routes = routesWith()
