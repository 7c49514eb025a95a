/**
 * `mcpgate store migrate | status | import | rotate-key` (docs/store.md#commands):
 * the shared Postgres store named by the config's `store`. The store package is
 * loaded only here and when the config asks for it, never for the local store.
 */
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Encryption from "@mcpgate/core/Encryption"
import { Context, Effect, Layer, type Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import { InvalidArguments } from "../Errors.ts"
import { configFileLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

const json = Flag.Boolean("json").pipe(Flag.withDescription("Print JSON"), Flag.withDefault(false))

/** The Postgres URL of the config's store; an error when the store is local. */
const postgresUrl = Effect.gen(function* () {
  const file = yield* ConfigFile
  const { config, path } = yield* file.load
  if (config.store.type !== "postgres" || config.store.url === undefined) {
    return yield* new InvalidArguments({
      message: `the config (${path}) has no Postgres store: set "store": {"type": "postgres", "url": "\${env:DATABASE_URL}"} (docs/store.md)`
    })
  }
  return config.store.url satisfies Redacted.Redacted<string>
})

const loadStore = Effect.promise(() =>
  Promise.all([
    import("@mcpgate/store/StoreAdmin"),
    import("@mcpgate/store/StoreDatabase"),
    import("@mcpgate/store/PostgresCredentialStore")
  ])
)

/** Runs `f` with a client of the config's database (no migration first). */
const withDatabase = <A, E, R>(f: (modules: Effect.Success<typeof loadStore>) => Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const url = yield* postgresUrl
    const modules = yield* loadStore
    return yield* f(modules).pipe(Effect.provide(modules[1].layer(url)))
  })

const migrate = Command.make(
  "migrate",
  { json },
  Effect.fn(function* (flags) {
    const ran = yield* withDatabase(([Admin, Database]) =>
      Effect.andThen(Database.migrate, (ids) => Effect.map(Admin.status, (status) => ({ ids, status })))
    )
    if (flags.json) return yield* Output.json({ ran: ran.ids, schema: ran.status.schema })
    yield* Output.line(
      ran.ids.length === 0
        ? `${ran.status.database}: schema ${ran.status.schema.current} is current; nothing to do`
        : `${ran.status.database}: ran migration(s) ${ran.ids.join(", ")}; schema ${ran.status.schema.current}`
    )
  }, Effect.provide(configFileLayer))
).pipe(Command.withDescription("Create or upgrade the store's tables (replicas also do it when they start)"))

const status = Command.make(
  "status",
  { json },
  Effect.fn(function* (flags) {
    const report = yield* withDatabase(([Admin]) => Admin.status)
    if (flags.json) return yield* Output.json(report)
    yield* Output.line(`${Output.bold("database")}     ${report.database}`)
    yield* Output.line(
      `${Output.bold("schema")}       ${report.schema.current} (this mcpgate knows up to ${report.schema.latest})`
    )
    yield* Output.line(`${Output.bold("credentials")}  ${report.credentials}`)
    for (const [id, count] of Object.entries(report.keyIds)) {
      yield* Output.line(`${Output.bold("key")} ${id}  ${count} value(s)`)
    }
  }, Effect.provide(configFileLayer))
).pipe(
  Command.withDescription("Show the store's schema version, credential count and the keys that sealed them")
)

const importCommand = Command.make(
  "import",
  { json },
  Effect.fn(function* (flags) {
    const url = yield* postgresUrl
    const [Admin, , Postgres] = yield* loadStore
    const report = yield* Effect.gen(function* () {
      const from = yield* CredentialStore
      const to = Context.get(yield* Layer.build(Postgres.layerPostgres({ url })), CredentialStore)
      return yield* Admin.importCredentials(from, to)
    }).pipe(Effect.provide(CredentialStore.layerAuto), Effect.scoped)
    if (flags.json) return yield* Output.json(report)
    yield* Output.line(`${Output.green("imported")} ${report.imported.length} credential(s)`)
    for (const key of report.skipped)
      yield* Output.line(`${Output.yellow("kept")} ${key}: already in the store`)
  }, Effect.provide(configFileLayer))
).pipe(
  Command.withDescription(
    "Copy the local credentials (keychain or file, as MCPGATE_TOKEN_STORE chooses) into the store; existing ones are kept"
  )
)

const rotateKey = Command.make(
  "rotate-key",
  { json },
  Effect.fn(function* (flags) {
    const keyring = yield* Encryption.keyringFromConfig
    const report = yield* withDatabase(([Admin, Database]) =>
      Effect.andThen(Database.migrate, Admin.rotateKey(keyring))
    )
    if (flags.json) return yield* Output.json(report)
    yield* Output.line(
      `${Output.green("re-encrypted")} ${report.resealed} value(s) with key ${report.keyId}; older keys can now be removed from ${Encryption.encryptionKeyVariable}`
    )
  }, Effect.provide(configFileLayer))
).pipe(
  Command.withDescription(
    "Re-encrypt every stored secret with the first key of MCPGATE_ENCRYPTION_KEY (the others must still be listed)"
  )
)

export const store = Command.make("store").pipe(
  Command.withDescription("The shared Postgres store for several replicas (docs/store.md)"),
  Command.withSubcommands([migrate, status, importCommand, rotateKey])
)
