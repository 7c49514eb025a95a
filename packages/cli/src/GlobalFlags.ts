import { Flag, GlobalFlag } from "effect/cli"

/** `--config PATH`, accepted before or after the subcommand (docs/cli.md#global-options). */
export const ConfigPath = GlobalFlag.Setting("config")({
  flag: Flag.String("config").pipe(
    Flag.withDescription(
      "Path to the config file (default: MCPGATE_CONFIG, ./mcpgate.json, ~/.config/mcpgate/config.json)"
    ),
    Flag.optional
  )
})
