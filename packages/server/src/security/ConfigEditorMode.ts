/**
 * `server.configEditor`: what the admin API's config editor may change.
 *
 * A stdio server's `command`, `args`, `env` and `cwd` say which program the
 * gateway starts, so whoever may write them can run programs on the host. That is
 * fine while the gateway is reachable from this machine only (the admin token
 * holder is the machine's user), hence the default "full" there and
 * "no-commands" otherwise. "read-only" refuses every save.
 */
import type { ConfigEditor, McpgateConfig, ServerConfig } from "@mcpgate/core/Config"

export interface EditorRefusal {
  readonly code: "config_read_only" | "config_commands_locked"
  readonly message: string
}

/**
 * The mode in force: the configured one, else "full" when `reachableFromHere`
 * (loopback bind, loopback or no `publicUrl`), else "no-commands".
 */
export const modeOf = (config: McpgateConfig, reachableFromHere: boolean): ConfigEditor =>
  config.server.configEditor ?? (reachableFromHere ? "full" : "no-commands")

/** How a server's program is started, in a form that compares by value (env keys sorted). */
const launch = (server: ServerConfig | undefined): string | undefined =>
  server?.command === undefined
    ? undefined
    : JSON.stringify([
        server.command,
        server.args,
        Object.entries(server.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        server.cwd ?? null
      ])

export const readOnly: EditorRefusal = {
  code: "config_read_only",
  message: `the config editor is read-only on this gateway ("server.configEditor": "read-only"): edit the config file on the host instead`
}

const whyLocked = (mode: ConfigEditor) =>
  `"server.configEditor" is "${mode}" on this gateway (the default when it can be reached from other machines)`

/**
 * Whether the editor may replace `current` (the file as it is) with `next`; a
 * refusal says which server and why. Removing a server is always allowed.
 */
export const check = (
  mode: ConfigEditor,
  current: McpgateConfig,
  next: McpgateConfig
): EditorRefusal | undefined => {
  if (mode === "full") return undefined
  if (mode === "read-only") return readOnly
  const changed = Object.values(next.mcpServers)
    .filter((server) => {
      // Dropping a command starts nothing; only a new or different one is refused.
      const started = launch(server)
      return started !== undefined && started !== launch(current.mcpServers[server.name])
    })
    .map((server) => `"${server.name}"`)
  if (changed.length > 0) {
    return {
      code: "config_commands_locked",
      message: `server ${changed.join(", server ")}: the config editor may not add or change how a stdio server is started ("command", "args", "env", "cwd"), since that runs programs on the host, and ${whyLocked(mode)}. Edit the config file on the host instead, or set "server.configEditor": "full" there`
    }
  }
  if (next.server.configEditor !== current.server.configEditor) {
    return {
      code: "config_commands_locked",
      message: `"server.configEditor" cannot be changed through the config editor while ${whyLocked(mode)}; edit the config file on the host instead`
    }
  }
  return undefined
}
