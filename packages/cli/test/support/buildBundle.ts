/**
 * Builds the CLI bundle once per test run, so the tests exercise the same file the
 * installed `mcpgate` binary runs.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../../", import.meta.url))

export default function setup() {
  execFileSync(process.execPath, ["scripts/build.ts"], { cwd: root, stdio: "inherit" })
}
