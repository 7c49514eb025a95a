/**
 * Bundles the conformance client into one file
 * (scripts/conformance/dist/conformance-client.mjs): it starts in a third of the
 * time the TypeScript sources take, which matters when the suite starts fifty
 * clients at once. `scripts/conformance-client` runs the bundle only while no
 * source is newer than it.
 */
import { build, type Plugin } from "esbuild"
import { nodeBundle } from "../build/NodeBundle.ts"

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
  ...nodeBundle,
  entryPoints: [new URL("main.ts", import.meta.url).pathname],
  outfile: new URL("dist/conformance-client.mjs", import.meta.url).pathname,
  sourcemap: "linked",
  plugins: [noKeychain, ...nodeBundle.plugins]
})
