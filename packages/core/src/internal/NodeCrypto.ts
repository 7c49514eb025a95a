/**
 * node:crypto, loaded on first call. An ES import of it evaluates the whole module
 * with Web Crypto (about 10 ms of CPU at every CLI start, bench/startup.ts), although
 * commands that only read the config and credentials never hash; `require` of a
 * built-in loads only what is used.
 */
import { createRequire } from "node:module"

const requireBuiltin = createRequire(import.meta.url)

export const nodeCrypto = (): typeof import("node:crypto") => requireBuiltin("node:crypto")
