/**
 * What every Node bundle of ours is built with: the CLI (scripts/build.ts, and
 * unminified by bench/profile-start.ts), the conformance client
 * (scripts/conformance/build.ts) and the start-up benchmark's floors
 * (bench/startup.ts), so that they all pay the same.
 */
import { fileURLToPath } from "node:url"
import type { BuildOptions, Plugin } from "esbuild"

/**
 * Built-in modules our bundles import through a module of their own (beside this one),
 * because importing the built-in itself costs every start something the bundle does not
 * need (bench/RESULTS.md, issue 18):
 *
 * - effect's NodeFileSystem and NodeChildProcessSpawner (effect/cli's environment, at
 *   every start) import node:crypto for `randomBytes` alone and node:child_process only
 *   to spawn, which no command does; their ES imports evaluate those modules with Web
 *   Crypto, net and dgram (~20 ms of CPU). LazyCrypto.js and LazyChildProcess.js require
 *   the built-in on first call.
 * - node:http's ES facade reads its lazy `WebSocket` getters and so loads Node's internal
 *   undici (~60 ms at every `serve` start); HttpWithoutUndici.js reads the other members.
 *
 * Only ES imports are redirected (`require` builds no facade). A member an importer uses
 * that a module here lacks fails the build: esbuild's "import-is-undefined" is an error
 * in `nodeBundle`.
 */
const redirects: ReadonlyArray<{
  readonly builtin: RegExp
  /** Which importers get the module: all, or the files of effect's Node platform named. */
  readonly importer: RegExp
  readonly module: string
}> = [
  {
    builtin: /^node:crypto$/,
    importer: /[\\/]@effect[\\/]platform-node-shared[\\/]dist[\\/]NodeFileSystem\.js$/,
    module: "LazyCrypto.js"
  },
  {
    builtin: /^node:child_process$/,
    importer: /[\\/]@effect[\\/]platform-node-shared[\\/]dist[\\/]NodeChildProcessSpawner\.js$/,
    module: "LazyChildProcess.js"
  },
  { builtin: /^(node:)?http$/, importer: /./, module: "HttpWithoutUndici.js" }
]

export const builtinRedirectsPlugin: Plugin = {
  name: "builtin-redirects",
  setup: (build) => {
    build.onResolve({ filter: /^(node:)?(crypto|child_process|http)$/ }, (args) => {
      if (args.kind !== "import-statement") return undefined
      const redirect = redirects.find(
        (entry) => entry.builtin.test(args.path) && entry.importer.test(args.importer)
      )
      return redirect === undefined
        ? undefined
        : { path: fileURLToPath(new URL(redirect.module, import.meta.url)) }
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
  plugins: [builtinRedirectsPlugin],
  // A member missing from a module of `redirects` would otherwise be `undefined` at run time.
  logOverride: { "import-is-undefined": "error" },
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
} satisfies BuildOptions

/**
 * The CLI's bundle (`outdir`/mcpgate.mjs and its chunks beside it): the gateway and
 * other parts loaded on demand are separate chunks.
 */
export const cliBundle = (outdir: string) =>
  ({
    ...nodeBundle,
    entryPoints: [fileURLToPath(new URL("../../packages/cli/src/bin.ts", import.meta.url))],
    outdir,
    entryNames: "mcpgate",
    chunkNames: "chunk-[hash]",
    outExtension: { ".js": ".mjs" },
    splitting: true,
    // Native addons are loaded at run time from the CLI package's own node_modules.
    external: ["@napi-rs/keyring"]
  }) satisfies BuildOptions
