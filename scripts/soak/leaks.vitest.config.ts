/**
 * The whole test suite as `vitest.workspace.ts` runs it, plus one setup file in
 * every project (LeakSetup.ts) that hands each test file's issued tokens and
 * captured texts to SuiteTokenScan.ts. Used only by `pnpm soak -- --suite`.
 */
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const root = fileURLToPath(new URL("../..", import.meta.url))
const setup = fileURLToPath(new URL("./LeakSetup.ts", import.meta.url))

export default defineConfig({
  test: {
    root,
    projects: ["core", "oauth", "transport", "server", "cli"].map((name) => ({
      extends: `${root}packages/${name}/vitest.config.ts`,
      test: { name, root: `${root}packages/${name}`, setupFiles: [setup] }
    }))
  }
})
