/**
 * Bundles the conformance client into one file
 * (scripts/conformance/dist/conformance-client.mjs): it starts in a third of the
 * time the TypeScript sources take, which matters when the suite starts fifty
 * clients at once. `scripts/conformance-client` runs the bundle only while no
 * source is newer than it.
 */
import { build, type Plugin } from "esbuild"

/** The client keeps its credentials in memory: the native keychain addon is replaced by a stub. */
const noKeychain: Plugin = {
  name: "no-keychain",
  setup(builder) {
    builder.onResolve({ filter: /^@napi-rs\/keyring$/ }, (args) => ({
      path: args.path,
      namespace: "no-keychain"
    }))
    builder.onLoad({ filter: /.*/, namespace: "no-keychain" }, () => ({
      contents:
        'export class AsyncEntry { constructor() { throw new Error("the conformance client has no keychain") } }',
      loader: "js"
    }))
  }
}

await build({
  entryPoints: [new URL("main.ts", import.meta.url).pathname],
  outfile: new URL("dist/conformance-client.mjs", import.meta.url).pathname,
  bundle: true,
  platform: "node",
  // As scripts/build.ts: prefer ESM builds (jsonc-parser's "main" is UMD).
  mainFields: ["module", "main"],
  format: "esm",
  target: "node22",
  minify: true,
  sourcemap: "linked",
  plugins: [noKeychain],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  },
  logLevel: "warning"
})
