/**
 * Builds what runs from the checkout and the installed binary:
 *
 * - the web UI (packages/server/web/build.ts) into packages/server/web/dist/;
 * - the CLI bundled into one file (packages/cli/dist/mcpgate.mjs) for the
 *   installed `mcpgate` binary: one module instead of hundreds keeps cold start
 *   short. The UI is copied beside it (packages/cli/dist/web/), where `Web.ts`
 *   looks when it runs from the bundle.
 */
import * as fs from "node:fs/promises"
import { build } from "esbuild"
import { buildWeb, distDirectory } from "../packages/server/web/build.ts"

await buildWeb()

await build({
  entryPoints: ["packages/cli/src/bin.ts"],
  outfile: "packages/cli/dist/mcpgate.mjs",
  bundle: true,
  platform: "node",
  // Prefer ESM builds: some packages (jsonc-parser) ship a UMD "main" that esbuild cannot follow.
  mainFields: ["module", "main"],
  format: "esm",
  target: "node22",
  minify: true,
  sourcemap: "linked",
  // Native addons are loaded at run time from the CLI package's own node_modules.
  external: ["@napi-rs/keyring"],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
})

await fs.rm("packages/cli/dist/web", { recursive: true, force: true })
await fs.cp(distDirectory, "packages/cli/dist/web", { recursive: true })
