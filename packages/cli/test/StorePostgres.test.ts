/**
 * `store: {"type": "postgres"}` in the config puts every command (status,
 * login, serve) on the shared Postgres store (docs/store.md), against a real
 * PostgreSQL started for the file.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Encryption from "@mcpgate/core/Encryption"
import { layerPostgres } from "@mcpgate/store/PostgresCredentialStore"
import * as Postgres from "@mcpgate/testing/Postgres"
import { Effect, Exit, Redacted, Scope } from "effect"
import { runCli, sandbox } from "./support/Cli.ts"

const key = Buffer.alloc(32, 3).toString("base64")
const access = "at-pg-5e4d3c2b1a-secret-access"

let server: Postgres.PostgresServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.provide(Postgres.start(), serverScope))
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), 60_000)

const writeConfig = (home: string) =>
  writeFileSync(
    join(home, "mcpgate.json"),
    JSON.stringify({
      mcpServers: { notion: { url: "https://mcp.notion.test/mcp", auth: { type: "oauth2" } } },
      store: { type: "postgres", url: "${env:DATABASE_URL}" }
    })
  )

describe("store: postgres", () => {
  it("status reads credentials from the database and shows no secret", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    await Effect.runPromise(
      Effect.gen(function* () {
        const store = yield* CredentialStore
        yield* store.set(
          new Credential({
            server: "notion",
            url: "https://mcp.notion.test/mcp",
            tokens: new TokenSet({
              accessToken: Redacted.make(access),
              tokenType: "Bearer",
              expiresAt: Date.now() + 3_600_000
            }),
            updatedAt: Date.now()
          })
        )
      }).pipe(
        Effect.provide(
          layerPostgres({
            url: Redacted.make(server.url),
            keyring: Effect.runSync(Encryption.parseKeys(key))
          })
        )
      )
    )
    const result = await runCli(["status", "--json"], {
      env: { ...env, DATABASE_URL: server.url, MCPGATE_ENCRYPTION_KEY: key }
    })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.notInclude(result.stdout + result.stderr, access)
    assert.notInclude(result.stdout + result.stderr, server.url)
    const status = JSON.parse(result.stdout) as {
      credentialStore: { backend: string }
      servers: ReadonlyArray<{ name: string; auth: string }>
    }
    assert.strictEqual(status.credentialStore.backend, "postgres")
    assert.strictEqual(status.servers.find((entry) => entry.name === "notion")?.auth, "authenticated")
  }, 60_000)

  it("without MCPGATE_ENCRYPTION_KEY the command refuses, naming the variable", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    const result = await runCli(["status", "--json"], { env: { ...env, DATABASE_URL: server.url } })
    assert.notStrictEqual(result.code, 0)
    assert.include(result.stderr + result.stdout, "MCPGATE_ENCRYPTION_KEY")
    assert.notInclude(result.stdout + result.stderr, server.url)
  }, 60_000)

  it("store migrate, import, status and rotate-key on a fresh database", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    const url = await Effect.runPromise(Postgres.createDatabase(server, `cli${process.pid}`))
    const keyB = Buffer.alloc(32, 4).toString("base64")
    const run = (args: ReadonlyArray<string>, keys: string) =>
      runCli(args, { env: { ...env, DATABASE_URL: url, MCPGATE_ENCRYPTION_KEY: keys } })

    const migrated = await run(["store", "migrate", "--json"], key)
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    assert.deepStrictEqual(JSON.parse(migrated.stdout).ran, [1, 2, 3])
    const again = await run(["store", "migrate", "--json"], key)
    assert.deepStrictEqual(JSON.parse(again.stdout).ran, [])

    // A local (file) credential is imported; a second import keeps the stored one.
    await Effect.runPromise(
      Effect.gen(function* () {
        const store = yield* CredentialStore
        yield* store.set(
          new Credential({
            server: "notion",
            url: "https://mcp.notion.test/mcp",
            tokens: new TokenSet({ accessToken: Redacted.make(access), tokenType: "Bearer" }),
            updatedAt: 1
          })
        )
      }).pipe(Effect.provide(CredentialStore.layerFile({ directory: home })))
    )
    const imported = await run(["store", "import", "--json"], key)
    assert.strictEqual(imported.code, 0, imported.stderr)
    assert.deepStrictEqual(JSON.parse(imported.stdout), {
      imported: ["notion|https://mcp.notion.test/mcp"],
      skipped: []
    })
    const twice = await run(["store", "import", "--json"], key)
    assert.deepStrictEqual(JSON.parse(twice.stdout).skipped, ["notion|https://mcp.notion.test/mcp"])

    const idA = Effect.runSync(Encryption.parseKeys(key)).current.id
    const idB = Effect.runSync(Encryption.parseKeys(keyB)).current.id
    const before = JSON.parse((await run(["store", "status", "--json"], key)).stdout)
    assert.deepStrictEqual(before.keyIds, { [idA]: 1 })
    assert.strictEqual(before.schema.current, 3)

    // Rotation: the new key first, the old one after it; then the old one can go.
    const rotated = await run(["store", "rotate-key", "--json"], `${keyB},${key}`)
    assert.strictEqual(rotated.code, 0, rotated.stderr)
    assert.deepStrictEqual(JSON.parse(rotated.stdout), { keyId: idB, resealed: 1 })
    const after = JSON.parse((await run(["store", "status", "--json"], keyB)).stdout)
    assert.deepStrictEqual(after.keyIds, { [idB]: 1 })
    const shown = await run(["status", "--json"], keyB)
    assert.strictEqual(shown.code, 0, shown.stderr)
    assert.strictEqual(
      JSON.parse(shown.stdout).servers.find((entry: { name: string }) => entry.name === "notion")?.auth,
      "authenticated"
    )
    for (const result of [migrated, imported, rotated, shown]) {
      assert.notInclude(result.stdout + result.stderr, access)
      assert.notInclude(result.stdout + result.stderr, url)
    }
    const dump = await Effect.runPromise(
      server.tool("pg_dump", [
        "-h",
        "127.0.0.1",
        "-p",
        String(server.port),
        "-U",
        "mcpgate",
        `cli${process.pid}`
      ])
    )
    assert.notInclude(dump, access)
  }, 120_000)

  it("store commands on a local store say how to configure Postgres", async () => {
    const { env } = sandbox()
    const result = await runCli(["store", "status"], { env })
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, '"type": "postgres"')
  }, 60_000)
})
