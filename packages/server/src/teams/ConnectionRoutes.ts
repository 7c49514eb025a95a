/**
 * A user's own connections (docs/teams.md#connections), under the same
 * authentication as `/v1` (mount behind `Security.apiKeyMiddleware`):
 *
 * - `GET /v1/mcp/connections`: each `identity: "user"` server with this user's
 *   state (connected, expires, scopes; never a token);
 * - `POST /v1/mcp/connections/{server}` → `{authUrl}`: the browser goes there
 *   and comes back to the gateway's web OAuth callback, bound to `state` and
 *   to this user;
 * - `DELETE /v1/mcp/connections/{server}`: revokes and deletes this user's
 *   credential.
 *
 * Only users have connections: the shared identity and the local owner get 403.
 */
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import type { OAuthError } from "@mcpgate/oauth/Errors"
import type { AuthStatus } from "@mcpgate/oauth/OAuthManager"
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { callbackPath } from "../admin/OAuthCallback.ts"
import * as ErrorBody from "../http/ErrorBody.ts"
import { CurrentPrincipal, Security } from "../security/Security.ts"
import { UserCredentials, userServers } from "./UserCredentials.ts"

/** One server as its user sees it. */
export const connectionView = (server: ServerConfig, status: AuthStatus) => ({
  server: server.name,
  url: server.url ?? "",
  connected: status.state === "authenticated" || status.state === "expired",
  state: status.state,
  summary: status.summary,
  ...(status.expiresAt === undefined ? {} : { expiresAt: status.expiresAt }),
  scopes: status.scopes
})

const notAUser = ErrorBody.response(403, {
  type: "permission_error",
  code: "not_a_user",
  message:
    "connections belong to users: sign in through server.auth, or use an API key of server.users (a key of server.apiKeys is the shared identity)"
})

const failed = (error: OAuthError) =>
  ErrorBody.response(error.retryable ? 502 : 400, {
    type: "oauth_error",
    code: error.reason,
    message: error.message
  })

export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const credentials = yield* UserCredentials
    const security = yield* Security
    const configFile = yield* ConfigFile
    const base = security.baseUrl
    // The config in force: the file's current one (the admin editor saves and reloads it),
    // else the one the gateway started with (embedded without a file).
    const config: Effect.Effect<McpgateConfig> = configFile.current.pipe(
      Effect.map((loaded) => loaded.config),
      Effect.orElseSucceed(() => credentials.startConfig)
    )
    const userServer = (name: string) =>
      Effect.map(config, (current) => userServers(current.mcpServers).find((server) => server.name === name))
    const noSuchServer = (name: string) =>
      ErrorBody.response(404, {
        type: "not_found",
        code: "server_not_found",
        message: `no server named "${name}" with "auth.identity": "user" in the config`
      })
    const asUser = <E, R>(
      handle: (user: string) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.gen(function* () {
        const principal = yield* CurrentPrincipal
        return principal._tag === "User" ? yield* handle(principal.id) : notAUser
      })

    yield* router.add(
      "GET",
      "/v1/mcp/connections",
      asUser((user) =>
        Effect.gen(function* () {
          const current = yield* config
          const servers = userServers(current.mcpServers)
          const views = yield* Effect.forEach(servers, (server) =>
            Effect.map(credentials.status(user, server), (status) => connectionView(server, status)).pipe(
              Effect.orElseSucceed(() => ({
                server: server.name,
                url: server.url ?? "",
                connected: false,
                state: "error",
                summary: "the credential store could not be read",
                scopes: []
              }))
            )
          )
          return HttpServerResponse.jsonUnsafe({ user, connections: views })
        })
      )
    )
    yield* router.add(
      "POST",
      "/v1/mcp/connections/:server",
      asUser((user) =>
        Effect.gen(function* () {
          const name = (yield* HttpRouter.params).server ?? ""
          const server = yield* userServer(name)
          if (server === undefined) return noSuchServer(name)
          return yield* credentials.begin(user, server, `${base}${callbackPath}`).pipe(
            Effect.map((started) => HttpServerResponse.jsonUnsafe(started)),
            Effect.catch((error) => Effect.succeed(failed(error)))
          )
        })
      )
    )
    yield* router.add(
      "DELETE",
      "/v1/mcp/connections/:server",
      asUser((user) =>
        Effect.gen(function* () {
          const name = (yield* HttpRouter.params).server ?? ""
          const server = yield* userServer(name)
          if (server === undefined) return noSuchServer(name)
          return yield* credentials.disconnect(user, server).pipe(
            Effect.map((result) => HttpServerResponse.jsonUnsafe(result)),
            Effect.catch((error) => Effect.succeed(failed(error)))
          )
        })
      )
    )
  })
)
