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
 * Every start loads effect's NodeFileSystem and NodeChildProcessSpawner (effect/cli's
 * environment), whose ES imports of node:crypto (for `randomBytes` alone) and
 * node:child_process (only to spawn, which no command does) evaluate those modules
 * with Web Crypto, net and dgram: ~20 ms of CPU (bench/RESULTS.md "Issue 18, third
 * pass"). They get the modules in scripts/build/ instead, which require the built-in on
 * first call; a member the importer uses that its shim lacks fails the build.
 */
const lazyBuiltins: ReadonlyArray<{
  readonly importer: string
  readonly builtin: string
  /** The name the importer gives the module (`import * as <namespace> from …`). */
  readonly namespace: string
  readonly shim: string
}> = [
  { importer: "NodeFileSystem.js", builtin: "node:crypto", namespace: "Crypto", shim: "build/LazyCrypto.js" },
  {
    importer: "NodeChildProcessSpawner.js",
    builtin: "node:child_process",
    namespace: "NodeChildProcess",
    shim: "build/LazyChildProcess.js"
  }
]

const lazyBuiltinsPlugin: Plugin = {
  name: "lazy-builtins",
  setup: (build) => {
    build.onResolve({ filter: /^node:(crypto|child_process)$/ }, async (args) => {
      const shim = lazyBuiltins.find(
        (entry) =>
          entry.builtin === args.path &&
          /[\\/]@effect[\\/]platform-node-shared[\\/]dist[\\/]/.test(args.importer) &&
          args.importer.endsWith(entry.importer)
      )
      if (shim === undefined) return undefined
      const url = new URL(shim.shim, import.meta.url)
      const exported = Object.keys(await import(url.href))
      const source = await fs.readFile(args.importer, "utf8")
      const used = new Set(
        Array.from(source.matchAll(new RegExp(`\\b${shim.namespace}\\.(\\w+)`, "g")), (m) => m[1])
      )
      const missing = [...used].filter((name) => name !== undefined && !exported.includes(name))
      if (missing.length > 0)
        throw new Error(`scripts/${shim.shim} lacks ${missing.join(", ")} (${shim.importer})`)
      return { path: fileURLToPath(url) }
    })
  }
}

await build({
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
  plugins: [lazyBuiltinsPlugin],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
})

await fs.rm("packages/cli/dist/web", { recursive: true, force: true })
await fs.cp(distDirectory, "packages/cli/dist/web", { recursive: true })
