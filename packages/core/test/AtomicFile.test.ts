/**
 * The one atomic-write helper (src/AtomicFile.ts) on the real Node file system:
 * modes, create-only, the crash hook, failures, and stray temp files.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as AtomicFile from "../src/AtomicFile.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const modeOf = (file: string) => Effect.promise(() => fs.stat(file)).pipe(Effect.map((s) => s.mode & 0o777))
const listDir = (directory: string) => Effect.promise(() => fs.readdir(directory))
const readText = (file: string) => Effect.promise(() => fs.readFile(file, "utf8"))

const write = (file: string, data: string, options?: AtomicFile.WriteOptions) =>
  AtomicFile.write(file, data, options).pipe(Effect.provide(NodeFileSystem.layer))

describe("AtomicFile.write", () => {
  it.effect("creates a new file 0600 whatever the umask, and replaces it by rename (a new inode)", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const file = path.join(directory, "config.json")
      const previous = process.umask(0o000)
      yield* write(file, "one").pipe(Effect.ensuring(Effect.sync(() => process.umask(previous))))
      assert.strictEqual(yield* modeOf(file), 0o600)
      const before = yield* Effect.promise(() => fs.stat(file))
      assert.isTrue(yield* write(file, "two"))
      const after = yield* Effect.promise(() => fs.stat(file))
      assert.notStrictEqual(after.ino, before.ino)
      assert.strictEqual(yield* readText(file), "two")
      assert.deepStrictEqual(yield* listDir(directory), ["config.json"])
    })
  )

  it.effect("keepMode keeps the replaced file's mode; a new file gets the given mode", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const file = path.join(directory, "kept")
      yield* write(file, "a", { mode: 0o640, keepMode: true })
      assert.strictEqual(yield* modeOf(file), 0o640)
      yield* Effect.promise(() => fs.chmod(file, 0o604))
      yield* write(file, "b", { mode: 0o600, keepMode: true })
      assert.strictEqual(yield* modeOf(file), 0o604)
      yield* write(file, "c")
      assert.strictEqual(yield* modeOf(file), 0o600)
    })
  )

  it.effect("createOnly creates a missing file and leaves an existing one byte for byte", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const file = path.join(directory, "admin-token")
      assert.isTrue(yield* write(file, "first", { createOnly: true }))
      assert.isFalse(yield* write(file, "second", { createOnly: true }))
      assert.strictEqual(yield* readText(file), "first")
      assert.deepStrictEqual(yield* listDir(directory), ["admin-token"])
    })
  )

  it.effect("a writer stopped before the rename leaves the old file and no temp file", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const file = path.join(directory, "credentials.json")
      yield* write(file, "old")
      let seen = ""
      const exit = yield* write(file, "new").pipe(
        Effect.provideService(AtomicFile.BeforeRename, (temp) =>
          Effect.gen(function* () {
            seen = temp
            // The new content is complete and synced at this point.
            assert.strictEqual(yield* readText(temp), "new")
            return yield* Effect.interrupt
          })
        ),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(path.dirname(seen), directory)
      assert.match(path.basename(seen), /^\.credentials\.json\.\d+\.[0-9a-f-]+\.tmp$/)
      assert.strictEqual(yield* readText(file), "old")
      assert.deepStrictEqual(yield* listDir(directory), ["credentials.json"])
    })
  )

  it.effect("a failure is a PlatformError naming the problem; nothing is left behind", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const error = yield* Effect.flip(write(path.join(directory, "missing", "file"), "x"))
      assert.strictEqual(error._tag, "PlatformError")
      assert.isTrue(AtomicFile.isNotFound(error))
      assert.strictEqual(AtomicFile.describeError(error), "file not found")
      assert.deepStrictEqual(yield* listDir(directory), [])
    })
  )
})

describe("AtomicFile.removeStrayTempFiles", () => {
  it.effect("removes temp files of dead writers and old ones, keeps a live writer's fresh one", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      const file = path.join(directory, "credentials.json")
      const dead = path.join(directory, ".credentials.json.999999999.0f0f-aa.tmp")
      const legacy = path.join(directory, "credentials.json.999999998.0f0f-bb.tmp")
      const live = path.join(directory, `.credentials.json.${process.pid}.0f0f-cc.tmp`)
      const other = path.join(directory, ".other.json.999999999.0f0f-dd.tmp")
      for (const name of [file, dead, legacy, live, other]) {
        yield* Effect.promise(() => fs.writeFile(name, "x"))
      }
      const now = Date.now()
      yield* AtomicFile.removeStrayTempFiles(file, now, 60_000).pipe(Effect.provide(NodeFileSystem.layer))
      assert.sameMembers(yield* listDir(directory), [
        "credentials.json",
        path.basename(live),
        path.basename(other)
      ])
      // Past the age limit even a live pid's temp file is stray (a frozen or reused pid).
      yield* AtomicFile.removeStrayTempFiles(file, now + 120_000, 60_000).pipe(
        Effect.provide(NodeFileSystem.layer)
      )
      assert.sameMembers(yield* listDir(directory), ["credentials.json", path.basename(other)])
    })
  )
})
