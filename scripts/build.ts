/**
 * Builds what runs from the checkout and the installed binary:
 *
 * - the web UI (packages/server/web/build.ts) into packages/server/web/dist/;
 * - the CLI bundled (packages/cli/dist/mcpgate.mjs) for the installed `mcpgate`
 *   binary: a few modules instead of hundreds keeps cold start short, and the
 *   gateway itself is a separate chunk loaded only by the commands that need it.
 *   Chunks sit beside the entry, and so does the UI (packages/cli/dist/web/),
 *   where `web/WebUi.ts` (packages/server/src) looks when it runs from the bundle.
 */
import * as fs from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { build, type Plugin } from "esbuild"
import { buildWeb, distDirectory } from "../packages/server/web/build.ts"

await buildWeb()

await fs.rm("packages/cli/dist", { recursive: true, force: true })

/**
 * Every start loads effect's NodeFileSystem, whose `import * as Crypto from "node:crypto"`
 * (for `randomBytes` alone) evaluates all of node:crypto and Web Crypto: ~10 ms of CPU,
 * bench/RESULTS.md "Issue 18, third pass". It gets scripts/build/LazyCrypto.js instead,
 * which requires node:crypto on first use; an export it lacks fails the build below.
 */
const lazyCrypto: Plugin = {
  name: "lazy-crypto",
  setup: (build) => {
    build.onResolve({ filter: /^node:crypto$/ }, (args) =>
      /[\\/]@effect[\\/]platform-node-shared[\\/]dist[\\/]NodeFileSystem\.js$/.test(args.importer)
        ? { path: fileURLToPath(new URL("build/LazyCrypto.js", import.meta.url)) }
        : undefined
    )
  }
}

const result = await build({
  entryPoints: ["packages/cli/src/bin.ts"],
  outdir: "packages/cli/dist",
  entryNames: "mcpgate",
  chunkNames: "chunk-[hash]",
  outExtension: { ".js": ".mjs" },
  splitting: true,
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
  plugins: [lazyCrypto],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
})
if (result.warnings.some((warning) => warning.location?.file.includes("NodeFileSystem") === true)) {
  throw new Error("scripts/build/LazyCrypto.js lacks an export that NodeFileSystem uses")
}

await fs.rm("packages/cli/dist/web", { recursive: true, force: true })
await fs.cp(distDirectory, "packages/cli/dist/web", { recursive: true })
