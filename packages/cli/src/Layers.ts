/**
 * The layers commands run on, built from the global flags.
 */

import { AuditLog } from "@mcpgate/core/AuditLog"
import type { McpgateConfig, StoreConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Encryption from "@mcpgate/core/Encryption"
import { stateDirectory } from "@mcpgate/core/Paths"
import type { PendingLogins } from "@mcpgate/oauth/PendingLogins"
import type { ConfigVersions } from "@mcpgate/server/admin/ConfigVersions"
import type { ResponseStore } from "@mcpgate/server/openai/ResponseStore"
import { Effect, Layer, Option } from "effect"
import { ConfigPath } from "./GlobalFlags.ts"

/** `ConfigFile` honouring `--config`. */
export const configFileLayer = Layer.unwrap(
  Effect.map(ConfigPath, (path) => ConfigFile.layerWith({ path: Option.getOrUndefined(path) }))
)

/**
 * The credential store: with `store: {"type": "postgres"}` in the config the
 * shared Postgres store (docs/store.md), loaded only then so that the local
 * default carries no database driver; else the one `MCPGATE_TOKEN_STORE`
 * chooses (docs/credentials.md#backends). A config that does not load leaves
 * the local store: the command reports the config error itself.
 */
export const credentialStoreLayer = Layer.unwrap(
  Effect.gen(function* () {
    const file = yield* ConfigFile
    const loaded = yield* Effect.option(file.load)
    const store = Option.getOrUndefined(loaded)?.config.store
    if (store?.type !== "postgres" || store.url === undefined) return CredentialStore.layerAuto
    const Postgres = yield* Effect.promise(() => import("@mcpgate/store/PostgresCredentialStore"))
    return Postgres.layerPostgres({ url: store.url })
  })
).pipe(Layer.provide(configFileLayer))

/**
 * With a Postgres store, web logins wait in it (docs/store.md), so the replica
 * that gets the callback need not be the one that began the login; else
 * undefined (this process keeps them).
 */
export const pendingLoginsLayer = (store: StoreConfig): Layer.Layer<PendingLogins> | undefined => {
  if (store.type !== "postgres" || store.url === undefined) return undefined
  const url = store.url
  return Layer.unwrap(
    Effect.gen(function* () {
      const [Records, Database, Pending] = yield* Effect.promise(() =>
        Promise.all([
          import("@mcpgate/store/StoreRecords"),
          import("@mcpgate/store/StoreDatabase"),
          import("@mcpgate/oauth/PendingLogins")
        ])
      )
      const keyring = yield* Encryption.keyringFromConfig
      // Built in the layer's scope: the pool lives as long as the gateway.
      const database = yield* Layer.build(Database.layer(url))
      const records = yield* Records.make("pending-login", keyring).pipe(Effect.provideContext(database))
      return Pending.PendingLogins.layerShared(records)
    }).pipe(Effect.orDie)
  )
}

/**
 * With a Postgres store, stored responses (`previous_response_id`) are kept in
 * it, sealed (docs/store.md#replicas), so any replica continues them; else
 * undefined (this process keeps them).
 */
export const responsesLayer = (store: StoreConfig): Layer.Layer<ResponseStore> | undefined => {
  if (store.type !== "postgres" || store.url === undefined) return undefined
  const url = store.url
  return Layer.unwrap(
    Effect.gen(function* () {
      const [Records, Database, Responses] = yield* Effect.promise(() =>
        Promise.all([
          import("@mcpgate/store/StoreRecords"),
          import("@mcpgate/store/StoreDatabase"),
          import("@mcpgate/server/openai/ResponseStore")
        ])
      )
      const keyring = yield* Encryption.keyringFromConfig
      const database = yield* Layer.build(Database.layer(url))
      const records = yield* Records.make("response", keyring).pipe(Effect.provideContext(database))
      return Responses.ResponseStore.layerShared(records)
    }).pipe(Effect.orDie)
  )
}

/**
 * The audit log (docs/store.md#audit-log): with a Postgres store a table every
 * replica writes to; else a JSON-lines file in the state directory.
 */
export const auditLogLayer = (store: StoreConfig): Layer.Layer<AuditLog> => {
  if (store.type !== "postgres" || store.url === undefined) {
    return AuditLog.layerFile({ directory: stateDirectory(process.env) })
  }
  const url = store.url
  return Layer.unwrap(
    Effect.gen(function* () {
      const [Audit, Database] = yield* Effect.promise(() =>
        Promise.all([import("@mcpgate/store/PostgresAuditLog"), import("@mcpgate/store/StoreDatabase")])
      )
      return Audit.layer.pipe(Layer.provide(Database.layer(url)))
    })
  ).pipe(Layer.orDie)
}

/**
 * With a Postgres store, the config saved through the admin API is kept there
 * in versions that every replica applies (docs/store.md#config); else
 * undefined (the file is the config).
 */
export const configVersionsLayer = (store: StoreConfig): Layer.Layer<ConfigVersions> | undefined => {
  if (store.type !== "postgres" || store.url === undefined) return undefined
  const url = store.url
  return Layer.unwrap(
    Effect.gen(function* () {
      const [Versions, Database, Server] = yield* Effect.promise(() =>
        Promise.all([
          import("@mcpgate/store/PostgresConfigVersions"),
          import("@mcpgate/store/StoreDatabase"),
          import("@mcpgate/server/admin/ConfigVersions")
        ])
      )
      const keyring = yield* Encryption.keyringFromConfig
      const database = yield* Layer.build(Database.layer(url))
      const versions = yield* Versions.make(keyring).pipe(Effect.provideContext(database))
      return Layer.succeed(Server.ConfigVersions, versions)
    }).pipe(Effect.orDie)
  )
}

/**
 * The config `serve` starts with: with a Postgres store the newest version
 * saved there through the admin API, when there is one (its `store` is the
 * file's: that is how the store is found); else the file's
 * (docs/store.md#config).
 */
export const startingConfig = (config: McpgateConfig) =>
  Effect.gen(function* () {
    const versions = configVersionsLayer(config.store)
    if (versions === undefined) return config
    const [Server] = yield* Effect.promise(() =>
      Promise.all([import("@mcpgate/server/admin/ConfigVersions")])
    )
    const latest = yield* Effect.gen(function* () {
      const store = yield* Server.ConfigVersions
      return yield* store.latest
    }).pipe(Effect.provide(versions))
    if (Option.isNone(latest)) return config
    const file = yield* ConfigFile
    const stored = yield* file.parse(latest.value.text)
    return { ...stored, store: config.store }
  })

/**
 * A client manager over the loaded config (every enabled server connecting at
 * once), for the commands that talk to MCP servers; its scope closes every
 * connection, so no stdio child outlives the command.
 */
export const managerLayer = Layer.unwrap(
  Effect.gen(function* () {
    const file = yield* ConfigFile
    const { config } = yield* file.load
    // Loaded on demand: commands that never connect start without the gateway's code.
    const [Gateway, AuthorizedFetch] = yield* Effect.promise(() =>
      Promise.all([import("@mcpgate/server/Gateway"), import("@mcpgate/transport/AuthorizedFetch")])
    )
    return Gateway.managerLayer(config).pipe(
      Layer.provide(AuthorizedFetch.layerOAuth),
      Layer.provide(Gateway.oauthLayer)
    )
  })
).pipe(Layer.provide([configFileLayer, credentialStoreLayer]))
