/**
 * What only the file layer promises: permissions, atomic replacement that
 * survives a killed writer, corrupt files moved aside, and locking across real
 * OS processes (support/storeWorker.ts run with `process.execPath`).
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Clock, Effect, Layer, Option } from "effect"
import { keyOf } from "../src/Credential.ts"
import { CredentialStore, type CredentialStoreError, credentialsFileName } from "../src/CredentialStore.ts"
import { assertNoSecret, fullCredential, secrets, slow } from "./support/CredentialStoreBehaviour.ts"
import { tempDirectory } from "./support/TempDirectory.ts"
import { spawnWorker } from "./support/Worker.ts"

const modeOf = (file: string) =>
  Effect.promise(() => fs.stat(file)).pipe(Effect.map((stat) => stat.mode & 0o777))
const readText = (file: string) => Effect.promise(() => fs.readFile(file, "utf8"))
const listDir = (directory: string) => Effect.promise(() => fs.readdir(directory))

const withFileStore = <A, E>(
  directory: string,
  body: (store: CredentialStore["Service"]) => Effect.Effect<A, E>,
  options: object = {}
) =>
  Effect.gen(function* () {
    return yield* body(yield* CredentialStore)
  }).pipe(Effect.provide(CredentialStore.layerFile({ directory, ...options })))

const storeFailure = <A>(effect: Effect.Effect<A, CredentialStoreError>) =>
  Effect.flip(effect).pipe(Effect.map((error) => error as CredentialStoreError))

layer(Layer.empty, { excludeTestServices: true, timeout: "30 seconds" })(
  "CredentialStore.layerFile",
  (it) => {
    it.effect("creates the directory 0700 and the file 0600 (exact, whatever the umask)", () =>
      Effect.gen(function* () {
        const parent = yield* tempDirectory
        const directory = path.join(parent, "state", "mcpgate")
        const previous = process.umask(0o022)
        yield* withFileStore(directory, (store) => store.set(fullCredential())).pipe(
          Effect.ensuring(Effect.sync(() => process.umask(previous)))
        )
        assert.strictEqual(yield* modeOf(directory), 0o700)
        assert.strictEqual(yield* modeOf(path.join(directory, credentialsFileName)), 0o600)
        const document = JSON.parse(yield* readText(path.join(directory, credentialsFileName)))
        assert.strictEqual(document.version, 1)
        assert.deepStrictEqual(Object.keys(document.credentials), [keyOf(fullCredential())])
      })
    )

    it.effect("tightens an existing 0755 directory and 0644 file", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory
        const file = path.join(directory, credentialsFileName)
        yield* withFileStore(directory, (store) => store.set(fullCredential()))
        yield* Effect.promise(async () => {
          await fs.chmod(directory, 0o755)
          await fs.chmod(file, 0o644)
        })
        const got = yield* withFileStore(directory, (store) => store.get(fullCredential()))
        assert.isTrue(Option.isSome(got))
        assert.strictEqual(yield* modeOf(directory), 0o700)
        assert.strictEqual(yield* modeOf(file), 0o600)
      })
    )

    it.effect(
      "a writer killed between writing the temp file and the rename leaves the old file intact",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const file = path.join(directory, credentialsFileName)
          const old = fullCredential("crash", "https://crash.example/mcp", { scope: "old" })
          yield* withFileStore(directory, (store) => store.set(old))
          const before = yield* readText(file)

          const worker = yield* spawnWorker("pause-before-rename", {
            directory,
            server: "crash",
            url: "https://crash.example/mcp",
            scope: "new"
          })
          const paused = yield* worker.waitFor((line) => line.startsWith("paused "))
          const temp = paused.slice("paused ".length)
          // The new document is complete on disk, just not renamed yet.
          assert.include(yield* readText(temp), '"scope": "new"')
          yield* worker.kill("SIGKILL")
          const exit = yield* worker.exit
          assert.strictEqual(exit.signal, "SIGKILL")

          assert.strictEqual(yield* readText(file), before)
          assert.isTrue((yield* listDir(directory)).includes(path.basename(temp)))
          const started = yield* Clock.currentTimeMillis
          yield* withFileStore(directory, (store) =>
            Effect.gen(function* () {
              assert.strictEqual(Option.getOrThrow(yield* store.get(old)).tokens?.scope, "old")
              // The next write breaks the dead writer's store lock, cleans its temp file and works.
              yield* store.set(fullCredential("other", "https://other.example/mcp"))
              assert.strictEqual((yield* store.list).length, 2)
            })
          )
          assert.isBelow((yield* Clock.currentTimeMillis) - started, 2000)
          const names = yield* listDir(directory)
          assert.isFalse(
            names.some((name) => name.endsWith(".tmp")),
            `stray temp files: ${names.join(", ")}`
          )
          assert.isFalse(names.includes("credentials.lock"))
        }),
      slow
    )

    it.effect(
      "a corrupt file (bad JSON) is moved aside byte for byte and reported; then the store is empty",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const file = path.join(directory, credentialsFileName)
          const garbage = `{"version": 1, "credentials": {"a|https://a": {"tokens": {"accessToken": "${secrets.access}"`
          yield* Effect.promise(() => fs.writeFile(file, garbage, { mode: 0o600 }))
          yield* withFileStore(directory, (store) =>
            Effect.gen(function* () {
              const error = yield* storeFailure(store.get(fullCredential()))
              assert.strictEqual(error.reason, "corrupt")
              const movedTo = error.movedTo ?? ""
              assert.match(
                path.basename(movedTo),
                /^credentials\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/
              )
              assert.strictEqual(path.dirname(movedTo), directory)
              assert.strictEqual(yield* readText(movedTo), garbage)
              assert.include(error.message, file)
              assert.include(error.message, movedTo)
              assert.include(error.message, "not valid JSON")
              assertNoSecret(error.message, "the corrupt error")
              assertNoSecret(String(error), "String(corrupt error)")

              // Decided behaviour: later operations see an empty store, and a new login is saved.
              assert.isTrue(Option.isNone(yield* store.get(fullCredential())))
              assert.deepStrictEqual(yield* store.list, [])
              yield* store.set(fullCredential())
              assert.isTrue(Option.isSome(yield* store.get(fullCredential())))
              assert.strictEqual(yield* readText(movedTo), garbage)
            })
          )
        })
    )

    it.effect(
      "a file that does not match the schema is corrupt too; a mutation that finds it fails and keeps it",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const file = path.join(directory, credentialsFileName)
          const mismatched = `${JSON.stringify({
            version: 1,
            credentials: {
              x: { server: "x", url: 42, tokens: { accessToken: secrets.access, tokenType: "Bearer" } }
            }
          })}\n`
          yield* Effect.promise(() => fs.writeFile(file, mismatched, { mode: 0o600 }))
          yield* withFileStore(directory, (store) =>
            Effect.gen(function* () {
              const error = yield* storeFailure(store.set(fullCredential()))
              assert.strictEqual(error.reason, "corrupt")
              assert.include(error.message, "does not match the credential schema")
              assertNoSecret(error.message, "the schema error")
              assert.strictEqual(yield* readText(error.movedTo ?? ""), mismatched)
              yield* store.set(fullCredential())
              assert.strictEqual((yield* store.list).length, 1)
            })
          )
        })
    )

    it.effect("a file from a newer version is reported, never moved or overwritten", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory
        const file = path.join(directory, credentialsFileName)
        const future = `${JSON.stringify({ version: 2, credentials: {}, vault: { sealed: secrets.access } })}\n`
        yield* Effect.promise(() => fs.writeFile(file, future, { mode: 0o600 }))
        yield* withFileStore(directory, (store) =>
          Effect.gen(function* () {
            for (const operation of [store.get(fullCredential()), store.list, store.set(fullCredential())]) {
              const error = yield* storeFailure(operation as Effect.Effect<unknown, CredentialStoreError>)
              assert.strictEqual(error.reason, "unsupported-version")
              assert.include(error.message, "version 2")
              assert.include(error.message, "upgrade mcpgate")
              assertNoSecret(error.message, "the version error")
            }
          })
        )
        assert.strictEqual(yield* readText(file), future)
        assert.deepStrictEqual(
          (yield* listDir(directory)).filter((name) => name.includes("corrupt")),
          []
        )
      })
    )

    it.effect(
      "8 processes updating different keys 25 times each at once lose no write",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const keys = Array.from({ length: 8 }, (_, i) => ({
            server: `p${i}`,
            url: `https://p${i}.example/mcp`
          }))
          const workers = yield* Effect.forEach(
            keys,
            (key) => spawnWorker("increment", { directory, ...key, times: 25 }),
            {
              concurrency: "unbounded"
            }
          )
          yield* Effect.forEach(workers, (worker) => worker.waitFor((line) => line === "ready"), {
            concurrency: "unbounded"
          })
          yield* Effect.forEach(workers, (worker) => worker.send("go"), { discard: true })
          yield* Effect.forEach(
            workers,
            (worker) => worker.waitFor((line) => line === "done", "25 seconds"),
            {
              concurrency: "unbounded"
            }
          )
          for (const worker of workers) assert.strictEqual((yield* worker.exit).code, 0, worker.stderr())
          yield* withFileStore(directory, (store) =>
            Effect.gen(function* () {
              const listed = yield* store.list
              assert.deepStrictEqual(
                listed.map((c) => [c.server, c.tokens?.scope]),
                keys.map((key) => [key.server, "25"])
              )
            })
          )
        }),
      slow
    )

    it.effect(
      "a lock left by a killed process is taken over by the next withLock at once",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const key = { server: "stale", url: "https://stale.example/mcp" }
          const worker = yield* spawnWorker("hold-lock", { directory, ...key })
          yield* worker.waitFor((line) => line === "locked")
          yield* worker.kill("SIGKILL")
          yield* worker.exit
          const locks = yield* listDir(path.join(directory, "locks"))
          assert.strictEqual(locks.length, 1, "the killed holder left its lock file")
          const started = yield* Clock.currentTimeMillis
          const result = yield* withFileStore(directory, (store) =>
            store.withLock(key, Effect.succeed("took over"))
          )
          assert.strictEqual(result, "took over")
          assert.isBelow((yield* Clock.currentTimeMillis) - started, 1000)
          assert.deepStrictEqual(yield* listDir(path.join(directory, "locks")), [])
        }),
      slow
    )

    it.effect(
      "a live holder's lock is waited for and fails with reason locked naming the holder",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const key = { server: "held", url: "https://held.example/mcp" }
          const worker = yield* spawnWorker("hold-lock", { directory, ...key })
          yield* worker.waitFor((line) => line === "locked")
          const error = yield* withFileStore(
            directory,
            (store) => storeFailure(store.withLock(key, Effect.void)),
            { lockTimeout: "300 millis" }
          )
          assert.strictEqual(error.reason, "locked")
          assert.include(error.message, '"held"')
          assert.include(error.message, `pid ${worker.pid} on ${os.hostname()}`)
        }),
      slow
    )

    it.effect(
      "a lock whose heartbeat stopped (another host, old mtime) is stale after staleLockAfter",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const key = { server: "remote", url: "https://remote.example/mcp" }
          // Learn the lock file's name from a real withLock, then plant a foreign holder there.
          const lockFile = yield* withFileStore(directory, (store) =>
            store.withLock(
              key,
              listDir(path.join(directory, "locks")).pipe(
                Effect.map((names) => path.join(directory, "locks", names[0] ?? ""))
              )
            )
          )
          const foreign = JSON.stringify({
            pid: 1,
            hostname: "elsewhere.invalid",
            createdAt: 0,
            token: "theirs"
          })
          yield* Effect.promise(() => fs.writeFile(lockFile, foreign))
          const fresh = yield* withFileStore(
            directory,
            (store) => storeFailure(store.withLock(key, Effect.void)),
            { lockTimeout: "200 millis", staleLockAfter: "10 seconds" }
          )
          assert.strictEqual(fresh.reason, "locked")
          assert.include(fresh.message, "pid 1 on elsewhere.invalid")

          const past = new Date(Date.now() - 20_000)
          yield* Effect.promise(() => fs.utimes(lockFile, past, past))
          const result = yield* withFileStore(
            directory,
            (store) => store.withLock(key, Effect.succeed("recovered")),
            {
              lockTimeout: "2 seconds",
              staleLockAfter: "10 seconds"
            }
          )
          assert.strictEqual(result, "recovered")
        }),
      slow
    )
  }
)
