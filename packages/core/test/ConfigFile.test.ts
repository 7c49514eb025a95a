// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts hold ${env:VAR} references, not templates
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUtil from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type { McpgateConfig } from "../src/Config.ts"
import {
  backupDirectory,
  ConfigError,
  ConfigFile,
  type ConfigFileOptions,
  configCandidates,
  configDirectory,
  type Env,
  emptyConfig,
  encodeText,
  parse,
  starterText,
  stateDirectory
} from "../src/ConfigFile.ts"
import { reveal } from "./support/Reveal.ts"

const fixture = (name: string) => NodePath.join(import.meta.dirname, "fixtures", "config", name)
const readFixture = (name: string) => NodeFs.readFile(fixture(name), "utf8")

/** A fresh directory, removed when the test's scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.promise(() => NodeFs.mkdtemp(NodePath.join(NodeOs.tmpdir(), "mcpgate-config-"))),
  (dir) => Effect.promise(() => NodeFs.rm(dir, { recursive: true, force: true }))
)

const withConfigFile = <A, E>(
  options: ConfigFileOptions,
  use: (file: ConfigFile["Service"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const file = yield* ConfigFile
    return yield* use(file)
  }).pipe(Effect.provide(ConfigFile.layerWith(options)))

const write = (path: string, text: string) =>
  Effect.promise(async () => {
    await NodeFs.mkdir(NodePath.dirname(path), { recursive: true })
    await NodeFs.writeFile(path, text)
  })

const read = (path: string) => Effect.promise(() => NodeFs.readFile(path, "utf8"))

const httpDefaults = { args: [], env: {}, headers: {}, enabled: true } as const
const authDefaults = {
  type: "oauth2",
  resource: "auto",
  flow: "pkce",
  signingAlgorithm: "RS256",
  allowHttp: false
} as const
const builtinDefaults = {
  fetch: { enabled: true, allowPrivateNetwork: false },
  webSearch: { enabled: true, provider: "duckduckgo" }
} as const

const readmeEnv: Env = { INTERNAL_TOKEN: "internal-secret", UPSTREAM_KEY: "upstream-secret" }

const readmeExpected: McpgateConfig = {
  mcpServers: {
    everything: {
      name: "everything",
      transport: "stdio",
      command: "npx",
      args: ["-y", "@modelcontextprotocol/server-everything"],
      env: {},
      headers: {},
      enabled: true
    },
    notion: {
      name: "notion",
      transport: "auto",
      url: "https://mcp.notion.com/mcp",
      ...httpDefaults,
      auth: authDefaults
    },
    internal: {
      name: "internal",
      transport: "sse",
      url: "http://127.0.0.1:3001/sse",
      args: [],
      env: {},
      headers: { Authorization: "Bearer internal-secret" },
      enabled: true
    }
  },
  maxToolCalls: 10,
  store: { type: "local" },
  defaultTimeout: 30,
  builtins: builtinDefaults,
  server: {
    host: "127.0.0.1",
    port: 8808,
    upstream: { baseUrl: "http://127.0.0.1:11434/v1", apiKey: Redacted.make("upstream-secret") }
  }
}

describe("ConfigFile examples", () => {
  it.effect(
    "the README's config example (stdio, HTTP with OAuth, SSE with an env reference) loads to the expected model",
    () =>
      Effect.gen(function* () {
        const text = yield* Effect.promise(() => readFixture("readme-example.jsonc"))
        const config = yield* parse(text, "readme-example.jsonc", readmeEnv)
        assert.deepStrictEqual(reveal(config), reveal(readmeExpected))
        // File order is kept.
        assert.deepStrictEqual(Object.keys(config.mcpServers), ["everything", "notion", "internal"])
      })
  )

  it.effect(
    "an omlx-style config (servers, snake_case aliases, _comment keys, type: http) loads unchanged",
    () =>
      Effect.gen(function* () {
        const text = yield* Effect.promise(() => readFixture("omlx.json"))
        const config = yield* parse(text, "omlx.json", { HOME: "/home/ada" })
        const expected: McpgateConfig = {
          mcpServers: {
            filesystem: {
              name: "filesystem",
              transport: "stdio",
              command: "npx",
              args: ["-y", "@modelcontextprotocol/server-filesystem", "/home/ada/notes"],
              // Keys of data maps are data, even with a leading underscore.
              env: { _DEBUG: "1" },
              headers: {},
              enabled: true
            },
            notion: {
              name: "notion",
              transport: "streamable-http",
              url: "https://mcp.notion.com/mcp",
              ...httpDefaults,
              auth: {
                ...authDefaults,
                clientId: "my-notion-client",
                authorizationUrl: "https://api.notion.com/v1/oauth/authorize",
                tokenUrl: "https://api.notion.com/v1/oauth/token",
                scopes: ["read", "write"],
                audience: "notion"
              }
            },
            devices: {
              name: "devices",
              transport: "streamable-http",
              url: "https://mcp.example.com/mcp",
              ...httpDefaults,
              timeout: 12.5,
              auth: {
                ...authDefaults,
                deviceAuthorizationUrl: "https://auth.example.com/device",
                tokenUrl: "https://auth.example.com/token",
                flow: "device"
              }
            },
            legacy: {
              name: "legacy",
              transport: "sse",
              url: "http://127.0.0.1:3001/sse",
              ...httpDefaults,
              enabled: false
            }
          },
          maxToolCalls: 5,
          store: { type: "local" },
          defaultTimeout: 45,
          builtins: builtinDefaults,
          server: { host: "127.0.0.1", port: 8808 }
        }
        assert.deepStrictEqual(config, expected)
      })
  )

  it.effect("every setting in canonical spelling (JSONC comments, trailing commas, $${ escape)", () =>
    Effect.gen(function* () {
      const text = yield* Effect.promise(() => readFixture("everything.jsonc"))
      const env: Env = {
        PORT: "4000",
        API_KEY: "k",
        CLIENT_SECRET: "s3cret",
        ADMIN_TOKEN: "admin",
        UPSTREAM_KEY: "up"
      }
      const config = yield* parse(text, "everything.jsonc", env)
      const expected: McpgateConfig = {
        mcpServers: {
          local: {
            name: "local",
            transport: "stdio",
            command: "node",
            args: ["server.js", "--port", "4000", "literal ${NOT_A_VAR}"],
            env: { API_KEY: "k", PLAIN: "plain" },
            cwd: "/srv/mcp",
            headers: {},
            enabled: true,
            timeout: 5,
            tools: { allow: ["read_*", "list_*"], deny: ["read_secret"] }
          },
          linear: {
            name: "linear",
            transport: "streamable-http",
            url: "https://mcp.linear.app/mcp",
            args: [],
            env: {},
            headers: { "X-Client": "mcpgate", "X-Token": "Bearer k" },
            enabled: true,
            auth: {
              type: "oauth2",
              clientId: "abc",
              clientSecret: Redacted.make("s3cret"),
              clientMetadataUrl: "https://mcpgate.example.com/client.json",
              authServerMetadataUrl: "https://auth.linear.app/.well-known/oauth-authorization-server",
              authorizationUrl: "https://auth.linear.app/authorize",
              tokenUrl: "https://auth.linear.app/token",
              deviceAuthorizationUrl: "https://auth.linear.app/device",
              scopes: ["read", "write", "offline_access"],
              resource: "https://mcp.linear.app/",
              audience: "linear",
              flow: "client_credentials",
              privateKey: Redacted.make("/etc/mcpgate/linear.pem"),
              signingAlgorithm: "ES256",
              callbackPort: 33418,
              redirectUri: "http://127.0.0.1:33418/callback",
              allowHttp: true
            }
          },
          sentry: {
            name: "sentry",
            transport: "auto",
            url: "https://mcp.sentry.dev/mcp",
            ...httpDefaults,
            auth: { ...authDefaults, resource: "omit" }
          }
        },
        maxToolCalls: 3,
        store: { type: "local" },
        defaultTimeout: 60,
        builtins: {
          fetch: { enabled: false, allowPrivateNetwork: true },
          webSearch: { enabled: true, provider: "searxng", endpoint: "http://127.0.0.1:8888/search" }
        },
        server: {
          host: "0.0.0.0",
          port: 9000,
          publicUrl: "https://gateway.example.com",
          adminToken: Redacted.make("admin"),
          apiKeys: [Redacted.make("key-1"), Redacted.make("key-2")],
          upstream: { baseUrl: "https://api.openai.com/v1", apiKey: Redacted.make("up") }
        }
      }
      assert.deepStrictEqual(reveal(config), reveal(expected))
    })
  )

  it.effect("an empty object is the default config", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* parse("{}", "x.json"), emptyConfig)
      assert.deepStrictEqual(
        yield* parse('{ "mcpServers": {}, "_comment": "none yet" }', "x.json"),
        emptyConfig
      )
    })
  )

  it.effect("a byte order mark is accepted and not counted as a column", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* parse("\uFEFF{}", "x.json"), emptyConfig)
      const error = yield* Effect.flip(parse('\uFEFF{"x": 1}', "x.json"))
      assert.strictEqual(error.column, 2)
    })
  )

  it.effect("secrets decode to Redacted: they never print, and the file written back holds them", () =>
    Effect.gen(function* () {
      const secrets = {
        clientSecret: "client-secret-0123",
        privateKey: "-----BEGIN PRIVATE KEY-----pem-0123",
        adminToken: "admin-token-0123",
        apiKey: "api-key-0123",
        otherKey: "api-key-4567",
        upstream: "upstream-key-0123"
      }
      const text = JSON.stringify({
        mcpServers: {
          notes: {
            url: "https://notes.example.com/mcp",
            auth: {
              type: "oauth2",
              clientId: "c",
              clientSecret: secrets.clientSecret,
              privateKey: "${env:PEM}"
            }
          }
        },
        server: {
          adminToken: secrets.adminToken,
          apiKeys: [secrets.apiKey, "${env:OTHER}"],
          upstream: { baseUrl: "http://127.0.0.1:11434/v1", apiKey: secrets.upstream }
        }
      })
      const config = yield* parse(text, "x.json", { PEM: secrets.privateKey, OTHER: secrets.otherKey })
      const auth = config.mcpServers.notes?.auth
      const held = [
        auth?.clientSecret,
        auth?.privateKey,
        config.server.adminToken,
        ...(config.server.apiKeys ?? []),
        config.server.upstream?.apiKey
      ]
      assert.deepStrictEqual(
        held.map((value) => (Redacted.isRedacted(value) ? Redacted.value(value) : value)),
        [
          secrets.clientSecret,
          secrets.privateKey,
          secrets.adminToken,
          secrets.apiKey,
          secrets.otherKey,
          secrets.upstream
        ]
      )
      const printed = [JSON.stringify(config), String(config.server.adminToken), NodeUtil.inspect(config)]
      for (const secret of Object.values(secrets)) {
        for (const form of printed) assert.notInclude(form, secret)
      }
      // The encoder writes the text back (a save keeps the secrets), and it reads back the same.
      const written = encodeText(config)
      for (const secret of Object.values(secrets)) assert.include(written, secret)
      assert.deepStrictEqual(reveal(yield* parse(written, "again.json")), reveal(config))
    })
  )
})

describe("ConfigFile lookup", () => {
  const layout = Effect.gen(function* () {
    const root = yield* tempDir
    const home = NodePath.join(root, "home")
    const cwd = NodePath.join(root, "project")
    yield* Effect.promise(() => NodeFs.mkdir(cwd, { recursive: true }))
    return { root, home, cwd }
  })

  it.effect("the --config flag wins over MCPGATE_CONFIG, ./mcpgate.json and the user config", () =>
    Effect.gen(function* () {
      const { root, home, cwd } = yield* layout
      yield* write(NodePath.join(cwd, "mcpgate.json"), "{}")
      yield* write(NodePath.join(home, ".config", "mcpgate", "config.json"), "{}")
      yield* write(NodePath.join(root, "from-env.json"), "{}")
      yield* write(NodePath.join(cwd, "flag.json"), '{ "maxToolCalls": 7 }')
      const env = { HOME: home, MCPGATE_CONFIG: NodePath.join(root, "from-env.json") }
      yield* withConfigFile({ path: "flag.json", env, cwd }, (file) =>
        Effect.gen(function* () {
          assert.strictEqual(file.path, NodePath.join(cwd, "flag.json"))
          assert.strictEqual(file.origin, "flag")
          const loaded = yield* file.load
          assert.strictEqual(loaded.config.maxToolCalls, 7)
          assert.isTrue(loaded.exists)
        })
      )
    })
  )

  it.effect("MCPGATE_CONFIG wins over ./mcpgate.json", () =>
    Effect.gen(function* () {
      const { root, home, cwd } = yield* layout
      yield* write(NodePath.join(cwd, "mcpgate.json"), "{}")
      yield* write(NodePath.join(root, "from-env.json"), "{}")
      const env = { HOME: home, MCPGATE_CONFIG: NodePath.join(root, "from-env.json") }
      yield* withConfigFile({ env, cwd }, (file) =>
        Effect.sync(() => {
          assert.strictEqual(file.path, NodePath.join(root, "from-env.json"))
          assert.strictEqual(file.origin, "env")
        })
      )
    })
  )

  it.effect("./mcpgate.json wins over the user config", () =>
    Effect.gen(function* () {
      const { home, cwd } = yield* layout
      yield* write(NodePath.join(cwd, "mcpgate.json"), "{}")
      yield* write(NodePath.join(home, ".config", "mcpgate", "config.json"), "{}")
      yield* withConfigFile({ env: { HOME: home }, cwd }, (file) =>
        Effect.sync(() => {
          assert.strictEqual(file.path, NodePath.join(cwd, "mcpgate.json"))
          assert.strictEqual(file.origin, "cwd")
        })
      )
    })
  )

  it.effect(
    "the user config is $XDG_CONFIG_HOME/mcpgate/config.json, else ~/.config/mcpgate/config.json",
    () =>
      Effect.gen(function* () {
        const { root, home, cwd } = yield* layout
        const xdg = NodePath.join(root, "xdg")
        yield* write(NodePath.join(xdg, "mcpgate", "config.json"), "{}")
        yield* withConfigFile({ env: { HOME: home, XDG_CONFIG_HOME: xdg }, cwd }, (file) =>
          Effect.sync(() => {
            assert.strictEqual(file.path, NodePath.join(xdg, "mcpgate", "config.json"))
            assert.strictEqual(file.origin, "user")
          })
        )
        // A relative XDG_CONFIG_HOME is invalid (XDG Base Directory spec) and ignored.
        yield* withConfigFile({ env: { HOME: home, XDG_CONFIG_HOME: "relative/xdg" }, cwd }, (file) =>
          Effect.sync(() =>
            assert.strictEqual(file.path, NodePath.join(home, ".config", "mcpgate", "config.json"))
          )
        )
      })
  )

  it.effect("MCPGATE_HOME replaces ~/.config/mcpgate and is the state directory", () =>
    Effect.gen(function* () {
      const { root, home, cwd } = yield* layout
      const mcpgateHome = NodePath.join(root, "mcpgate-home")
      yield* write(NodePath.join(mcpgateHome, "config.json"), '{ "defaultTimeout": 9 }')
      const env = { HOME: home, MCPGATE_HOME: mcpgateHome, XDG_CONFIG_HOME: NodePath.join(root, "xdg") }
      yield* withConfigFile({ env, cwd }, (file) =>
        Effect.gen(function* () {
          assert.strictEqual(file.path, NodePath.join(mcpgateHome, "config.json"))
          assert.strictEqual(file.stateDirectory, mcpgateHome)
          assert.strictEqual((yield* file.load).config.defaultTimeout, 9)
        })
      )
    })
  )

  it.effect("with no file anywhere: the user config path and the empty default config", () =>
    Effect.gen(function* () {
      const { home, cwd } = yield* layout
      yield* withConfigFile({ env: { HOME: home }, cwd }, (file) =>
        Effect.gen(function* () {
          assert.strictEqual(file.path, NodePath.join(home, ".config", "mcpgate", "config.json"))
          const loaded = yield* file.load
          assert.deepStrictEqual(loaded, {
            path: NodePath.join(home, ".config", "mcpgate", "config.json"),
            origin: "user",
            exists: false,
            config: emptyConfig
          })
          assert.deepStrictEqual(yield* file.current, loaded)
        })
      )
    })
  )

  it.effect("a missing file given explicitly is an error", () =>
    Effect.gen(function* () {
      const { root, home, cwd } = yield* layout
      const fromFlag = yield* withConfigFile({ path: "nope.json", env: { HOME: home }, cwd }, (file) =>
        Effect.flip(file.load)
      )
      assert.instanceOf(fromFlag, ConfigError)
      assert.strictEqual(fromFlag.message, "nope.json: file not found (given with --config)")
      assert.strictEqual(fromFlag.path, "$")
      const missing = NodePath.join(root, "missing.json")
      const fromEnv = yield* withConfigFile({ env: { HOME: home, MCPGATE_CONFIG: missing }, cwd }, (file) =>
        Effect.flip(file.load)
      )
      assert.strictEqual(fromEnv.message, `${missing}: file not found (set by MCPGATE_CONFIG)`)
    })
  )

  it.effect("a directory where the file should be is reported, not treated as missing", () =>
    Effect.gen(function* () {
      const { home, cwd } = yield* layout
      yield* Effect.promise(() => NodeFs.mkdir(NodePath.join(cwd, "mcpgate.json")))
      const error = yield* withConfigFile({ env: { HOME: home }, cwd }, (file) => Effect.flip(file.load))
      assert.strictEqual(error.message, "mcpgate.json: cannot read the file: it is a directory")
    })
  )

  it.effect("ConfigFile.layer reads process.env and process.cwd() (read only)", () =>
    Effect.gen(function* () {
      const file = yield* ConfigFile.pipe(Effect.provide(ConfigFile.layer))
      const candidates = configCandidates({ env: process.env, cwd: process.cwd() })
      assert.include(
        candidates.map((c) => c.path),
        file.path
      )
      assert.strictEqual(file.stateDirectory, stateDirectory(process.env))
    })
  )

  it("the pure helpers follow the same rules", () => {
    assert.strictEqual(configDirectory({ HOME: "/h" }), "/h/.config/mcpgate")
    assert.strictEqual(configDirectory({ HOME: "/h", XDG_CONFIG_HOME: "/x" }), "/x/mcpgate")
    assert.strictEqual(configDirectory({ HOME: "/h", MCPGATE_HOME: "/m" }), "/m")
    assert.strictEqual(stateDirectory({ HOME: "/h" }), "/h/.local/state/mcpgate")
    assert.strictEqual(stateDirectory({ HOME: "/h", XDG_STATE_HOME: "/s" }), "/s/mcpgate")
    assert.strictEqual(stateDirectory({ HOME: "/h", XDG_STATE_HOME: "/s", MCPGATE_HOME: "/m" }), "/m")
    assert.strictEqual(backupDirectory({ MCPGATE_HOME: "/m" }), "/m/backups")
    assert.deepStrictEqual(
      configCandidates({ path: "a.json", env: { HOME: "/h", MCPGATE_CONFIG: "b.json" }, cwd: "/p" }),
      [
        { path: "/p/a.json", origin: "flag" },
        { path: "/p/b.json", origin: "env" },
        { path: "/p/mcpgate.json", origin: "cwd" },
        { path: "/h/.config/mcpgate/config.json", origin: "user" }
      ]
    )
    // An empty MCPGATE_CONFIG is treated as unset.
    assert.deepStrictEqual(
      configCandidates({ env: { HOME: "/h", MCPGATE_CONFIG: "" }, cwd: "/p" }).map((c) => c.origin),
      ["cwd", "user"]
    )
  })
})

describe("ConfigFile load, reload and errors", () => {
  it.effect("load reports the first problem with the file's name, line and column", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* write(
        NodePath.join(dir, "mcpgate.json"),
        '{\n  "mcpServers": {\n    "notion": {\n      "url": "https://mcp.notion.com/mcp",\n      "auth": { "type": "oauth2", "clientID": "x" }\n    }\n  }\n}\n'
      )
      const error = yield* withConfigFile({ env: {}, cwd: dir }, (file) => Effect.flip(file.load))
      assert.strictEqual(
        error.message,
        'mcpgate.json:5:35 mcpServers.notion.auth.clientID: unknown key (did you mean "clientId"?)'
      )
      assert.strictEqual(error.file, "mcpgate.json")
      assert.strictEqual(error.line, 5)
      assert.strictEqual(error.column, 35)
    })
  )

  it.effect("a missing environment variable fails the load and names the variable and the path", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const text = yield* Effect.promise(() => readFixture("readme-example.jsonc"))
      yield* write(NodePath.join(dir, "mcpgate.json"), text)
      const error = yield* withConfigFile({ env: { INTERNAL_TOKEN: "t" }, cwd: dir }, (file) =>
        Effect.flip(file.load)
      )
      const before = text.slice(0, text.indexOf('"${env:UPSTREAM_KEY}"')).split("\n")
      const line = before.length
      const column = (before.at(-1) ?? "").length + 1
      assert.strictEqual(
        error.message,
        `mcpgate.json:${line}:${column} server.upstream.apiKey: environment variable UPSTREAM_KEY is not set`
      )
      assert.deepStrictEqual([error.line, error.column, error.path], [line, column, "server.upstream.apiKey"])
    })
  )

  it.effect("reload re-reads the file; a broken file leaves current on the last good config", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = NodePath.join(dir, "mcpgate.json")
      yield* write(path, '{ "maxToolCalls": 1 }')
      yield* withConfigFile({ env: {}, cwd: dir }, (file) =>
        Effect.gen(function* () {
          assert.strictEqual((yield* file.current).config.maxToolCalls, 1)
          yield* write(path, '{ "maxToolCalls": 2 }')
          assert.strictEqual((yield* file.current).config.maxToolCalls, 1)
          const reloaded = yield* file.reload
          assert.strictEqual(reloaded.config.maxToolCalls, 2)
          assert.strictEqual(reloaded.text, '{ "maxToolCalls": 2 }')
          yield* write(path, '{ "maxToolCalls": 0 }')
          const error = yield* Effect.flip(file.reload)
          assert.strictEqual(
            error.message,
            "mcpgate.json:1:19 maxToolCalls: expected a positive integer, got 0"
          )
          assert.strictEqual((yield* file.current).config.maxToolCalls, 2)
        })
      )
    })
  )

  it.effect("the service's parse validates text with the service's environment, without the disk", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withConfigFile({ env: { TOKEN: "t" }, cwd: dir }, (file) =>
        Effect.gen(function* () {
          const config = yield* file.parse(
            '{ "mcpServers": { "a": { "url": "https://a.example/mcp", "headers": { "X": "${TOKEN}" } } } }'
          )
          assert.deepStrictEqual(config.mcpServers.a?.headers, { X: "t" })
          const error = yield* Effect.flip(file.parse('{ "server": { "adminToken": "${env:NOPE}" } }'))
          assert.strictEqual(error.path, "server.adminToken")
          assert.include(error.message, "environment variable NOPE is not set")
        })
      )
    })
  )
})

describe("ConfigFile save", () => {
  const setup = Effect.gen(function* () {
    const dir = yield* tempDir
    const home = NodePath.join(dir, "state")
    const cwd = NodePath.join(dir, "project")
    yield* Effect.promise(() => NodeFs.mkdir(cwd, { recursive: true }))
    return {
      dir,
      cwd,
      env: { HOME: dir, MCPGATE_HOME: home } satisfies Env,
      path: NodePath.join(cwd, "mcpgate.json")
    }
  })

  const listBackups = (env: Env) =>
    Effect.promise(() =>
      NodeFs.readdir(backupDirectory(env)).then(
        (names) => names.sort(),
        () => []
      )
    )

  it.effect("save writes the canonical shape that loads back to the same model", () =>
    Effect.gen(function* () {
      const { cwd, env, path } = yield* setup
      const text = yield* Effect.promise(() => readFixture("readme-example.jsonc"))
      yield* write(path, text)
      yield* withConfigFile({ env: { ...env, ...readmeEnv }, cwd }, (file) =>
        Effect.gen(function* () {
          const loaded = yield* file.load
          const saved = yield* file.save(loaded.config)
          assert.deepStrictEqual(reveal(saved.config), reveal(readmeExpected))
          const written = yield* read(path)
          // The saved file holds values, not references, and uses canonical keys.
          assert.include(written, '"Authorization": "Bearer internal-secret"')
          assert.include(written, '"transport": "sse"')
          assert.notInclude(written, "${env:")
          assert.deepStrictEqual(reveal((yield* file.reload).config), reveal(readmeExpected))
        })
      )
    })
  )

  it.effect("save keeps the previous file as a backup and creates a missing file owner-only", () =>
    Effect.gen(function* () {
      const { cwd, env, path } = yield* setup
      // No file yet: the first save creates it under the user config path (MCPGATE_HOME).
      yield* withConfigFile({ env, cwd }, (file) =>
        Effect.gen(function* () {
          assert.strictEqual(file.path, NodePath.join(env.MCPGATE_HOME, "config.json"))
          yield* file.save(emptyConfig)
          const stat = yield* Effect.promise(() => NodeFs.stat(file.path))
          assert.strictEqual(stat.mode & 0o777, 0o600)
          assert.deepStrictEqual(yield* listBackups(env), [])
        })
      )
      const original = '// mine\n{ "maxToolCalls": 4 }\n'
      yield* write(path, original)
      yield* Effect.promise(() => NodeFs.chmod(path, 0o640))
      yield* withConfigFile({ env, cwd }, (file) =>
        Effect.gen(function* () {
          const loaded = yield* file.load
          yield* file.save({ ...loaded.config, maxToolCalls: 8 })
          const backups = yield* listBackups(env)
          assert.strictEqual(backups.length, 1)
          assert.match(backups[0] ?? "", /^config-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.json$/)
          const backup = yield* read(NodePath.join(backupDirectory(env), backups[0] ?? ""))
          assert.strictEqual(backup, original)
          assert.strictEqual((yield* file.reload).config.maxToolCalls, 8)
          // The file's mode is kept across the replacement.
          const stat = yield* Effect.promise(() => NodeFs.stat(path))
          assert.strictEqual(stat.mode & 0o777, 0o640)
        })
      )
    })
  )

  it.effect(
    "save replaces the file by rename (new inode, no temp file left) and keeps the last 10 backups",
    () =>
      Effect.gen(function* () {
        const { cwd, env, path } = yield* setup
        yield* write(path, "{}")
        yield* withConfigFile({ env, cwd }, (file) =>
          Effect.gen(function* () {
            for (let round = 1; round <= 12; round++) {
              const before = yield* Effect.promise(() => NodeFs.stat(path))
              yield* file.save({ ...emptyConfig, maxToolCalls: round })
              const after = yield* Effect.promise(() => NodeFs.stat(path))
              assert.notStrictEqual(after.ino, before.ino)
            }
            assert.deepStrictEqual(yield* Effect.promise(() => NodeFs.readdir(cwd)), ["mcpgate.json"])
            const backups = yield* listBackups(env)
            assert.strictEqual(backups.length, 10)
            // The newest backup holds the state before the last save; the oldest two were pruned.
            const newest = yield* read(NodePath.join(backupDirectory(env), backups.at(-1) ?? ""))
            assert.strictEqual((yield* parse(newest, "backup")).maxToolCalls, 11)
            const oldest = yield* read(NodePath.join(backupDirectory(env), backups[0] ?? ""))
            assert.strictEqual((yield* parse(oldest, "backup")).maxToolCalls, 2)
          })
        )
      })
  )

  it.effect("a symlinked config stays a symlink; the target is replaced", () =>
    Effect.gen(function* () {
      const { dir, cwd, env, path } = yield* setup
      const target = NodePath.join(dir, "dotfiles", "mcpgate.json")
      yield* write(target, "{}")
      yield* Effect.promise(() => NodeFs.symlink(target, path))
      yield* withConfigFile({ env, cwd }, (file) => file.save({ ...emptyConfig, maxToolCalls: 6 }))
      const link = yield* Effect.promise(() => NodeFs.lstat(path))
      assert.isTrue(link.isSymbolicLink())
      assert.strictEqual((yield* parse(yield* read(target), "target")).maxToolCalls, 6)
    })
  )

  it.effect("saveText writes the text verbatim (comments, ${env:…}) after validating it", () =>
    Effect.gen(function* () {
      const { cwd, env, path } = yield* setup
      yield* write(path, "{}")
      const text = '// edited in the admin UI\n{ "server": { "adminToken": "${env:ADMIN}" }, }\n'
      yield* withConfigFile({ env: { ...env, ADMIN: "a-token" }, cwd }, (file) =>
        Effect.gen(function* () {
          const saved = yield* file.saveText(text)
          assert.strictEqual(Redacted.value(saved.config.server.adminToken ?? Redacted.make("")), "a-token")
          assert.strictEqual(saved.text, text)
          assert.strictEqual(yield* read(path), text)
          assert.deepStrictEqual((yield* file.current).config, saved.config)
          assert.strictEqual((yield* listBackups(env)).length, 1)
        })
      )
    })
  )

  it.effect("saveText refuses an invalid text and leaves the file byte for byte unchanged", () =>
    Effect.gen(function* () {
      const { cwd, env, path } = yield* setup
      const original = '{\r\n  // keep me\r\n  "maxToolCalls": 3,\r\n}'
      yield* write(path, original)
      yield* withConfigFile({ env, cwd }, (file) =>
        Effect.gen(function* () {
          const invalid = [
            '{ "maxToolCalls": 3 ',
            '{ "mcpServers": { "a": { "comand": "x" } } }',
            '{ "server": { "apiKeys": ["${env:MISSING}"] } }',
            ""
          ]
          for (const text of invalid) {
            const error = yield* Effect.flip(file.saveText(text))
            assert.strictEqual(error._tag, "ConfigError")
          }
          const bytes = yield* Effect.promise(() => NodeFs.readFile(path))
          assert.isTrue(bytes.equals(Buffer.from(original)))
          assert.deepStrictEqual(yield* listBackups(env), [])
          assert.deepStrictEqual(yield* Effect.promise(() => NodeFs.readdir(cwd)), ["mcpgate.json"])
        })
      )
    })
  )

  it.effect("init writes the starter config, refuses to overwrite, and replaces it with force", () =>
    Effect.gen(function* () {
      const { cwd, env } = yield* setup
      yield* withConfigFile({ env, cwd }, (file) =>
        Effect.gen(function* () {
          const written = yield* file.init()
          assert.strictEqual(written, NodePath.join(env.MCPGATE_HOME, "config.json"))
          assert.strictEqual(yield* read(written), starterText)
          const loaded = yield* file.reload
          assert.deepStrictEqual(loaded.config, {
            ...emptyConfig,
            server: { ...emptyConfig.server, upstream: { baseUrl: "http://127.0.0.1:11434/v1" } }
          })
          const refused = yield* Effect.flip(file.init())
          assert.strictEqual(refused._tag, "ConfigError")
          assert.include(refused.message, "already exists (use --force")
          yield* write(written, '{ "maxToolCalls": 2 }')
          yield* file.init({ force: true })
          assert.strictEqual(yield* read(written), starterText)
          const backups = yield* listBackups(env)
          assert.strictEqual(
            yield* read(NodePath.join(backupDirectory(env), backups.at(-1) ?? "")),
            '{ "maxToolCalls": 2 }'
          )
        })
      )
    })
  )

  it.effect("a write failure is a ConfigWriteError and leaves the previous file", () =>
    Effect.gen(function* () {
      const { dir, cwd, env } = yield* setup
      // The state directory is a file, so the backup cannot be written: the save must stop before replacing.
      const blocked: Env = { ...env, MCPGATE_HOME: NodePath.join(dir, "blocker") }
      yield* write(NodePath.join(dir, "blocker"), "not a directory")
      const path = NodePath.join(cwd, "mcpgate.json")
      yield* write(path, '{ "maxToolCalls": 2 }')
      const error = yield* withConfigFile({ env: blocked, cwd }, (file) =>
        Effect.flip(file.save(emptyConfig))
      )
      assert.strictEqual(error._tag, "ConfigWriteError")
      assert.include(error.message, "mcpgate.json: cannot create the backup directory")
      assert.strictEqual(yield* read(path), '{ "maxToolCalls": 2 }')
    })
  )
})
