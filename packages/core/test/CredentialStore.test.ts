import { assert, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { CredentialStore, type CredentialStoreError } from "../src/CredentialStore.ts"
import { behaviourSuite } from "./support/CredentialStoreBehaviour.ts"
import { tempDirectory } from "./support/TempDirectory.ts"

const fileLayer = (options: object) =>
  Layer.unwrap(Effect.map(tempDirectory, (directory) => CredentialStore.layerFile({ directory, ...options })))

const autoLayer = (setting: string) => (options: object) =>
  Layer.unwrap(
    Effect.map(tempDirectory, (directory) => CredentialStore.layerAutoWith({ directory, ...options }))
  ).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ MCPGATE_TOKEN_STORE: setting }))))

layer(Layer.empty, { excludeTestServices: true })("CredentialStore", (it) => {
  it.layer(Layer.empty)("memory", (it) => behaviourSuite(it, CredentialStore.layerMemoryWith))
  it.layer(Layer.empty)("file", (it) => behaviourSuite(it, fileLayer))
  it.layer(Layer.empty)("auto with MCPGATE_TOKEN_STORE=file", (it) => behaviourSuite(it, autoLayer("file")))
  it.layer(Layer.empty)("auto with MCPGATE_TOKEN_STORE=memory", (it) =>
    behaviourSuite(it, autoLayer("memory"))
  )

  it.layer(Layer.empty)("layerAuto settings", (it) => {
    const backendWith = (setting: string | undefined) =>
      Effect.gen(function* () {
        const store = yield* CredentialStore
        return { backend: store.backend, description: store.description }
      }).pipe(
        Effect.provide(
          Layer.unwrap(
            Effect.map(tempDirectory, (directory) => CredentialStore.layerAutoWith({ directory }))
          ).pipe(
            Layer.provide(
              ConfigProvider.layer(
                ConfigProvider.fromUnknown(setting === undefined ? {} : { MCPGATE_TOKEN_STORE: setting })
              )
            )
          )
        )
      )

    it.effect("file, memory (any case, trimmed) choose that backend", () =>
      Effect.gen(function* () {
        const file = yield* backendWith("file")
        assert.strictEqual(file.backend, "file")
        assert.match(file.description, /^file \/.*credentials\.json$/)
        assert.strictEqual((yield* backendWith(" Memory ")).backend, "memory")
      })
    )

    it.effect("an unknown value is an invalid-config error naming the variable and the allowed values", () =>
      Effect.gen(function* () {
        const error = (yield* Effect.flip(backendWith("vault"))) as CredentialStoreError
        assert.strictEqual(error._tag, "CredentialStoreError")
        assert.strictEqual(error.reason, "invalid-config")
        assert.include(error.message, "MCPGATE_TOKEN_STORE")
        assert.include(error.message, "auto, keychain, file, memory")
        assert.include(error.message, '"vault"')
      })
    )
  })
})
