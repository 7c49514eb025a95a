/**
 * What every Node bundle of ours is built with: the CLI (scripts/build.ts) and the
 * start-up benchmark's floors (bench/startup.ts), so that both pay the same.
 */
import * as fs from "node:fs/promises"
import { fileURLToPath } from "node:url"
import type { BuildOptions, Plugin } from "esbuild"

/**
 * Every start loads effect's NodeFileSystem and NodeChildProcessSpawner (effect/cli's
 * environment), whose ES imports of node:crypto (for `randomBytes` alone) and
 * node:child_process (only to spawn, which no command does) evaluate those modules
 * with Web Crypto, net and dgram: ~20 ms of CPU (bench/RESULTS.md "Issue 18, third
 * pass"). They get the modules beside this one instead, which require the built-in on
 * first call; a member the importer uses that its shim lacks fails the build.
 */
const lazyBuiltins: ReadonlyArray<{
  readonly importer: string
  readonly builtin: string
  /** The name the importer gives the module (`import * as <namespace> from …`). */
  readonly namespace: string
  readonly shim: string
}> = [
  { importer: "NodeFileSystem.js", builtin: "node:crypto", namespace: "Crypto", shim: "LazyCrypto.js" },
  {
    importer: "NodeChildProcessSpawner.js",
    builtin: "node:child_process",
    namespace: "NodeChildProcess",
    shim: "LazyChildProcess.js"
  }
]

export const lazyBuiltinsPlugin: Plugin = {
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
        throw new Error(`scripts/build/${shim.shim} lacks ${missing.join(", ")} (${shim.importer})`)
      return { path: fileURLToPath(url) }
    })
  }
}

/** An ES module bundle for Node 22+, minified, with `require` for the CommonJS inside. */
export const nodeBundle = {
  bundle: true,
  platform: "node",
  // Prefer ESM builds: some packages (jsonc-parser) ship a UMD "main" that esbuild cannot follow.
  mainFields: ["module", "main"],
  format: "esm",
  target: "node22",
  minify: true,
  plugins: [lazyBuiltinsPlugin],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
} satisfies BuildOptions
