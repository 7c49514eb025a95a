/**
 * What every admin handler works with: the services it calls, the config the
 * manager runs (kept in step with every save and reload), the stream of
 * finished web logins, and the lock that orders config writes. Built once when
 * the admin routes are built (./AdminApi.ts).
 */
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile, type ConfigFileShape, emptyConfig } from "@mcpgate/core/ConfigFile"
import { OAuthManager, type OAuthManagerShape } from "@mcpgate/oauth/OAuthManager"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Duration, Effect, FileSystem, PubSub, Ref, Semaphore } from "effect"
import type { Refused } from "../http/ErrorBody.ts"
import { Security, type SecurityShape } from "../security/Security.ts"
import { serverNotFound } from "./AdminResponses.ts"

/** A login finished in the browser, as `GET events` reports it. */
export interface OAuthCompletion {
  readonly server: string
  readonly ok: boolean
  readonly error?: string
}

export interface AdminApiOptions {
  /** Time between SSE heartbeats (default 15 seconds). */
  readonly heartbeatMs?: number
  /** Called when an event stream starts and when it ends (metrics, tests). */
  readonly onEventStream?: (change: "opened" | "closed") => void
}

export interface AdminContext {
  readonly security: SecurityShape
  readonly manager: McpClientManagerShape
  readonly oauth: OAuthManagerShape
  readonly configFile: ConfigFileShape
  readonly fs: FileSystem.FileSystem
  /** The config the manager runs. */
  readonly applied: Ref.Ref<McpgateConfig>
  /** Web logins as they finish, for the event streams. */
  readonly logins: PubSub.PubSub<OAuthCompletion>
  /** One config save or reload at a time. */
  readonly configLock: Semaphore.Semaphore
  readonly heartbeat: Duration.Duration
  readonly onEventStream: (change: "opened" | "closed") => Effect.Effect<void>
}

export const make = Effect.fnUntraced(function* (options: AdminApiOptions) {
  const configFile = yield* ConfigFile
  const initial = yield* configFile.current.pipe(
    Effect.map((loaded) => loaded.config),
    Effect.orElseSucceed(() => emptyConfig)
  )
  return {
    security: yield* Security,
    manager: yield* McpClientManager,
    oauth: yield* OAuthManager,
    configFile,
    fs: yield* FileSystem.FileSystem,
    applied: yield* Ref.make(initial),
    logins: yield* PubSub.sliding<OAuthCompletion>(256),
    configLock: yield* Semaphore.make(1),
    heartbeat: Duration.millis(options.heartbeatMs ?? 15_000),
    onEventStream: (change) => Effect.sync(() => options.onEventStream?.(change))
  } satisfies AdminContext
})

/** The configured server of that name, else 404 `server_not_found`. */
export const lookup = (ctx: AdminContext, name: string): Effect.Effect<ServerConfig, Refused> =>
  Effect.flatMap(Ref.get(ctx.applied), (config) => {
    const server = config.mcpServers[name]
    return server === undefined ? Effect.fail(serverNotFound(name)) : Effect.succeed(server)
  })
