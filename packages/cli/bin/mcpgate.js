#!/usr/bin/env node
// The installed `mcpgate` binary: runs the bundled CLI (built by `pnpm build`).
import module from "node:module"

module.enableCompileCache?.()
try {
  await import("../dist/mcpgate.mjs")
} catch (error) {
  if (error?.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("mcpgate.mjs")) {
    process.stderr.write("mcpgate: the CLI bundle is missing; run `pnpm build` in the mcpgate checkout\n")
    process.exit(1)
  }
  throw error
}
