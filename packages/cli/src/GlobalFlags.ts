import { Flag, GlobalFlag } from "effect/cli"

/** `--config PATH`, accepted before or after the subcommand (SPEC §6). */
export const ConfigPath = GlobalFlag.Setting("config")({
  flag: Flag.String("config").pipe(
    Flag.withDescription(
      "Path to the config file (default: MCPGATE_CONFIG, ./mcpgate.json, ~/.config/mcpgate/config.json)"
    ),
    Flag.optional
  )
})
