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

/** The credential store chosen by `MCPGATE_TOKEN_STORE` (docs/credentials.md#backends). */
export const credentialStoreLayer = CredentialStore.layerAuto

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
