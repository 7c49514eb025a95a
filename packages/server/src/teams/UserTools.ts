/**
 * Per-user MCP connections (docs/teams.md#per-user-tool-calls): for each user,
 * a `McpClientManager` of the `identity: "user"` servers whose requests carry
 * that user's own tokens (`AuthorizedFetch` over the user's `OAuthManager`).
 * Pooled by user (`RcMap`): made on a user's first call, shared by their
 * concurrent calls, closed after `idle` without one. A login or logout of the
 * user drops the pooled connections, so the next call uses the new credential.
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as AuthorizedFetch from "@mcpgate/transport/AuthorizedFetch"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Context, Duration, Effect, Layer, RcMap } from "effect"
import { UserCredentials, userServers } from "./UserCredentials.ts"

export interface UserToolsShape {
  /** Whether the named server's logins are per user. */
  readonly isUserServer: (server: string) => boolean
  /** Whether the config has any per-user server at all. */
  readonly hasUserServers: boolean
  /** Runs `use` with the user's own manager of the per-user servers. */
  readonly withManager: <A, E>(
    user: string,
    use: (manager: McpClientManagerShape) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E>
  /** Closes the user's pooled connections (after a login or a logout). */
  readonly invalidate: (user: string) => Effect.Effect<void>
}

export interface UserToolsOptions {
  /** How long a user's connections stay open without a call (default 5 minutes). */
  readonly idle?: Duration.Input | undefined
}

const make = Effect.fnUntraced(function* (config: McpgateConfig, options: UserToolsOptions) {
  const credentials = yield* UserCredentials
  const servers = userServers(config.mcpServers)
  const names = new Set(servers.map((server) => server.name))
  const userConfig: McpgateConfig = {
    ...config,
    mcpServers: Object.fromEntries(servers.map((server) => [server.name, server]))
  }
  const pool = yield* RcMap.make({
    lookup: (user: string) =>
      Effect.gen(function* () {
        const oauth = yield* credentials.managerFor(user)
        // A memo map of its own: the gateway's (shared) `AuthorizedFetch` must not be reused here.
        const context = yield* Layer.buildWithMemoMap(
          McpClientManager.layer(userConfig, { healthCheckIntervalMs: 0 }).pipe(
            Layer.provide(AuthorizedFetch.layerOAuth),
            Layer.provide(Layer.succeed(OAuthManager, oauth))
          ),
          yield* Layer.makeMemoMap,
          yield* Effect.scope
        )
        const manager = Context.get(context, McpClientManager)
        // A first call waits for the first attempt of each server, not for a retry.
        yield* manager.awaitSettled
        return manager
      }),
    idleTimeToLive: Duration.fromInputUnsafe(options.idle ?? "5 minutes")
  })
  yield* credentials.onChange((user) => RcMap.invalidate(pool, user))
  return UserTools.of({
    isUserServer: (server) => names.has(server),
    hasUserServers: names.size > 0,
    withManager: (user, use) => Effect.scoped(Effect.flatMap(RcMap.get(pool, user), use)),
    invalidate: (user) => RcMap.invalidate(pool, user)
  })
})

export class UserTools extends Context.Service<UserTools, UserToolsShape>()("@mcpgate/server/UserTools") {
  /** Needs `UserCredentials`. */
  static readonly layer = (
    config: McpgateConfig,
    options: UserToolsOptions = {}
  ): Layer.Layer<UserTools, never, UserCredentials> => Layer.effect(UserTools, make(config, options))
}
