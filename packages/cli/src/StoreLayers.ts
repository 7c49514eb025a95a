/**
 * What `serve` keeps in the shared store besides credentials (docs/store.md):
 * with `store: {"type": "postgres"}` pending logins, UI sessions, `/mcp`
 * session records and stream events, stored responses, the audit log and the
 * config's versions live in PostgreSQL, so every replica sees them; else each
 * stays in this process (and the audit log in a file of the state directory).
 *
 * The store's modules are imported only when the config names Postgres, so the
 * local default loads no database driver. Every service here runs on one
 * connection pool: `database` is one layer value, and a layer is built once per
 * gateway however many layers need it.
 */
import { AuditLog } from "@mcpgate/core/AuditLog"
import type { McpgateConfig, StoreConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import * as Encryption from "@mcpgate/core/Encryption"
import type { McpEventStore } from "@mcpgate/core/McpEventStore"
import { stateDirectory } from "@mcpgate/core/Paths"
import type { PendingLogins } from "@mcpgate/oauth/PendingLogins"
import type { ConfigVersions } from "@mcpgate/server/admin/ConfigVersions"
import type { McpSessionRecords } from "@mcpgate/server/mcp/McpSessionRecords"
import type { ResponseStore } from "@mcpgate/server/openai/ResponseStore"
import type { UiRecords } from "@mcpgate/server/security/UiRecords"
import type * as StoreDatabase from "@mcpgate/store/StoreDatabase"
import { type Context, Effect, Layer, Option } from "effect"

type Database = Layer.Success<ReturnType<typeof StoreDatabase.layer>>

/** The gateway's options that say where its shared state lives (undefined: in this process). */
export interface StoreLayers {
  readonly pendingLogins?: Layer.Layer<PendingLogins> | undefined
  readonly uiRecords?: Layer.Layer<UiRecords> | undefined
  readonly mcpSessions?: Layer.Layer<McpSessionRecords | McpEventStore> | undefined
  readonly responses?: Layer.Layer<ResponseStore> | undefined
  readonly auditLog: Layer.Layer<AuditLog>
  readonly configVersions?: Layer.Layer<ConfigVersions> | undefined
}

export const storeLayers = (store: StoreConfig): StoreLayers => {
  if (store.type !== "postgres" || store.url === undefined) {
    return { auditLog: AuditLog.layerFile({ directory: stateDirectory(process.env) }) }
  }
  const url = store.url
  const database = Layer.unwrap(
    Effect.map(
      Effect.promise(() => import("@mcpgate/store/StoreDatabase")),
      (Database) => Database.layer(url)
    )
  )
  /** A layer made over the pool and the encryption keys; a store that cannot start stops the gateway. */
  const onStore = <A>(
    build: (
      keyring: Encryption.Keyring,
      pool: Context.Context<Database>
    ) => Effect.Effect<Layer.Layer<A>, unknown, Database>
  ): Layer.Layer<A> =>
    Layer.unwrap(
      Effect.gen(function* () {
        const keyring = yield* Encryption.keyringFromConfig
        return yield* build(keyring, yield* Effect.context<Database>())
      })
    ).pipe(Layer.provide(database), Layer.orDie)
  return {
    pendingLogins: onStore((keyring) =>
      Effect.gen(function* () {
        const [Records, Pending] = yield* Effect.promise(() =>
          Promise.all([import("@mcpgate/store/StoreRecords"), import("@mcpgate/oauth/PendingLogins")])
        )
        return Pending.PendingLogins.layerShared(yield* Records.make("pending-login", keyring))
      })
    ),
    uiRecords: onStore((keyring, pool) =>
      Effect.gen(function* () {
        const [Records, Ui] = yield* Effect.promise(() =>
          Promise.all([import("@mcpgate/store/StoreRecords"), import("@mcpgate/server/security/UiRecords")])
        )
        return Ui.UiRecords.layerShared((kind) =>
          Records.make(kind, keyring).pipe(Effect.provideContext(pool))
        )
      })
    ),
    mcpSessions: onStore((keyring) =>
      Effect.gen(function* () {
        const [Records, Events, Ends, Sessions, EventStore] = yield* Effect.promise(() =>
          Promise.all([
            import("@mcpgate/store/StoreRecords"),
            import("@mcpgate/store/PostgresMcpEventStore"),
            import("@mcpgate/store/McpSessionEnds"),
            import("@mcpgate/server/mcp/McpSessionRecords"),
            import("@mcpgate/core/McpEventStore")
          ])
        )
        const records = yield* Records.make("mcp-session", keyring)
        const ends = yield* Ends.make
        return Layer.merge(
          Sessions.McpSessionRecords.layerShared({ ...records, ...ends }),
          Layer.succeed(EventStore.McpEventStore, yield* Events.make(keyring))
        )
      })
    ),
    responses: onStore((keyring) =>
      Effect.gen(function* () {
        const [Records, Responses] = yield* Effect.promise(() =>
          Promise.all([import("@mcpgate/store/StoreRecords"), import("@mcpgate/server/openai/ResponseStore")])
        )
        return Responses.ResponseStore.layerShared(yield* Records.make("response", keyring))
      })
    ),
    auditLog: onStore(() =>
      Effect.gen(function* () {
        const Audit = yield* Effect.promise(() => import("@mcpgate/store/PostgresAuditLog"))
        return Layer.succeed(AuditLog, yield* Audit.make)
      })
    ),
    configVersions: onStore((keyring) =>
      Effect.gen(function* () {
        const [Versions, Server] = yield* Effect.promise(() =>
          Promise.all([
            import("@mcpgate/store/PostgresConfigVersions"),
            import("@mcpgate/server/admin/ConfigVersions")
          ])
        )
        return Layer.succeed(Server.ConfigVersions, yield* Versions.make(keyring))
      })
    )
  }
}

/**
 * The config `serve` starts with: with a Postgres store the newest version
 * saved there through the admin API, when there is one (its `store` is the
 * file's: that is how the store is found); else the file's
 * (docs/store.md#config).
 */
export const startingConfig = (config: McpgateConfig, versions: StoreLayers["configVersions"]) =>
  Effect.gen(function* () {
    if (versions === undefined) return config
    const Server = yield* Effect.promise(() => import("@mcpgate/server/admin/ConfigVersions"))
    const latest = yield* Effect.gen(function* () {
      const store = yield* Server.ConfigVersions
      return yield* store.latest
    }).pipe(Effect.provide(versions))
    if (Option.isNone(latest)) return config
    const file = yield* ConfigFile
    const stored = yield* file.parse(latest.value.text)
    return { ...stored, store: config.store }
  })
