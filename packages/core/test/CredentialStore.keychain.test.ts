/**
 * The keychain layer against a REAL Secret Service (gnome-keyring on a private
 * D-Bus session bus, see support/SecretService.ts). If the daemons are missing
 * the layer fails and so does every test here, with a message naming what to
 * install.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs/promises"
import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import { keyOf } from "../src/Credential.ts"
import { CredentialStore, type CredentialStoreError, keychainIndexAccount } from "../src/CredentialStore.ts"
import * as Keychain from "../src/internal/Keychain.ts"
import { keychainAccount, keychainScope } from "../src/internal/KeychainStore.ts"
import { assertNoSecret, behaviourSuite, fullCredential, slow } from "./support/CredentialStoreBehaviour.ts"
import * as SecretService from "./support/SecretService.ts"
import { tempDirectory } from "./support/TempDirectory.ts"
import { spawnWorker } from "./support/Worker.ts"

// A service name per store so tests never see each other's entries.
const uniqueService = () => `mcpgate-test-${randomUUID()}`

const keychainLayer = (options: object) =>
  Layer.unwrap(
    Effect.map(tempDirectory, (directory) =>
      CredentialStore.layerKeychain({ directory, service: uniqueService(), ...options })
    )
  )

/** The account of `name` in the scope of `directory` (README "Credentials"). */
const accountIn = (directory: string, name: string) =>
  Effect.promise(() => fs.realpath(directory)).pipe(
    Effect.map((canonical) => keychainAccount(keychainScope(canonical), name))
  )

const autoLayer = (options: object) =>
  Layer.unwrap(
    Effect.map(tempDirectory, (directory) =>
      CredentialStore.layerAutoWith({ directory, service: uniqueService(), ...options })
    )
  ).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ MCPGATE_TOKEN_STORE: "auto" }))))

layer(SecretService.layer, { excludeTestServices: true, timeout: "30 seconds" })(
  "CredentialStore on Secret Service",
  (it) => {
    it.layer(Layer.empty)("keychain", (it) => behaviourSuite(it, keychainLayer))
    it.layer(Layer.empty)("auto (chooses the keychain)", (it) => behaviourSuite(it, autoLayer))

    it.effect("auto says it chose the keychain", () =>
      Effect.gen(function* () {
        const store = yield* CredentialStore
        assert.strictEqual(store.backend, "keychain")
        assert.match(
          store.description,
          /^keychain \(Secret Service, service "mcpgate-test-.*"\), chosen by MCPGATE_TOKEN_STORE=auto$/
        )
      }).pipe(Effect.provide(autoLayer({})))
    )

    it.effect(
      "entries are in the keychain under account = <scope of the state directory>|keyOf, with an index; the secret is stored, not printed",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const service = uniqueService()
          const credential = fullCredential()
          yield* Effect.gen(function* () {
            const store = yield* CredentialStore
            yield* store.set(credential)
          }).pipe(Effect.provide(CredentialStore.layerKeychain({ directory, service })))
          const account = yield* accountIn(directory, keyOf(credential))
          assert.match(account, /^[0-9a-f]{16}\|notion\|https:\/\/mcp\.notion\.example\/mcp$/)
          const raw = Option.getOrThrow(yield* Keychain.getPassword(service, account, "2 seconds"))
          const document = JSON.parse(raw)
          assert.strictEqual(document.version, 1)
          assert.strictEqual(
            document.credentials[keyOf(credential)].tokens.accessToken,
            Redacted.value(credential.tokens?.accessToken ?? Redacted.make(""))
          )
          const index = JSON.parse(
            Option.getOrThrow(
              yield* Keychain.getPassword(
                service,
                yield* accountIn(directory, keychainIndexAccount),
                "2 seconds"
              )
            )
          )
          assert.deepStrictEqual(index, { version: 1, keys: [keyOf(credential)] })
        })
    )

    it.effect("a corrupt keychain entry is moved aside and reported; the next get is empty", () =>
      Effect.gen(function* () {
        const directory = yield* tempDirectory
        const service = uniqueService()
        const credential = fullCredential()
        const garbage = `{"version":1,"credentials":{"x":{"tokens":{"accessToken":"ACCESS-7f3a9c-secret"`
        yield* Effect.gen(function* () {
          const store = yield* CredentialStore
          yield* store.set(credential)
          yield* Keychain.setPassword(
            service,
            yield* accountIn(directory, keyOf(credential)),
            garbage,
            "2 seconds"
          )
          const error = (yield* Effect.flip(store.get(credential))) as CredentialStoreError
          assert.strictEqual(error.reason, "corrupt")
          assertNoSecret(error.message, "the corrupt error")
          const movedTo = error.movedTo ?? ""
          const account = /entry "([^"]+)"/.exec(movedTo)?.[1] ?? ""
          assert.match(account, /\.corrupt-/)
          assert.strictEqual(
            Option.getOrThrow(yield* Keychain.getPassword(service, account, "2 seconds")),
            garbage
          )
          assert.isTrue(Option.isNone(yield* store.get(credential)))
          assert.deepStrictEqual(yield* store.list, [])
        }).pipe(Effect.provide(CredentialStore.layerKeychain({ directory, service })))
      })
    )

    it.effect(
      "an unusable Secret Service: auto falls back to the file and says why; explicit keychain is an error",
      () =>
        Effect.gen(function* () {
          const directory = yield* tempDirectory
          const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${directory}/no-bus` }
          const auto = yield* spawnWorker("auto", { directory }, { ...env, MCPGATE_TOKEN_STORE: "auto" })
          const chosen = JSON.parse(yield* auto.waitFor((line) => line.startsWith("{")))
          assert.strictEqual(chosen.backend, "file")
          assert.include(chosen.description, `file ${directory}/credentials.json`)
          assert.include(
            chosen.description,
            "chosen by MCPGATE_TOKEN_STORE=auto because the OS keychain is not usable"
          )

          const explicit = yield* spawnWorker(
            "auto",
            { directory },
            { ...env, MCPGATE_TOKEN_STORE: "keychain" }
          )
          const failed = JSON.parse(yield* explicit.waitFor((line) => line.startsWith("{")))
          assert.strictEqual(failed.error.reason, "keychain-unavailable")
          assert.include(failed.error.message, "the OS keychain is not usable")
        }),
      slow
    )
  }
)
