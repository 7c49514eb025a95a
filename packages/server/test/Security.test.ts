import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import { isLoopbackHost } from "@mcpgate/core/Address"
import type { McpgateConfig } from "@mcpgate/core/Config"
import { emptyConfig } from "@mcpgate/core/ConfigFile"
import { Context, Effect, Layer, Redacted } from "effect"
import { HttpServerRequest } from "effect/http"
import { addresses } from "../src/security/Addresses.ts"
import * as AdminToken from "../src/security/AdminToken.ts"
import { checkBind, tokenClash } from "../src/security/ConfigChecks.ts"
import { Security } from "../src/security/Security.ts"
import { tempHome } from "./support/AdminGateway.ts"

/** `server` settings with the secrets written as text, as in a config file. */
type ServerSettings = Omit<Partial<McpgateConfig["server"]>, "apiKeys" | "adminToken"> & {
  readonly apiKeys?: ReadonlyArray<string>
  readonly adminToken?: string
}

const withServer = ({ apiKeys, adminToken, ...server }: ServerSettings): McpgateConfig => ({
  ...emptyConfig,
  server: {
    ...emptyConfig.server,
    ...server,
    ...(apiKeys === undefined ? {} : { apiKeys: apiKeys.map((key) => Redacted.make(key)) }),
    ...(adminToken === undefined ? {} : { adminToken: Redacted.make(adminToken) })
  }
})

const build = (options: Parameters<typeof Security.layer>[0]) =>
  Effect.map(Layer.build(Security.layer(options)), (context) => Context.get(context, Security))

describe("checkBind", () => {
  it.effect("refuses a non-loopback address without API keys, naming the fix", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(checkBind(withServer({}), "0.0.0.0"))
      assert.strictEqual(error._tag, "InsecureBind")
      assert.strictEqual(error.host, "0.0.0.0")
      assert.include(error.message, "server.apiKeys")
      assert.include(error.message, "--host 127.0.0.1")
      // The config's own host is used when none is given.
      const fromConfig = yield* Effect.flip(checkBind(withServer({ host: "192.0.2.10" })))
      assert.strictEqual(fromConfig.host, "192.0.2.10")
      // Empty keys are no keys.
      yield* Effect.flip(checkBind(withServer({ apiKeys: ["", "  "] }), "::"))
    })
  )

  it.effect(
    "allows loopback without keys and any address with keys, and the API then behaves accordingly",
    () =>
      Effect.gen(function* () {
        const loopback = ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]
        const exits = yield* Effect.forEach(loopback, (host) => Effect.exit(checkBind(withServer({}), host)))
        assert.deepStrictEqual(
          exits.map((exit, index) => `${loopback[index]}: ${exit._tag}`),
          loopback.map((host) => `${host}: Success`)
        )
        assert.strictEqual(
          (yield* Effect.exit(checkBind(withServer({ apiKeys: ["k"] }), "0.0.0.0")))._tag,
          "Success"
        )

        // What the bind check allowed: an open API on loopback, a keyed one everywhere else.
        const home = yield* tempHome
        const request = (headers: Record<string, string> = {}) =>
          HttpServerRequest.fromWeb(new Request("http://127.0.0.1:9/v1/models", { headers }))
        const open = yield* build({ config: withServer({}), port: 9, env: { MCPGATE_HOME: home } })
        assert.deepStrictEqual(yield* open.authorizeApi(request()), {
          principal: { _tag: "Local" },
          caller: undefined
        })
        const keyed = yield* build({
          config: withServer({ apiKeys: ["the-key"] }),
          host: "0.0.0.0",
          port: 9,
          env: { MCPGATE_HOME: home }
        })
        const refused = yield* Effect.flip(keyed.authorizeApi(request()))
        assert.strictEqual(refused.status, 401)
        assert.strictEqual(refused.code, "invalid_api_key")
        const access = yield* keyed.authorizeApi(request({ authorization: "Bearer the-key" }))
        assert.match(access.caller ?? "", /^key:[0-9a-f]{64}$/)
        assert.deepStrictEqual(access.principal, { _tag: "Shared" })
      }).pipe(Effect.scoped)
  )

  it.effect(
    "refuses a non-loopback publicUrl without API keys: behind a proxy every request looks local",
    () =>
      Effect.gen(function* () {
        for (const publicUrl of [
          "https://gateway.example.com",
          "http://192.0.2.7:8808",
          "https://[2001:db8::1]"
        ]) {
          const error = yield* Effect.flip(checkBind(withServer({ publicUrl }), "127.0.0.1"))
          assert.strictEqual(error._tag, "InsecureBind")
          assert.include(error.message, "server.publicUrl")
          assert.include(error.message, new URL(publicUrl).host)
          assert.include(error.message, 'Set "server.apiKeys"')
        }
        // A loopback publicUrl (another local name or port) is fine, and any with keys.
        for (const publicUrl of ["http://localhost:9000", "http://127.0.0.1:8808/gw", "http://[::1]:1"]) {
          yield* checkBind(withServer({ publicUrl }), "127.0.0.1")
        }
        yield* checkBind(
          withServer({ publicUrl: "https://gateway.example.com", apiKeys: ["k"] }),
          "127.0.0.1"
        )
      })
  )

  it.effect(
    "the config editor cannot set a non-loopback publicUrl without keys, nor empty them under one",
    () =>
      Effect.gen(function* () {
        const home = yield* tempHome
        const local = yield* build({ config: withServer({}), port: 9, env: { MCPGATE_HOME: home } })
        const exposed = yield* Effect.flip(
          local.check(withServer({ publicUrl: "https://gateway.example.com" }))
        )
        assert.strictEqual(exposed.path, "server.publicUrl")
        assert.include(exposed.message, "server.apiKeys")
        const keyed = yield* build({
          config: withServer({ publicUrl: "https://gateway.example.com", apiKeys: ["k1"] }),
          port: 9,
          env: { MCPGATE_HOME: home }
        })
        const emptied = yield* Effect.flip(
          keyed.apply(withServer({ publicUrl: "https://gateway.example.com" }))
        )
        assert.strictEqual(emptied.path, "server.publicUrl")
      }).pipe(Effect.scoped)
  )

  it("tells loopback hosts from the others", () => {
    for (const host of [
      "127.0.0.1",
      "localhost",
      "LOCALHOST",
      "app.localhost",
      "::1",
      "[::1]",
      "127.255.255.254"
    ]) {
      assert.isTrue(isLoopbackHost(host), host)
    }
    for (const host of [
      "0.0.0.0",
      "::",
      "192.168.1.2",
      "10.0.0.1",
      "example.com",
      "128.0.0.1",
      "127.0.0.1.nip.io"
    ]) {
      assert.isFalse(isLoopbackHost(host), host)
    }
  })

  it.effect("Security.layer refuses to build for an insecure bind", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const error = yield* Effect.flip(
        build({ config: withServer({}), host: "0.0.0.0", port: 9, env: { MCPGATE_HOME: home } })
      )
      assert.strictEqual(error._tag, "InsecureBind")
      // Nothing was generated for a gateway that never started.
      const entries = yield* Effect.promise(() => fs.readdir(home))
      assert.deepStrictEqual(entries, [])
    }).pipe(Effect.scoped)
  )
})

describe("the admin token", () => {
  it.effect("is generated on the first start, stored 0600 in a 0700 directory, and reused after", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const state = path.join(home, "state")
      const first = yield* AdminToken.resolve({ config: emptyConfig, env: {}, stateDirectory: state })
      assert.strictEqual(first.source, "generated")
      assert.isTrue(first.generated)
      const token = Redacted.value(first.value)
      // 32 random bytes in base64url.
      assert.match(token, /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(first.path, path.join(state, "admin-token"))
      const file = yield* Effect.promise(() => fs.stat(path.join(state, "admin-token")))
      const directory = yield* Effect.promise(() => fs.stat(state))
      assert.strictEqual(file.mode & 0o777, 0o600)
      assert.strictEqual(directory.mode & 0o777, 0o700)
      // No temporary file is left behind.
      assert.deepStrictEqual(yield* Effect.promise(() => fs.readdir(state)), ["admin-token"])
      // The token never shows in how the value prints.
      assert.notInclude(String(first.value), token)
      assert.notInclude(JSON.stringify(first), token)

      const second = yield* AdminToken.resolve({ config: emptyConfig, env: {}, stateDirectory: state })
      assert.strictEqual(second.source, "file")
      assert.isFalse(second.generated)
      assert.strictEqual(Redacted.value(second.value), token)
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )

  it.effect("tightens a token file that was widened", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      yield* AdminToken.resolve({ config: emptyConfig, env: { MCPGATE_HOME: home } })
      const file = path.join(home, "admin-token")
      yield* Effect.promise(() => fs.chmod(file, 0o644))
      const again = yield* AdminToken.resolve({ config: emptyConfig, env: { MCPGATE_HOME: home } })
      assert.strictEqual(again.source, "file")
      assert.strictEqual((yield* Effect.promise(() => fs.stat(file))).mode & 0o777, 0o600)
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )

  it.effect("replaces an empty token file (a crash before its first write) with a new token", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const file = path.join(home, "admin-token")
      yield* Effect.promise(() => fs.writeFile(file, "", { mode: 0o600 }))
      const token = yield* AdminToken.resolve({ config: emptyConfig, env: { MCPGATE_HOME: home } })
      assert.strictEqual(token.source, "generated")
      assert.isTrue(token.generated)
      const stored = yield* Effect.promise(() => fs.readFile(file, "utf8"))
      assert.strictEqual(stored, `${Redacted.value(token.value)}\n`)
      assert.deepStrictEqual(yield* Effect.promise(() => fs.readdir(home)), ["admin-token"])
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )

  it.effect("concurrent first starts agree on one token", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const results = yield* Effect.all(
        Array.from({ length: 8 }, () =>
          AdminToken.resolve({ config: emptyConfig, env: { MCPGATE_HOME: home } })
        ),
        { concurrency: "unbounded" }
      )
      const values = new Set(results.map((result) => Redacted.value(result.value)))
      assert.strictEqual(values.size, 1)
      assert.strictEqual(results.filter((result) => result.generated).length, 1)
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )

  it.effect("the config wins over the environment, which wins over the file", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const env = { MCPGATE_HOME: home, MCPGATE_ADMIN_TOKEN: "from-the-environment" }
      const fromEnv = yield* AdminToken.resolve({ config: emptyConfig, env })
      assert.strictEqual(fromEnv.source, "env")
      assert.strictEqual(Redacted.value(fromEnv.value), "from-the-environment")
      const fromConfig = yield* AdminToken.resolve({
        config: withServer({ adminToken: "from-the-config" }),
        env
      })
      assert.strictEqual(fromConfig.source, "config")
      assert.strictEqual(Redacted.value(fromConfig.value), "from-the-config")
      // Neither wrote a file.
      assert.deepStrictEqual(yield* Effect.promise(() => fs.readdir(home)), [])
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )

  it.effect("an unreadable state directory is a clear error without the token", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const blocker = path.join(home, "not-a-directory")
      yield* Effect.promise(() => fs.writeFile(blocker, "x"))
      const error = yield* Effect.flip(
        AdminToken.resolve({ config: emptyConfig, env: {}, stateDirectory: blocker })
      )
      assert.strictEqual(error._tag, "AdminTokenError")
      assert.include(error.message, "MCPGATE_ADMIN_TOKEN")
    }).pipe(Effect.scoped, Effect.provide(NodeFileSystem.layer))
  )
})

describe("API keys and the admin token", () => {
  it.effect("a config whose admin token is also an API key is refused at start", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const config = withServer({ adminToken: "shared-secret", apiKeys: ["other", "shared-secret"] })
      const error = yield* Effect.flip(build({ config, port: 9, env: { MCPGATE_HOME: home } }))
      assert.strictEqual(error._tag, "SecurityConfigError")
      assert.include(error.message, "never open the admin API")
      assert.notInclude(error.message, "shared-secret")
      // The same through the environment.
      const viaEnv = yield* Effect.flip(
        build({
          config: withServer({ apiKeys: ["env-secret"] }),
          port: 9,
          env: { MCPGATE_HOME: home, MCPGATE_ADMIN_TOKEN: "env-secret" }
        })
      )
      assert.strictEqual(viaEnv._tag, "SecurityConfigError")
      assert.isUndefined(tokenClash(withServer({ adminToken: "a", apiKeys: ["b"] }), Redacted.make("a")))
    }).pipe(Effect.scoped)
  )

  it.effect("a reload may change the keys, but not empty them on a non-loopback address", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const security = yield* build({
        config: withServer({ apiKeys: ["k1"] }),
        host: "0.0.0.0",
        port: 9,
        env: { MCPGATE_HOME: home }
      })
      yield* security.apply(withServer({ apiKeys: ["k2"] }))
      const error = yield* Effect.flip(security.apply(withServer({})))
      assert.strictEqual(error.path, "server.apiKeys")
      const clash = yield* Effect.flip(
        security.check(withServer({ apiKeys: [Redacted.value(security.adminToken.value)] }))
      )
      assert.strictEqual(clash._tag, "SecurityConfigError")
    }).pipe(Effect.scoped)
  )
})

describe("the metrics token", () => {
  const metrics = (token: string) => ({ metricsToken: Redacted.make(token) })

  it.effect("is refused at start when it is also an API key, a user's key or the admin token", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const refused = (config: McpgateConfig, env: Record<string, string> = {}) =>
        Effect.flip(build({ config, port: 9, env: { MCPGATE_HOME: home, ...env } }))
      const cases = [
        withServer({ apiKeys: ["k", "scrape-secret"], ...metrics("scrape-secret") }),
        withServer({
          apiKeys: ["k"],
          users: { ada: { admin: false, apiKeys: [Redacted.make("scrape-secret")] } },
          ...metrics("scrape-secret")
        }),
        withServer({ apiKeys: ["k"], adminToken: "scrape-secret", ...metrics("scrape-secret") })
      ]
      for (const config of cases) {
        const error = yield* refused(config)
        assert.strictEqual(error._tag, "SecurityConfigError")
        assert.strictEqual(error._tag === "SecurityConfigError" ? error.path : "", "server.metricsToken")
        assert.notInclude(error.message, "scrape-secret")
      }
      const viaEnv = yield* refused(withServer({ apiKeys: ["k"], ...metrics("env-secret") }), {
        MCPGATE_ADMIN_TOKEN: "env-secret"
      })
      assert.strictEqual(
        viaEnv._tag === "SecurityConfigError" ? viaEnv.path : viaEnv._tag,
        "server.metricsToken"
      )
    }).pipe(Effect.scoped)
  )

  it.effect("is refused on reload when it is an API key; its own value is fine", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const security = yield* build({
        config: withServer({ apiKeys: ["k1"], ...metrics("m1") }),
        port: 9,
        env: { MCPGATE_HOME: home }
      })
      yield* security.apply(withServer({ apiKeys: ["k1"], ...metrics("m2") }))
      const clash = yield* Effect.flip(security.check(withServer({ apiKeys: ["k1"], ...metrics("k1") })))
      assert.strictEqual(clash.path, "server.metricsToken")
    }).pipe(Effect.scoped)
  )
})

describe("addresses", () => {
  it("come from the configuration: publicUrl, else host and port; loopback aliases when on loopback", () => {
    const local = addresses(withServer({}), "127.0.0.1", 8808)
    assert.strictEqual(local.origin, "http://127.0.0.1:8808")
    assert.strictEqual(local.publicUrl, "http://127.0.0.1:8808")
    assert.deepStrictEqual(
      [...local.allowedOrigins].sort(),
      ["http://127.0.0.1:8808", "http://[::1]:8808", "http://localhost:8808"].sort()
    )
    assert.isFalse(local.secure)

    const published = addresses(
      withServer({ publicUrl: "https://gw.example.com/base/", apiKeys: ["k"] }),
      "0.0.0.0",
      8808
    )
    assert.strictEqual(published.origin, "https://gw.example.com")
    assert.strictEqual(published.publicUrl, "https://gw.example.com/base")
    assert.isTrue(published.secure)
    assert.isFalse(published.allowedOrigins.has("http://localhost:8808"))

    // Listening everywhere without publicUrl: no redirect URI a browser could use.
    assert.isUndefined(addresses(withServer({ apiKeys: ["k"] }), "0.0.0.0", 8808).publicUrl)
    assert.strictEqual(addresses(withServer({}), "::1", 8808).origin, "http://[::1]:8808")
  })
})
