/**
 * The official MCP Inspector's CLI (`mcp-inspector --cli`), run as a child process
 * against a URL. Its catalog and client config go to a temporary directory so a
 * test never touches the user's `~/.mcp-inspector`.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

export const inspectorBin = fileURLToPath(new URL("../../node_modules/.bin/mcp-inspector", import.meta.url))

export interface InspectorRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `mcp-inspector --cli <url> …args` to completion (killed after `timeoutMs`). */
export const runInspector = (
  url: string,
  args: ReadonlyArray<string>,
  timeoutMs = 20_000
): Effect.Effect<InspectorRun> =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "mcpgate-inspector-"))),
    (home) =>
      Effect.callback<InspectorRun>((resume) => {
        const child = spawn(inspectorBin, ["--cli", url, ...args], {
          env: {
            ...process.env,
            HOME: home,
            MCP_CATALOG_PATH: join(home, "mcp.json"),
            MCP_CLIENT_CONFIG_PATH: join(home, "client.json"),
            NO_COLOR: "1"
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          stdout += chunk
        })
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
          stderr += chunk
        })
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
        child.once("close", (code) => {
          clearTimeout(timer)
          resume(Effect.succeed({ code, stdout, stderr }))
        })
        return Effect.sync(() => {
          clearTimeout(timer)
          child.kill("SIGKILL")
        })
      }),
    (home) => Effect.sync(() => rmSync(home, { recursive: true, force: true }))
  )
