/**
 * Per-user MCP connections (docs/teams.md#per-user-tool-calls): for each user,
 * a `McpClientManager` of the `identity: "user"` servers whose requests carry
 * that user's own tokens (`AuthorizedFetch` over the user's `OAuthManager`).
 * Pooled by user (`RcMap`): made on a user's first call, shared by their
 * concurrent calls, closed after `idle` without one. A login or logout of the
 * user drops the pooled connections, so the next call uses the new credential;
 * with a shared store, so does one made on another replica (the store's notice
 * of the credential, docs/store.md#cache).
 */
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { keyOf } from "@mcpgate/core/Credential"
import { CredentialChanges } from "@mcpgate/core/CredentialChanges"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as AuthorizedFetch from "@mcpgate/transport/AuthorizedFetch"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Context, Duration, Effect, Layer, Option, PubSub, RcMap, type Scope, Stream } from "effect"
import { UserCredentials, type UserCredentialsShape, userServers } from "./UserCredentials.ts"

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
  /**
   * The users whose pooled connections changed what they offer (tools, or a
   * server that now waits for a login), from the moment of subscribing.
   */
  readonly toolChanges: Effect.Effect<Stream.Stream<string>, never, Scope.Scope>
}

export interface UserToolsOptions {
  /** How long a user's connections stay open without a call (default 5 minutes). */
  readonly idle?: Duration.Input | undefined
}

/** Undoes the escaping of names in credential keys (`%25` for `%`, `%7C` for `|`; docs/credentials.md). */
const unescapeName = (escaped: string): string =>
  escaped.replace(/%(25|7C)/g, (_, code: string) => (code === "25" ? "%" : "|"))

/**
 * The user and per-user server a credential key names: `<user>%40<server>|<url>`
 * (`keyOf`); an escaped name never holds `%40`, so the suffix decides.
 */
export const ownerOfKey = (
  key: string,
  servers: ReadonlyArray<ServerConfig>
): { readonly user: string; readonly server: ServerConfig } | undefined => {
  for (const server of servers) {
    if (server.url === undefined) continue
    const suffix = `%40${keyOf({ server: server.name, url: server.url })}`
    if (key.endsWith(suffix) && key.length > suffix.length) {
      return { user: unescapeName(key.slice(0, -suffix.length)), server }
    }
  }
  return undefined
}

type Pool = RcMap.RcMap<string, McpClientManagerShape>

/**
 * A credential of a pooled user written or deleted elsewhere: when it turns a
 * server the pool waits a login for into one with tokens, or the reverse, the
 * change is announced as this replica's own logins are. A refresh changes
 * neither and is let be.
 */
const onStoreChange = (
  pool: Pool,
  credentials: UserCredentialsShape,
  servers: ReadonlyArray<ServerConfig>,
  key: string
) =>
  Effect.gen(function* () {
    const owner = ownerOfKey(key, servers)
    if (owner === undefined) return
    const pooled = yield* Effect.scoped(
      Effect.flatMap(RcMap.getOption(pool, owner.user), (manager) =>
        Option.isNone(manager)
          ? Effect.succeed(undefined)
          : Effect.map(manager.value.serverStatus(owner.server.name), (status) => status.state)
      )
    )
    if (pooled === undefined) return
    const stored = yield* credentials.status(owner.user, owner.server)
    const hasTokens = stored.state === "authenticated" || stored.state === "expired"
    if (hasTokens === (pooled === "needs_auth")) yield* credentials.announce(owner.user)
  }).pipe(Effect.catch((error) => Effect.logDebug(`per-user credential notice: ${error.message}`)))

/** What a user's manager offers, as text: its tools and the servers that wait for a login. */
const offerOf = (manager: McpClientManagerShape) =>
  Effect.gen(function* () {
    const tools = (yield* manager.tools).map((tool) => tool.publicName)
    const waiting = (yield* manager.status).filter((server) => server.state === "needs_auth")
    return JSON.stringify([tools, waiting.map((server) => server.name)])
  })

/** Publishes `user` whenever what the manager offers changes (in the pooled entry's scope). */
const watchOffer = (manager: McpClientManagerShape, user: string, changes: PubSub.PubSub<string>) =>
  Effect.gen(function* () {
    const stream = yield* manager.subscribe
    let last = yield* offerOf(manager)
    yield* Effect.forkScoped(
      Stream.runForEach(stream, () =>
        Effect.gen(function* () {
          const now = yield* offerOf(manager)
          if (now === last) return
          last = now
          yield* PubSub.publish(changes, user)
        })
      )
    )
  })

const make = Effect.fnUntraced(function* (config: McpgateConfig, options: UserToolsOptions) {
  const credentials = yield* UserCredentials
  const servers = userServers(config.mcpServers)
  const names = new Set(servers.map((server) => server.name))
  const userConfig: McpgateConfig = {
    ...config,
    mcpServers: Object.fromEntries(servers.map((server) => [server.name, server]))
  }
  const offers = yield* PubSub.unbounded<string>()
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
        yield* watchOffer(manager, user, offers)
        return manager
      }),
    idleTimeToLive: Duration.fromInputUnsafe(options.idle ?? "5 minutes")
  })
  yield* credentials.onChange((user) => RcMap.invalidate(pool, user))
  const notices = yield* Effect.serviceOption(CredentialChanges)
  if (Option.isSome(notices) && servers.length > 0) {
    yield* Effect.forkScoped(
      Stream.runForEach(notices.value.changes, (key) => onStoreChange(pool, credentials, servers, key))
    )
  }
  return UserTools.of({
    isUserServer: (server) => names.has(server),
    hasUserServers: names.size > 0,
    withManager: (user, use) => Effect.scoped(Effect.flatMap(RcMap.get(pool, user), use)),
    invalidate: (user) => RcMap.invalidate(pool, user),
    toolChanges: Effect.map(PubSub.subscribe(offers), Stream.fromSubscription)
  })
})

export class UserTools extends Context.Service<UserTools, UserToolsShape>()("@mcpgate/server/UserTools") {
  /** Needs `UserCredentials`. */
  static readonly layer = (
    config: McpgateConfig,
    options: UserToolsOptions = {}
  ): Layer.Layer<UserTools, never, UserCredentials> => Layer.effect(UserTools, make(config, options))
}
