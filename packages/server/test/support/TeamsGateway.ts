/**
 * A gateway with users (docs/teams.md): the whole `Gateway.layer` on 127.0.0.1
 * with `server.auth` pointing at a real oidc-provider that issues JWT access
 * tokens for the gateway's resources, plus helpers to get tokens the ways real
 * clients do: the MCP SDK client with its OAuth client provider (authorization
 * code + PKCE, dynamic registration), and a machine client (client credentials)
 * for any resource.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { HttpServerConfig, McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { encodeText } from "@mcpgate/core/ConfigSchema"
import { CredentialStore, type CredentialStoreShape, makeMemory } from "@mcpgate/core/CredentialStore"
import { followRedirects } from "@mcpgate/oauth/Browser"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import * as Configs from "@mcpgate/testing/Configs"
import * as Loopback from "@mcpgate/testing/Loopback"
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js"
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens
} from "@modelcontextprotocol/sdk/shared/auth.js"
import { Clock, Context, Effect, Layer, Redacted, type Scope } from "effect"
import { HttpServer } from "effect/http"
import * as Gateway from "../../src/Gateway.ts"
import type { UiRecords } from "../../src/security/UiRecords.ts"
import { shiftedClock } from "./AdminGateway.ts"

export const machineClient = { id: "robot", secret: "robot-secret-0123456789abcdef" }

export const adminToken = "admin-token-of-the-teams-gateway"

/** The gateway's own client at the provider (introspection, sign-in). */
export const gatewayClient = { id: "mcpgate", secret: "gateway-secret-0123456789abcdef" }

/** A resource the test provider also serves, that is not the gateway. */
export const otherResource = "http://127.0.0.1:9/elsewhere"

export interface TeamsGatewayOptions {
  /** More of `server` (users, apiKeys, auth settings beyond issuer and clientId). */
  readonly server?: (issuer: string) => Partial<HttpServerConfig>
  readonly servers?: ReadonlyArray<ServerConfig>
  /** Extra claims per account (e.g. groups for `adminClaim`). */
  readonly claims?: (accountId: string) => Record<string, unknown>
  /** Tokens for `<url>/v1` are opaque (RFC 7662 introspection) instead of JWTs. */
  readonly opaqueV1?: boolean
  /** Servers to wait for (default: all; per-user servers never connect as the gateway). */
  readonly expectConnected?: number
  /** Where web sessions and sign-ins wait (default: the gateway's memory). */
  readonly uiRecords?: Layer.Layer<UiRecords>
}

export interface TeamsGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly as: AuthServer.AuthServer
  /** Moves the gateway's clock (not the provider's) forward. */
  readonly clockOffset: { ms: number }
  /** The gateway's credential store. */
  readonly store: CredentialStoreShape
}

/** The provider, then the gateway in front of `servers` (default: the stdio test server as `local`). */
export const start = (options: TeamsGatewayOptions = {}): Effect.Effect<TeamsGateway, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const port = yield* Loopback.freePort
    const url = `http://127.0.0.1:${port}`
    const as = yield* AuthServer.start({
      resource: () => `${url}/mcp`,
      acceptsResource: (indicator) => indicator.startsWith(`${url}/`) || indicator === otherResource,
      resourceScopes: "mcp:read mcp:write",
      providerScopes: ["mcp:read", "mcp:write"],
      clients: [
        {
          client_id: machineClient.id,
          client_secret: machineClient.secret,
          grant_types: ["client_credentials"],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: "client_secret_basic"
        },
        {
          client_id: gatewayClient.id,
          client_secret: gatewayClient.secret,
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          redirect_uris: [`${url}/auth/callback`, `${url}/signin/callback`],
          token_endpoint_auth_method: "client_secret_basic"
        }
      ],
      ...(options.opaqueV1 === true ? { opaqueFor: (indicator: string) => indicator === `${url}/v1` } : {}),
      ...(options.claims === undefined ? {} : { claims: options.claims, idTokenClaims: ["groups"] })
    })
    const home = mkdtempSync(join(tmpdir(), "mcpgate-teams-"))
    const extra = options.server?.(as.issuer) ?? {}
    const config: McpgateConfig = Configs.gateway(options.servers ?? [Configs.stdioServer("local")], {
      server: {
        host: "127.0.0.1",
        port,
        adminToken: Redacted.make(adminToken),
        ...extra,
        auth: {
          userClaim: "sub",
          ...extra.auth,
          issuer: as.issuer,
          clientId: gatewayClient.id,
          clientSecret: Redacted.make(gatewayClient.secret)
        }
      }
    })
    // The config file, as `mcpgate serve` would read it (the admin API reads it too).
    writeFileSync(join(home, "mcpgate.json"), encodeText(config), { mode: 0o600 })
    const clockOffset = { ms: 0 }
    const store = yield* makeMemory()
    const base = yield* Clock.Clock
    const context = yield* Layer.build(
      Gateway.layer({ config, host: "127.0.0.1", uiRecords: options.uiRecords }).pipe(
        Layer.provideMerge(NodeHttpServer.layer(http.createServer, { host: "127.0.0.1", port })),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(Layer.succeed(CredentialStore, store)),
        Layer.provide(
          ConfigFile.layerWith({ path: join(home, "mcpgate.json"), env: { MCPGATE_HOME: home } })
        ),
        Layer.provide(Layer.succeed(Clock.Clock, shiftedClock(base, clockOffset)))
      )
    )
    Context.get(context, HttpServer.HttpServer)
    // The servers connect in the background; the tests start once they have.
    const total = options.expectConnected ?? Object.keys(config.mcpServers).length
    yield* Effect.promise(async () => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const health = (await (await fetch(`${url}/health`)).json()) as { mcp: { serversConnected: number } }
        if (health.mcp.serversConnected === total) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error("the MCP servers did not connect")
    })
    return { url, as, clockOffset, store }
  })

/** A client credentials token of the test provider for `resource` (its `sub` is the client id). */
export const machineToken = (
  as: AuthServer.AuthServer,
  resource: string,
  scope = "mcp:read mcp:write"
): Effect.Effect<string> =>
  Effect.promise(async () => {
    const response = await fetch(`${as.issuer}/token`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: `Basic ${Buffer.from(`${machineClient.id}:${machineClient.secret}`).toString("base64")}`
      },
      body: new URLSearchParams({ grant_type: "client_credentials", resource, scope }).toString()
    })
    const body = (await response.json()) as { access_token?: string }
    if (body.access_token === undefined) throw new Error(`no token: ${JSON.stringify(body)}`)
    return body.access_token
  })

/** A loopback page that keeps the `code` of the redirect it receives. */
const callbackServer = Effect.gen(function* () {
  const codes: Array<string> = []
  const seen: Array<string> = []
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? "")
    const code = new URL(req.url ?? "/", "http://x").searchParams.get("code")
    if (code !== null) codes.push(code)
    res.writeHead(200, { "content-type": "text/plain" }).end("done")
  })
  const port = yield* Loopback.listen(server)
  return { url: `http://127.0.0.1:${port}/callback`, codes, seen }
})

/** An in-memory `OAuthClientProvider` whose "browser" follows the redirects to a loopback callback. */
class TestProvider implements OAuthClientProvider {
  registered: OAuthClientInformationMixed | undefined
  saved: OAuthTokens | undefined
  verifier = ""
  authorizationUrl: URL | undefined
  readonly callback: string
  constructor(callback: string) {
    this.callback = callback
  }
  get redirectUrl() {
    return this.callback
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "mcpgate teams test",
      redirect_uris: [this.callback],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none"
    }
  }
  clientInformation() {
    return this.registered
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.registered = info
  }
  tokens() {
    return this.saved
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier
  }
  codeVerifier() {
    return this.verifier
  }
}

export interface SignedInClient {
  readonly client: Client
  readonly provider: TestProvider
}

/**
 * What Claude Code or VS Code do: connect to `mcpUrl`, get a 401, find the
 * provider from the resource metadata, register, sign `account` in
 * (authorization code + PKCE), and connect again with the token.
 */
export const signIn = (
  as: AuthServer.AuthServer,
  mcpUrl: string,
  account: string
): Effect.Effect<SignedInClient, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const callback = yield* callbackServer
    const provider = new TestProvider(callback.url)
    const first = new Client({ name: "teams-test", version: "1.0.0" })
    const refused = yield* Effect.tryPromise({
      try: () =>
        first.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })),
      catch: (error) => error
    }).pipe(Effect.flip)
    if (!(refused instanceof UnauthorizedError)) return yield* Effect.die(refused)
    const authorizationUrl = provider.authorizationUrl
    if (authorizationUrl === undefined) return yield* Effect.die("no authorization URL")
    as.account = account
    yield* followRedirects("test", authorizationUrl.href)
    const code = callback.codes.at(-1)
    if (code === undefined)
      return yield* Effect.die(
        `no code at the callback: ${callback.seen.join(" ")} from ${authorizationUrl.href}`
      )
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })
    yield* Effect.promise(() => transport.finishAuth(code))
    const client = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new Client({ name: "teams-test", version: "1.0.0" })
        await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }))
        return client
      }),
      (client) => Effect.promise(() => client.close())
    )
    return { client, provider }
  })
