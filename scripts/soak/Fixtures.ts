/**
 * The world the soak runs in, all on 127.0.0.1: a real authorization server
 * (oidc-provider) with short-lived access tokens, an OAuth-protected MCP server,
 * a scripted OpenAI-compatible model, a config file and a credential logged in
 * the way `mcpgate login` does it (into the file store the gateway reads).
 */
import { randomBytes } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Layer, type Scope } from "effect"
import type { McpgateConfig, ServerConfig } from "../../packages/core/src/Config.ts"
import * as ConfigFile from "../../packages/core/src/ConfigFile.ts"
import { CredentialStore } from "../../packages/core/src/CredentialStore.ts"
import { Browser } from "../../packages/oauth/src/Browser.ts"
import { OAuthManager } from "../../packages/oauth/src/OAuthManager.ts"

/** The stdio MCP server of the transport tests (tools `echo`, `slow`, …). */
export const stdioServerPath = stdioTestServerPath

/** Public tool names as the gateway exposes them (server `stdio`, server `protected`). */
export const echoTool = "stdio__echo"
export const whoamiTool = "protected__whoami"
/** What `whoami` answers for the test authorization server's user. */
export const whoamiText = "hello test-user"

export interface Fixtures {
  readonly as: AuthServer.AuthServer
  readonly mcp: ProtectedMcpServer.ProtectedMcpServer
  readonly upstream: ScriptedUpstream.ScriptedUpstream
  /** MCPGATE_HOME of the gateway: config, credentials, admin token. */
  readonly home: string
  readonly configPath: string
  readonly config: McpgateConfig
  readonly adminToken: string
  /** A string in the stdio server's command line, to find strays after the run. */
  readonly marker: string
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const offeredTools = (body: Record<string, unknown>): Set<string> => {
  const names = new Set<string>()
  if (!Array.isArray(body.tools)) return names
  for (const tool of body.tools) {
    if (isRecord(tool) && isRecord(tool.function) && typeof tool.function.name === "string") {
      names.add(tool.function.name)
    }
  }
  return names
}

/**
 * The model: asked with MCP tools, it calls every soak tool it was offered (a
 * real model only calls what it sees; the stdio tools vanish while that server
 * restarts), then answers "done" once the tool results are in. Without tools
 * it answers "plain".
 */
export const modelScript: ScriptedUpstream.Script = (body, index) => {
  const messages = Array.isArray(body.messages) ? body.messages : []
  const last: unknown = messages.at(-1)
  if (isRecord(last) && last.role === "tool") return { content: "done" }
  const offered = offeredTools(body)
  if (offered.size === 0) return { content: "plain" }
  const toolCalls: Array<ScriptedUpstream.ScriptedToolCall> = []
  if (offered.has(echoTool)) {
    toolCalls.push({
      id: `call_${index}_echo`,
      name: echoTool,
      arguments: JSON.stringify({ text: `soak ${index}` })
    })
  }
  if (offered.has(whoamiTool))
    toolCalls.push({ id: `call_${index}_whoami`, name: whoamiTool, arguments: "{}" })
  return toolCalls.length === 0 ? { content: "done" } : { toolCalls }
}

export interface FixtureOptions {
  /** Access token lifetime at the authorization server, seconds. */
  readonly accessTokenTtl: number
  /** Further `server` settings (a replica's `publicUrl`). */
  readonly server?: Record<string, unknown> | undefined
  /** The `store` setting (the replica soak's Postgres store). */
  readonly store?: Record<string, unknown> | undefined
}

export const start = (options: FixtureOptions): Effect.Effect<Fixtures, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    let resource = ""
    const as = yield* AuthServer.start({ resource: () => resource, accessTokenTtl: options.accessTokenTtl })
    const mcp = yield* ProtectedMcpServer.start({ issuer: () => as.issuer })
    resource = mcp.url
    const upstream = yield* ScriptedUpstream.make(modelScript)

    const home = mkdtempSync(join(tmpdir(), "mcpgate-soak-"))
    const marker = `--soak-${randomBytes(6).toString("hex")}`
    const adminToken = `soak-admin-${randomBytes(16).toString("hex")}`
    const text = `${JSON.stringify(
      {
        _comment: "written by scripts/soak.ts",
        mcpServers: {
          protected: { type: "streamable-http", url: mcp.url, auth: { type: "oauth2" } },
          // The marker flag is ignored by the server; it finds strays after the run.
          stdio: { command: process.execPath, args: [stdioServerPath, marker] }
        },
        maxToolCalls: 4,
        defaultTimeout: 10,
        builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
        server: {
          host: "127.0.0.1",
          port: 0,
          adminToken,
          upstream: { baseUrl: upstream.baseUrl },
          ...options.server
        },
        ...(options.store === undefined ? {} : { store: options.store })
      },
      null,
      2
    )}\n`
    const configPath = join(home, "mcpgate.json")
    writeFileSync(configPath, text, { mode: 0o600 })
    const config = yield* ConfigFile.parse(text, configPath, { MCPGATE_HOME: home })
    return { as, mcp, upstream, home, configPath, config, adminToken, marker }
  })

/**
 * Logs the protected server in as `mcpgate login protected` would (PKCE, DCR,
 * RFC 8707), into the file store under `home` that the gateway will read.
 */
export const login = (fixtures: Fixtures): Effect.Effect<void, unknown> =>
  Effect.gen(function* () {
    const server: ServerConfig | undefined = fixtures.config.mcpServers.protected
    if (server === undefined) return yield* Effect.die("the soak config has no protected server")
    const manager = yield* OAuthManager
    yield* manager.login(server)
  }).pipe(
    Effect.provide(
      OAuthManager.layer({ interactive: true }).pipe(
        Layer.provide(
          Layer.mergeAll(
            CredentialStore.layerFile({ directory: fixtures.home }),
            Browser.layerFollowRedirects
          )
        )
      )
    )
  )

/** Forgets what the fixtures hold in memory that a long run does not need (recorded requests). */
export const trim = (fixtures: Fixtures): void => {
  // The scripted upstream records every request for tests; the soak reads none of them.
  const requests = fixtures.upstream.requests as Array<ScriptedUpstream.RecordedRequest>
  requests.splice(0, requests.length)
}
