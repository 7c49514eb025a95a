/**
 * The keychain binding (src/internal/Keychain.ts) against a real Secret Service
 * (support/SecretService.ts): many calls in a row must not pile up D-Bus
 * connections, which past 1,024 open descriptors hung the process in libdbus.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Keychain from "../src/internal/Keychain.ts"
import * as SecretService from "./support/SecretService.ts"

const openDescriptors = Effect.promise(() => fs.readdir("/proc/self/fd")).pipe(
  Effect.map((fds) => fds.length)
)

layer(SecretService.layer, { excludeTestServices: true, timeout: "60 seconds" })("Keychain", (it) => {
  it.effect(
    "1,500 calls on a few entries keep the open descriptors bounded",
    () =>
      Effect.gen(function* () {
        const service = `mcpgate-test-${randomUUID()}`
        const before = yield* openDescriptors
        for (let round = 0; round < 300; round++) {
          const account = `entry-${round % 5}`
          yield* Keychain.setPassword(service, account, `value-${round}`, "5 seconds")
          assert.strictEqual(
            Option.getOrThrow(yield* Keychain.getPassword(service, account, "5 seconds")),
            `value-${round}`
          )
          yield* Keychain.getPassword(service, `${account}-missing`, "5 seconds")
          yield* Keychain.deletePassword(service, `${account}-missing`, "5 seconds")
          if (round % 5 === 4) yield* Keychain.deletePassword(service, account, "5 seconds")
        }
        const after = yield* openDescriptors
        assert.isBelow(after - before, 100, `${after - before} more descriptors are open`)
      }),
    120_000
  )
})
