// node:child_process for @effect/platform-node-shared's NodeChildProcessSpawner in the
// CLI bundle (scripts/build/NodeBundle.ts): effect/cli's environment builds a spawner at every
// start that no command uses, and node:child_process loads net and dgram with it.
import { createRequire } from "node:module"

const requireBuiltin = createRequire(import.meta.url)

export const spawn = (...args) => requireBuiltin("node:child_process").spawn(...args)

export const execFile = (...args) => requireBuiltin("node:child_process").execFile(...args)
