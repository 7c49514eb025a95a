/**
 * A stand-in gateway process for the signal tests: runs a client manager over the
 * config given as JSON in argv[2], prints one JSON line `{pids: [...]}` once every
 * server is connected, and turns SIGTERM/SIGINT into interruption of the main fiber,
 * as `NodeRuntime.runMain` does for the real CLI. With `exit-at-once` as argv[3] it
 * calls `process.exit` right after that line instead, running no finalizer.
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import { Effect, Fiber, Layer } from "effect"
import { AuthorizedFetch } from "../../src/AuthorizedFetch.ts"
import { McpClientManager } from "../../src/McpClientManager.ts"

const config = JSON.parse(process.argv[2] ?? "{}") as McpgateConfig

const program = Effect.gen(function* () {
  const manager = yield* McpClientManager
  const statuses = yield* manager.awaitStatus((all) => all.every((status) => status.state === "connected"))
  process.stdout.write(`${JSON.stringify({ pids: statuses.map((status) => status.pid) })}\n`)
  if (process.argv[3] === "exit-at-once") process.exit(0)
  return yield* Effect.never
}).pipe(
  Effect.provide(
    McpClientManager.layer(config, { termGraceMs: 300, killGraceMs: 300 }).pipe(
      Layer.provide(AuthorizedFetch.layer)
    )
  )
)

const fiber = Effect.runFork(program)
const stop = () => {
  Effect.runFork(Fiber.interrupt(fiber))
}
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
fiber.addObserver(() => {
  process.stdout.write(`${JSON.stringify({ stopped: true })}\n`)
  process.exit(0)
})
