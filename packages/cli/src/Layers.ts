/**
 * The layers commands run on, built from the global flags.
 */

import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
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
