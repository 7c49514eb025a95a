/**
 * Bundles the CLI into one file (packages/cli/dist/mcpgate.mjs) for the installed
 * `mcpgate` binary: one module instead of hundreds keeps cold start short.
 */
import { build } from "esbuild"

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
