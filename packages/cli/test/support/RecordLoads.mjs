// Preloaded with `--import` by Startup.test.ts: appends every module the process
// resolves (ES imports, require and builtins alike) to the file MCPGATE_TEST_LOADS names,
// and at exit Node's own internal modules it loaded (`node-internal:<name>`), which no
// resolve hook sees (Node's bundled undici behind `fetch` and `WebSocket`, for one).
import { appendFileSync } from "node:fs"
import module from "node:module"

const file = process.env.MCPGATE_TEST_LOADS

if (file !== undefined) {
  module.registerHooks({
    resolve(specifier, context, next) {
      const resolved = next(specifier, context)
      appendFileSync(file, `${resolved.url}\n`)
      return resolved
    }
  })
  process.once("exit", () =>
    appendFileSync(file, process.moduleLoadList.map((name) => `node-internal:${name}\n`).join(""))
  )
}
