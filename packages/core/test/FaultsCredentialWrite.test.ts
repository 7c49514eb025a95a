/**
 * A credential write that fails half-way (the disk is full) must leave the
 * previous credentials file exactly as it was, leave no temp file or lock
 * behind, and come back as a typed error without a secret in it.
 *
 * The full disk is simulated with a real write failure: the writer runs in a
 * child process under a file size limit (`ulimit -f`, RLIMIT_FSIZE), so the
 * kernel refuses the write of the new document part-way (EFBIG, as ENOSPC would
 * on a full disk); no mock of the file system is involved.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { CredentialStore, credentialsFileName } from "../src/CredentialStore.ts"
import { assertNoSecret, fullCredential, secrets } from "./support/CredentialStoreBehaviour.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const writer = path.join(import.meta.dirname, "support", "FaultWriter.ts")

/** 8 blocks: 4 KiB with POSIX 512-byte blocks (8 KiB where a shell counts KiB). */
const limitBlocks = 8

interface WriteResult {
  readonly ok?: boolean
  readonly error?: { readonly tag: string; readonly reason: string; readonly message: string }
}

/** Runs FaultWriter.ts under the file size limit; its one output line, parsed. */
const writeUnderLimit = (args: {
  readonly directory: string
  readonly server: string
  readonly url: string
  readonly scope: string
  readonly padding: number
}) =>
  Effect.promise(
    () =>
      new Promise<WriteResult>((resolve, reject) => {
        execFile(
          "sh",
          [
            "-c",
            `ulimit -f ${limitBlocks} && exec "$0" "$@"`,
            process.execPath,
            writer,
            JSON.stringify(args)
          ],
          { timeout: 20_000 },
          (error, stdout, stderr) => {
            if (error !== null) reject(new Error(`the writer failed: ${error.message}\n${stderr}`))
            else resolve(JSON.parse(stdout.trim()) as WriteResult)
          }
        )
      })
  )

const withStore = <A, E>(
  directory: string,
  body: (store: CredentialStore["Service"]) => Effect.Effect<A, E>
) => Effect.flatMap(CredentialStore, body).pipe(Effect.provide(CredentialStore.layerFile({ directory })))

describe("a credential write that fails part-way (disk full)", () => {
  it.live(
    "keeps the previous file byte for byte, leaves no temp file or lock, and reports a typed error",
    () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory
        const file = path.join(directory, credentialsFileName)
        const previous = fullCredential("kept", "https://kept.example/mcp")
        yield* withStore(directory, (store) => store.set(previous))
        const before = yield* Effect.promise(() => fs.readFile(file))
        assert.isBelow(before.length, 512 * limitBlocks, "the old file fits under the limit")

        // The new document is far larger than the limit: the kernel stops the write part-way.
        const result = yield* writeUnderLimit({
          directory,
          server: "kept",
          url: "https://kept.example/mcp",
          scope: "new",
          padding: 64 * 1024
        })
        assert.isUndefined(result.ok, JSON.stringify(result))
        assert.strictEqual(result.error?.tag, "CredentialStoreError")
        assert.strictEqual(result.error?.reason, "io")
        assert.match(result.error?.message ?? "", /too large|EFBIG|no space|ENOSPC/i)
        assert.include(result.error?.message ?? "", directory)
        assertNoSecret(result.error?.message ?? "", "the write error")
        assert.notInclude(result.error?.message ?? "", "new-access-")

        assert.deepStrictEqual(yield* Effect.promise(() => fs.readFile(file)), before)
        const names = yield* Effect.promise(() => fs.readdir(directory))
        assert.deepStrictEqual(
          names.filter((name) => name.endsWith(".tmp")),
          [],
          `a temp file was left: ${names.join(", ")}`
        )
        const locks = yield* Effect.promise(() => fs.readdir(path.join(directory, "locks")).catch(() => []))
        assert.deepStrictEqual(locks, [], "the writer's lock was released")

        // The previous credential reads back whole, and the store takes writes again.
        yield* withStore(directory, (store) =>
          Effect.gen(function* () {
            const kept = Option.getOrThrow(yield* store.get(previous))
            assert.strictEqual(Redacted.value(kept.tokens?.accessToken ?? Redacted.make("")), secrets.access)
            assert.strictEqual(
              Redacted.value(kept.tokens?.refreshToken ?? Redacted.make("")),
              secrets.refresh
            )
            yield* store.set(fullCredential("kept", "https://kept.example/mcp", { scope: "after" }))
            assert.strictEqual(Option.getOrThrow(yield* store.get(previous)).tokens?.scope, "after")
          })
        )
      }),
    30_000
  )

  it.live("the same limit lets a write that fits through (the limit is what failed the write)", () =>
    Effect.gen(function* () {
      const directory = yield* tempDirectory
      yield* withStore(directory, (store) => store.set(fullCredential("kept", "https://kept.example/mcp")))
      const result = yield* writeUnderLimit({
        directory,
        server: "small",
        url: "https://small.example/mcp",
        scope: "fits",
        padding: 0
      })
      assert.deepStrictEqual(result, { ok: true })
      const scopes = yield* withStore(directory, (store) =>
        Effect.map(store.list, (all) => all.map((credential) => credential.tokens?.scope))
      )
      assert.sameMembers(scopes, ["read write offline_access", "fits"])
    })
  )
})
