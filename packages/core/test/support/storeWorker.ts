/**
 * A separate OS process using the store, for the cross-process tests. Run as
 * `node storeWorker.ts <command> <json>`; it talks over stdout lines (pipes are
 * synchronous on Linux, so a line is out before the next step) and stdin.
 *
 * - `increment {directory, server, url, times}`: prints `ready`, waits for a
 *   `go` line, then `times` × (withLock → get → set with scope + 1); prints `done`.
 * - `hold-lock {directory, server, url}`: takes withLock, prints `locked`, waits forever.
 * - `pause-before-rename {directory, server, url, scope}`: starts a `set` and
 *   stops after the temp file is fsynced, before the rename; prints `paused <temp>`.
 * - `auto {directory}`: builds `layerAutoWith` from the environment and prints
 *   `{backend, description}` or `{error: {reason, message}}` as JSON.
 */
import * as readline from "node:readline"
import { Effect, Layer, Option, Redacted } from "effect"
import { BeforeRename } from "../../src/AtomicFile.ts"
import { Credential, TokenSet } from "../../src/Credential.ts"
import { CredentialStore, type CredentialStoreError } from "../../src/CredentialStore.ts"

interface Args {
  readonly directory: string
  readonly server: string
  readonly url: string
  readonly times: number
  readonly scope: string
}

const [command = "", json = "{}"] = process.argv.slice(2)
const args = JSON.parse(json) as Args

const say = (line: string) =>
  Effect.sync(() => {
    process.stdout.write(`${line}\n`)
  })

const stdinLine = (expected: string) =>
  Effect.callback<void>((resume) => {
    const lines = readline.createInterface({ input: process.stdin })
    lines.on("line", (line) => {
      if (line.trim() === expected) {
        lines.close()
        resume(Effect.void)
      }
    })
  })

const credential = (scope: string) =>
  new Credential({
    server: args.server,
    url: args.url,
    updatedAt: Date.now(),
    tokens: new TokenSet({ accessToken: Redacted.make(`token-${scope}`), tokenType: "Bearer", scope })
  })

const fileStore = CredentialStore.layerFile({ directory: args.directory })

const increment = Effect.gen(function* () {
  const store = yield* CredentialStore
  yield* say("ready")
  yield* stdinLine("go")
  const key = { server: args.server, url: args.url }
  for (let i = 0; i < args.times; i++) {
    yield* store.withLock(
      key,
      Effect.gen(function* () {
        const current = yield* store.get(key)
        const count = Option.match(current, {
          onNone: () => 0,
          onSome: (c) => Number(c.tokens?.scope ?? "0")
        })
        yield* store.set(credential(String(count + 1)))
      })
    )
  }
  yield* say("done")
}).pipe(Effect.provide(fileStore))

const holdLock = Effect.gen(function* () {
  const store = yield* CredentialStore
  yield* store.withLock({ server: args.server, url: args.url }, Effect.andThen(say("locked"), Effect.never))
}).pipe(Effect.provide(fileStore))

const pauseBeforeRename = Effect.gen(function* () {
  const store = yield* CredentialStore
  yield* store
    .set(credential(args.scope))
    .pipe(Effect.provideService(BeforeRename, (temp) => Effect.andThen(say(`paused ${temp}`), Effect.never)))
}).pipe(Effect.provide(fileStore))

const auto = Effect.gen(function* () {
  const store = yield* CredentialStore
  yield* say(JSON.stringify({ backend: store.backend, description: store.description }))
}).pipe(
  Effect.provide(
    CredentialStore.layerAutoWith({ directory: args.directory, service: `mcpgate-worker-${process.pid}` })
  ),
  Effect.catchTag("CredentialStoreError", (error: CredentialStoreError) =>
    say(JSON.stringify({ error: { reason: error.reason, message: error.message } }))
  )
)

const commands: Record<string, Effect.Effect<void, unknown>> = {
  increment,
  "hold-lock": holdLock,
  "pause-before-rename": pauseBeforeRename,
  auto
}

const program = commands[command]
if (program === undefined) {
  process.stderr.write(`unknown command ${command}\n`)
  process.exit(2)
}
Effect.runPromise(program.pipe(Effect.provide(Layer.empty))).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
