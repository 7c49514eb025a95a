/**
 * A second gateway-like process for the refresh fault tests, over the same
 * credentials file as the test:
 *
 *   node FaultRefreshChild.ts refresh <directory> <server JSON>
 *     asks `OAuthManager` for a token twice (refreshing it when needed) and prints
 *     one line: `{"ok": true}` or `{"error": {"tag", "message"}}`; never the token.
 *   node FaultRefreshChild.ts refresh-then-status <directory> <server JSON>
 *     asks for a token (refreshing it), prints `{"refreshed": true}`, waits for a
 *     line on stdin, then reads `status` and prints `{"ok": true, "state": …}`.
 *   node FaultRefreshChild.ts hold-lock <directory> <server JSON>
 *     takes the credential's lock, prints `locked`, and waits to be killed.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Effect, Layer } from "effect"
import { Browser } from "../../src/Browser.ts"
import { OAuthManager } from "../../src/OAuthManager.ts"

const [command = "", directory = "", serverJson = "{}"] = process.argv.slice(2)
const server = JSON.parse(serverJson) as ServerConfig
const store = CredentialStore.layerFile({ directory })

const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const refresh = Effect.gen(function* () {
  const manager = yield* OAuthManager
  // Twice: the second call must reuse what the first one obtained.
  yield* manager.accessToken(server)
  yield* manager.accessToken(server)
  yield* say(JSON.stringify({ ok: true }))
}).pipe(
  Effect.catch((error) => say(JSON.stringify({ error: { tag: error._tag, message: error.message } }))),
  Effect.provide(
    OAuthManager.layer().pipe(Layer.provide(Layer.mergeAll(store, Browser.layerFollowRedirects)))
  )
)

/** Resolves when the parent writes a line. */
const go = Effect.promise(
  () =>
    new Promise<void>((resolve) => {
      process.stdin.setEncoding("utf8").once("data", () => resolve())
    })
)

const refreshThenStatus = Effect.gen(function* () {
  const manager = yield* OAuthManager
  yield* manager.accessToken(server)
  yield* say(JSON.stringify({ refreshed: true }))
  yield* go
  const status = yield* manager.status(server)
  yield* say(JSON.stringify({ ok: true, state: status.state }))
}).pipe(
  Effect.catch((error) => say(JSON.stringify({ error: { tag: error._tag, message: error.message } }))),
  Effect.provide(
    OAuthManager.layer().pipe(Layer.provide(Layer.mergeAll(store, Browser.layerFollowRedirects)))
  )
)

const holdLock = Effect.gen(function* () {
  const credentials = yield* CredentialStore
  yield* credentials.withLock(
    { server: server.name, url: server.url ?? "" },
    Effect.andThen(say("locked"), Effect.never)
  )
}).pipe(Effect.provide(store))

const programs: Record<string, Effect.Effect<void, unknown>> = {
  refresh,
  "refresh-then-status": refreshThenStatus,
  "hold-lock": holdLock
}
const program = programs[command]
if (program === undefined) {
  process.stderr.write(`unknown command ${command}\n`)
  process.exit(2)
}
Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
