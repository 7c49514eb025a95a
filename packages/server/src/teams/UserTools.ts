/**
 * Per-user MCP connections (docs/teams.md#per-user-tool-calls): for each user,
 * a `McpClientManager` of the `identity: "user"` servers whose requests carry
 * that user's own tokens (`AuthorizedFetch` over the user's `OAuthManager`).
 * Pooled by user (`RcMap`): made on a user's first call, shared by their
 * concurrent calls, closed after `idle` without one. A login or logout of the
 * user drops the pooled connections, so the next call uses the new credential;
 * with a shared store, so does one made on another replica (the store's notice
 * of the credential, docs/store.md#cache). A config saved or reloaded through
 * the admin API (the config file's new contents) applies to the pooled
 * connections at the next use: added servers start, removed ones close.
 */
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { keyOf } from "@mcpgate/core/Credential"
import { CredentialChanges } from "@mcpgate/core/CredentialChanges"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as AuthorizedFetch from "@mcpgate/transport/AuthorizedFetch"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import {
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  PubSub,
  RcMap,
  type Scope,
  Stream,
  SynchronizedRef
} from "effect"
import { UserCredentials, type UserCredentialsShape, userServers } from "./UserCredentials.ts"

export interface UserToolsShape {
  /** Whether the named server's logins are per user (in the config last read by `servers`). */
  readonly isUserServer: (server: string) => boolean
  /** The names of the per-user servers in the config in force. */
  readonly servers: Effect.Effect<ReadonlySet<string>>
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

/** The per-user servers of one config, and the config each user's manager is made of. */
interface Served {
  /** The config they come from (compared by identity: a save or reload makes a new one). */
  readonly source: McpgateConfig
  readonly servers: ReadonlyArray<ServerConfig>
  readonly names: ReadonlySet<string>
  readonly userConfig: McpgateConfig
}

const servedOf = (config: McpgateConfig): Served => {
  const servers = userServers(config.mcpServers)
  return {
    source: config,
    servers,
    names: new Set(servers.map((server) => server.name)),
    userConfig: { ...config, mcpServers: Object.fromEntries(servers.map((server) => [server.name, server])) }
  }
}

/** The config file's current config when it exists (the admin editor saves it there). */
const fileConfig = (configFile: Option.Option<Context.Service.Shape<typeof ConfigFile>>) =>
  Option.isNone(configFile)
    ? Effect.succeed(Option.none<McpgateConfig>())
    : configFile.value.current.pipe(
        Effect.map((loaded) => (loaded.exists ? Option.some(loaded.config) : Option.none())),
        Effect.orElseSucceed(() => Option.none<McpgateConfig>())
      )

/**
 * A credential of a pooled user written or deleted elsewhere: when it turns a
 * server the pool waits a login for into one with tokens, or the reverse, the
 * change is announced as this replica's own logins are. A refresh changes
 * neither and is let be.
 */
const onStoreChange = (
  pool: Pool,
  credentials: UserCredentialsShape,
  served: SynchronizedRef.SynchronizedRef<Served>,
  key: string
) =>
  Effect.gen(function* () {
    const owner = ownerOfKey(key, (yield* SynchronizedRef.get(served)).servers)
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
  const configFile = yield* Effect.serviceOption(ConfigFile)
  // The file's config at start is the one the gateway runs: only a later save or reload is followed.
  const atStart = yield* fileConfig(configFile)
  const served = yield* SynchronizedRef.make({
    ...servedOf(config),
    source: Option.getOrElse(atStart, () => config)
  })
  const offers = yield* PubSub.unbounded<string>()
  const pool = yield* RcMap.make({
    lookup: (user: string) =>
      Effect.gen(function* () {
        const oauth = yield* credentials.managerFor(user)
        // A memo map of its own: the gateway's (shared) `AuthorizedFetch` must not be reused here.
        const context = yield* Layer.buildWithMemoMap(
          McpClientManager.layer((yield* SynchronizedRef.get(served)).userConfig, {
            healthCheckIntervalMs: 0
          }).pipe(
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
  if (Option.isSome(notices)) {
    yield* Effect.forkScoped(
      Stream.runForEach(notices.value.changes, (key) => onStoreChange(pool, credentials, served, key))
    )
  }
  // A new config in the file: the pooled managers take its per-user servers, and their users list again.
  const follow = SynchronizedRef.modifyEffect(served, (known) =>
    Effect.gen(function* () {
      const latest = yield* fileConfig(configFile)
      if (Option.isNone(latest) || latest.value === known.source) return [known, known] as const
      const next = servedOf(latest.value)
      for (const user of yield* RcMap.keys(pool)) {
        yield* Effect.scoped(
          Effect.flatMap(RcMap.getOption(pool, user), (manager) =>
            Option.isNone(manager)
              ? Effect.void
              : manager.value.reload(next.userConfig).pipe(
                  // As a first use does: wait for the first attempt of each (re)started server.
                  Effect.andThen(manager.value.awaitSettled),
                  Effect.andThen(PubSub.publish(offers, user))
                )
          )
        )
      }
      return [next, next] as const
    })
  )
  return UserTools.of({
    isUserServer: (server) => SynchronizedRef.getUnsafe(served).names.has(server),
    servers: Effect.map(follow, (current) => current.names),
    withManager: (user, use) =>
      Effect.andThen(follow, Effect.scoped(Effect.flatMap(RcMap.get(pool, user), use))),
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
