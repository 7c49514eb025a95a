/**
 * Where mcpgate keeps things (docs/credentials.md#state-directory; the config file's
 * lookup order is at the top of docs/configuration.md): pure functions of the
 * environment, so tests pass their own.
 */
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

import type { Env } from "./ConfigInterpolation.ts"

export const setting = (value: string | undefined): string | undefined =>
  value === undefined || value === "" ? undefined : value

export const homeDirectory = (env: Env): string => setting(env.HOME) ?? NodeOs.homedir()

// XDG Base Directory: a relative value is invalid and must be ignored.
const xdgDirectory = (env: Env, variable: string, fallback: ReadonlyArray<string>): string => {
  const value = setting(env[variable])
  return value !== undefined && NodePath.isAbsolute(value)
    ? value
    : NodePath.join(homeDirectory(env), ...fallback)
}

/** `$MCPGATE_HOME`, else `$XDG_CONFIG_HOME/mcpgate` (default `~/.config/mcpgate`). */
export const configDirectory = (env: Env): string =>
  setting(env.MCPGATE_HOME) ?? NodePath.join(xdgDirectory(env, "XDG_CONFIG_HOME", [".config"]), "mcpgate")

/** Where tokens, the admin token and backups live: `$MCPGATE_HOME`, else `$XDG_STATE_HOME/mcpgate` (default `~/.local/state/mcpgate`). */
export const stateDirectory = (env: Env): string =>
  setting(env.MCPGATE_HOME) ??
  NodePath.join(xdgDirectory(env, "XDG_STATE_HOME", [".local", "state"]), "mcpgate")
