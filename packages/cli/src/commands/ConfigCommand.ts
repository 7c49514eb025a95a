/**
 * `mcpgate config validate|path|init`.
 */
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { configFileLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

const validate = Command.make(
  "validate",
  {},
  Effect.fn(function* () {
    const file = yield* ConfigFile
    const loaded = yield* file.load
    const servers = Object.values(loaded.config.mcpServers)
    const enabled = servers.filter((server) => server.enabled).length
    yield* Output.line(
      loaded.exists
        ? `${Output.green("valid")} ${loaded.path}: ${servers.length} server(s), ${enabled} enabled`
        : `${Output.yellow("no config file")} at ${loaded.path}; the defaults apply (no servers)`
    )
  }, Effect.provide(configFileLayer))
).pipe(Command.withDescription("Check the config file and report the first problem with its path and line"))

const path = Command.make(
  "path",
  {},
  Effect.fn(function* () {
    const file = yield* ConfigFile
    yield* Output.line(file.path)
  }, Effect.provide(configFileLayer))
).pipe(
  Command.withDescription(
    "Print the config file mcpgate uses (after the lookup order of --config, MCPGATE_CONFIG …)"
  )
)

const init = Command.make(
  "init",
  {
    force: Flag.Boolean("force").pipe(
      Flag.withDescription("Overwrite an existing file (a backup is kept)"),
      Flag.withDefault(false)
    )
  },
  Effect.fn(function* ({ force }) {
    const file = yield* ConfigFile
    const written = yield* file.init({ force })
    yield* Output.line(`${Output.green("wrote")} ${written}`)
  }, Effect.provide(configFileLayer))
).pipe(Command.withDescription("Write a starter config file"))

export const config = Command.make("config").pipe(
  Command.withDescription("Inspect and create the config file"),
  Command.withSubcommands([validate, path, init])
)
