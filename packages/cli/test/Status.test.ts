import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ClientRegistration, Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Effect, Redacted } from "effect"
import { runCli, sandbox } from "./support/Cli.ts"

const secrets = {
  access: "at-9f8e7d6c5b4a-secret-access",
  refresh: "rt-0a1b2c3d4e5f-secret-refresh",
  clientSecret: "cs-77aa88bb99cc-client-secret"
}

const storeCredential = (directory: string, credential: Credential) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* CredentialStore
      yield* store.set(credential)
    }).pipe(Effect.provide(CredentialStore.layerFile({ directory })))
  )

describe("mcpgate status", () => {
  it("--json shows servers with credential metadata and never a secret", async () => {
    const { env, home } = sandbox()
    const now = Date.now()
    writeFileSync(
      join(home, "mcpgate.json"),
      JSON.stringify({
        mcpServers: {
          notion: { url: "https://mcp.notion.test/mcp", auth: { type: "oauth2" } },
          linear: { url: "https://mcp.linear.test/sse", auth: { type: "oauth2" } },
          local: { command: "node", args: ["server.js"] }
        }
      })
    )
    await storeCredential(
      home,
      new Credential({
        server: "notion",
        url: "https://mcp.notion.test/mcp",
        issuer: "https://auth.notion.test",
        registration: new ClientRegistration({
          method: "dcr",
          clientId: "client-123",
          clientSecret: Redacted.make(secrets.clientSecret),
          redirectUris: ["http://127.0.0.1:50123/callback"]
        }),
        tokens: new TokenSet({
          accessToken: Redacted.make(secrets.access),
          refreshToken: Redacted.make(secrets.refresh),
          tokenType: "Bearer",
          expiresAt: now + 3_600_000,
          scope: "read write"
        }),
        updatedAt: now
      })
    )

    for (const args of [["status", "--json"], ["status"]]) {
      const result = await runCli(args, { env })
      assert.strictEqual(result.code, 0, result.stderr)
      for (const secret of Object.values(secrets)) {
        assert.notInclude(result.stdout + result.stderr, secret)
      }
    }

    const result = await runCli(["status", "--json"], { env })
    const status = JSON.parse(result.stdout) as {
      credentialStore: { backend: string }
      servers: ReadonlyArray<{
        name: string
        auth: string
        transport: string
        credential?: Record<string, unknown>
      }>
    }
    assert.strictEqual(status.credentialStore.backend, "file")
    const byName = new Map(status.servers.map((server) => [server.name, server]))
    assert.strictEqual(byName.get("notion")?.auth, "authenticated")
    assert.strictEqual(byName.get("notion")?.credential?.registrationMethod, "dcr")
    assert.strictEqual(byName.get("notion")?.credential?.scope, "read write")
    assert.strictEqual(byName.get("notion")?.credential?.hasRefreshToken, true)
    assert.strictEqual(byName.get("linear")?.auth, "needs login")
    assert.strictEqual(byName.get("local")?.auth, "not required")
    assert.strictEqual(byName.get("local")?.transport, "stdio")
  })

  it("a credential stored for another URL is not used", async () => {
    const { env, home } = sandbox()
    writeFileSync(
      join(home, "mcpgate.json"),
      JSON.stringify({
        mcpServers: { notion: { url: "https://new.notion.test/mcp", auth: { type: "oauth2" } } }
      })
    )
    await storeCredential(
      home,
      new Credential({
        server: "notion",
        url: "https://old.notion.test/mcp",
        tokens: new TokenSet({ accessToken: Redacted.make(secrets.access), tokenType: "Bearer" }),
        updatedAt: Date.now()
      })
    )
    const result = await runCli(["status", "--json"], { env })
    const status = JSON.parse(result.stdout) as { servers: ReadonlyArray<{ auth: string }> }
    assert.strictEqual(status.servers[0]?.auth, "needs login")
  })

  it("a corrupt credentials file is reported, kept aside, and never printed", async () => {
    const { env, home } = sandbox()
    writeFileSync(
      join(home, "mcpgate.json"),
      JSON.stringify({
        mcpServers: { notion: { url: "https://mcp.notion.test/mcp", auth: { type: "oauth2" } } }
      })
    )
    const corrupt = `{"version": 1, "credentials": {"x": ${JSON.stringify(secrets.access)}`
    writeFileSync(join(home, "credentials.json"), corrupt, { mode: 0o600 })
    const result = await runCli(["status", "--json"], { env })
    assert.strictEqual(result.code, 1)
    assert.include(result.stderr, "corrupt")
    assert.notInclude(result.stdout + result.stderr, secrets.access)
  })
})
