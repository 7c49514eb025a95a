/**
 * What every admin handler works with: the services it calls, the config the
 * manager runs (kept in step with every save and reload), the stream of
 * finished web logins, and the lock that orders config writes. Built once when
 * the admin routes are built (./AdminApi.ts).
 */
import { type AuditEvent, AuditLog, type AuditLogShape, recordWith } from "@mcpgate/core/AuditLog"
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile, type ConfigFileShape, emptyConfig } from "@mcpgate/core/ConfigFile"
import { OAuthManager, type OAuthManagerShape } from "@mcpgate/oauth/OAuthManager"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Context, Duration, Effect, FileSystem, Layer, Option, PubSub, Ref, Semaphore } from "effect"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import type { OAuthCompletion } from "../api/AdminSchemas.ts"
import type { NotFound } from "../api/ApiErrors.ts"
import { Security, type SecurityShape } from "../security/Security.ts"
import { UserCredentials, type UserCredentialsShape } from "../teams/UserCredentials.ts"
import { ConfigVersions, type ConfigVersionsShape } from "./ConfigVersions.ts"

export type { OAuthCompletion } from "../api/AdminSchemas.ts"

export interface AdminApiOptions {
  /** Time between SSE heartbeats (default 15 seconds). */
  readonly heartbeatMs?: number
  /** Called when an event stream starts and when it ends (metrics, tests). */
  readonly onEventStream?: (change: "opened" | "closed") => void
}

export interface AdminContextShape {
  readonly security: SecurityShape
  readonly manager: McpClientManagerShape
  readonly oauth: OAuthManagerShape
  /** Users' own logins (docs/teams.md), when the gateway has them: the callback completes theirs too. */
  readonly users: UserCredentialsShape | undefined
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
  /** The audit log (docs/store.md#audit-log), when the gateway keeps one. */
  readonly auditLog: AuditLogShape | undefined
  /** Records an event in the audit log, if there is one; never fails. */
  readonly audit: (event: AuditEvent) => Effect.Effect<void>
  /** The config's versions in the shared store (./ConfigVersions.ts), when there is one. */
  readonly versions: ConfigVersionsShape | undefined
  /** The stored config version running here (0: none yet). */
  readonly appliedVersion: Ref.Ref<number>
}

const make = Effect.fnUntraced(function* (options: AdminApiOptions) {
  const configFile = yield* ConfigFile
  const auditLog = yield* Effect.serviceOption(AuditLog)
  const initial = yield* configFile.current.pipe(
    Effect.map((loaded) => loaded.config),
    Effect.orElseSucceed(() => emptyConfig)
  )
  return AdminContext.of({
    security: yield* Security,
    manager: yield* McpClientManager,
    oauth: yield* OAuthManager,
    users: Option.getOrUndefined(yield* Effect.serviceOption(UserCredentials)),
    configFile,
    fs: yield* FileSystem.FileSystem,
    applied: yield* Ref.make(initial),
    logins: yield* PubSub.sliding<OAuthCompletion>(256),
    configLock: yield* Semaphore.make(1),
    heartbeat: Duration.millis(options.heartbeatMs ?? 15_000),
    onEventStream: (change) => Effect.sync(() => options.onEventStream?.(change)),
    auditLog: Option.getOrUndefined(auditLog),
    audit: recordWith(auditLog),
    versions: Option.getOrUndefined(yield* Effect.serviceOption(ConfigVersions)),
    appliedVersion: yield* Ref.make(0)
  })
})

export class AdminContext extends Context.Service<AdminContext, AdminContextShape>()(
  "@mcpgate/server/admin/AdminContext"
) {
  /** Needs `Security`, `McpClientManager`, `OAuthManager`, `ConfigFile` and a `FileSystem`. */
  static readonly layer = (options: AdminApiOptions) => Layer.effect(AdminContext, make(options))
}

export const serverNotFound = (name: string): NotFound =>
  AdminErrors.serverNotFound.make(`no server named "${name}" in the config`)

/** The configured server of that name, else 404 `server_not_found`. */
export const lookup = (ctx: AdminContextShape, name: string): Effect.Effect<ServerConfig, NotFound> =>
  Effect.flatMap(Ref.get(ctx.applied), (config) => {
    const server = config.mcpServers[name]
    return server === undefined ? Effect.fail(serverNotFound(name)) : Effect.succeed(server)
  })
