/**
 * The local audit log (docs/store.md#audit-log): JSON lines in the state
 * directory, rotated at a size with one older file kept, paged newest first
 * across both files.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AuditLog from "../src/AuditLog.ts"

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-audit-"))),
  (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
)

it.live("rotates at the size, keeps one older file, and pages newest first across both", () =>
  Effect.gen(function* () {
    const directory = yield* tempDirectory
    const log = yield* AuditLog.makeFile({ directory, maxBytes: 400 })
    for (let index = 0; index < 12; index++) {
      yield* log.record({ kind: "login", server: `s${index}`, outcome: "ok" })
    }
    const files = (yield* Effect.promise(() => fs.readdir(directory))).sort()
    assert.deepStrictEqual(files, ["audit.1.jsonl", "audit.jsonl"])
    for (const file of files) {
      const size = (yield* Effect.promise(() => fs.stat(path.join(directory, file)))).size
      assert.isAtMost(size, 400)
    }
    const first = yield* log.list({ limit: 2 })
    assert.deepStrictEqual(
      first.entries.map((entry) => entry.id),
      [12, 11]
    )
    const all = yield* log.list({ before: first.next, limit: 100 })
    const ids = all.entries.map((entry) => entry.id)
    assert.deepStrictEqual(
      ids,
      [...ids].sort((a, b) => b - a)
    )
    assert.strictEqual(ids[0], 10)
    assert.isUndefined(all.next)
    // A new process continues the numbering.
    const again = yield* AuditLog.makeFile({ directory, maxBytes: 400 })
    yield* again.record({ kind: "logout", server: "s0" })
    assert.strictEqual((yield* again.list({ limit: 1 })).entries[0]?.id, 13)
  }).pipe(Effect.scoped)
)

it("changedPaths names the paths that differ, never their values", () => {
  const before = { mcpServers: { a: { url: "https://a.test", headers: { x: "secret-1" } } }, maxTools: 5 }
  const after = {
    mcpServers: { a: { url: "https://a.test", headers: { x: "secret-2" } }, b: { command: "x" } }
  }
  const paths = AuditLog.changedPaths(before, after)
  assert.deepStrictEqual(paths, ["maxTools", "mcpServers.a.headers", "mcpServers.b"])
  assert.notInclude(JSON.stringify(paths), "secret")
})
