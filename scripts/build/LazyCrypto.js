// node:crypto for @effect/platform-node-shared's NodeFileSystem in the CLI bundle
// (scripts/build/NodeBundle.ts): it needs `randomBytes` only for temp file names, and an ES import
// of node:crypto evaluates the whole module with Web Crypto at every start.
import { createRequire } from "node:module"

const requireBuiltin = createRequire(import.meta.url)

export const randomBytes = (size) => requireBuiltin("node:crypto").randomBytes(size)
