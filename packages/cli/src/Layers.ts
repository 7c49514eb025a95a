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

/** The credential store chosen by `MCPGATE_TOKEN_STORE` (SPEC §2). */
export const credentialStoreLayer = CredentialStore.layerAuto
