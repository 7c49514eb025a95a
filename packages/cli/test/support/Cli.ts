/**
 * Runs the installed-style `mcpgate` binary (bin/mcpgate.js → dist bundle) in a child
 * process with an isolated environment.
 */
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const binary = fileURLToPath(new URL("../../bin/mcpgate.js", import.meta.url))

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A fresh MCPGATE_HOME and working directory, so no user config or token is ever read. */
export const sandbox = () => {
  const home = mkdtempSync(join(tmpdir(), "mcpgate-cli-"))
  return {
    home,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      MCPGATE_HOME: home,
      MCPGATE_TOKEN_STORE: "file",
      NO_COLOR: "1"
    } as Record<string, string>
  }
}

export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env: Record<string, string>; readonly cwd?: string }
): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      [binary, ...args],
      { env: options.env, cwd: options.cwd ?? options.env.HOME, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resolve({ code, stdout, stderr })
      }
    )
  })
