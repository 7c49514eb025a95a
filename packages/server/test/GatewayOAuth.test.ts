/**
 * The gateway's MCP side with OAuth, end to end: the client manager as the
 * gateway composes it (`Gateway.managerLayer` over `AuthorizedFetch.layerOAuth`
 * over a non-interactive `OAuthManager`), a real authorization server
 * (oidc-provider) and a stateful streamable-HTTP MCP server that only accepts
 * the tokens that authorization server issued. The session id proves that a
 * token renewal happens inside the live session, without reconnecting.
 */
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Browser } from "@mcpgate/oauth/Browser"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import { leakedTokens, logCapture, logLines, serverConfig } from "@mcpgate/testing/Harness"
import * as AuthorizedFetch from "@mcpgate/transport/AuthorizedFetch"
import type { ServerStatus } from "@mcpgate/transport/ConnectionState"
import { McpClientManager } from "@mcpgate/transport/McpClientManager"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Clock, Effect, Layer, type Scope } from "effect"
import * as Gateway from "../src/Gateway.ts"
import { freePort, shiftedClock } from "./support/AdminGateway.ts"

/** Every status message the gateway produced (checked for tokens like the logs). */
const statusTexts: Array<string> = []

afterAll(() => {
  assert.isAbove(AuthServer.allIssuedTokens.size, 0)
  assert.deepStrictEqual(leakedTokens(AuthServer.allIssuedTokens, [...logLines, ...statusTexts]), [])
})

// ---------------------------------------------------------------------------
// A stateful MCP server behind the test authorization server
// ---------------------------------------------------------------------------

interface SessionServer {
  readonly url: string
  /** `initialize` requests that opened a session. */
  initializes: number
  /** The `mcp-session-id` of every request after `initialize`. */
  readonly sessionIds: Array<string>
  /** The access token of every accepted request, in order. */
  readonly tokens: Array<string>
  /** Tokens refused although issued (revoked on the server's side). */
  readonly revoked: Set<string>
  refused: number
}

const startSessionServer = (as: AuthServer.AuthServer): Effect.Effect<SessionServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const httpServer = http.createServer()
    const port = yield* Effect.callback<number>((resume) => {
      httpServer.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed((httpServer.address() as AddressInfo).port))
      )
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        httpServer.closeAllConnections()
        httpServer.close(() => resume(Effect.void))
      })
    )
    const origin = `http://127.0.0.1:${port}`
    const state: SessionServer = {
      url: `${origin}/mcp`,
      initializes: 0,
      sessionIds: [],
      tokens: [],
      revoked: new Set(),
      refused: 0
    }
    const metadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`
    const sessions = new Map<string, StreamableHTTPServerTransport>()

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const path = new URL(req.url ?? "/", origin).pathname
      if (path === "/.well-known/oauth-protected-resource/mcp") {
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            resource: state.url,
            authorization_servers: [as.issuer],
            scopes_supported: ["mcp:read"]
          })
        )
        return
      }
      if (path !== "/mcp") {
        res.writeHead(404).end()
        return
      }
      const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1]
      if (token === undefined || !as.issuedTokens.has(token) || state.revoked.has(token)) {
        state.refused++
        res
          .writeHead(401, {
            "www-authenticate": `Bearer resource_metadata="${metadataUrl}"${token === undefined ? "" : ', error="invalid_token"'}`
          })
          .end()
        return
      }
      state.tokens.push(token)
      const sessionId = req.headers["mcp-session-id"]
      if (typeof sessionId === "string") {
        const transport = sessions.get(sessionId)
        if (transport === undefined) {
          res.writeHead(404).end()
          return
        }
        state.sessionIds.push(sessionId)
        await transport.handleRequest(req, res)
        return
      }
      const mcp = new McpServer({ name: "session-test-server", version: "1.0.0" })
      mcp.registerTool("whoami", { description: "Says hello" }, async () => ({
        content: [{ type: "text", text: "hello" }]
      }))
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        enableJsonResponse: true,
        onsessioninitialized: (id) => {
          state.initializes++
          sessions.set(id, transport)
        }
      })
      await mcp.connect(transport)
      await transport.handleRequest(req, res)
    }
    httpServer.on("request", (req, res) => {
      void handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500)
        res.end(String(error))
      })
    })
    return state
  })

// ---------------------------------------------------------------------------
// The gateway's manager
// ---------------------------------------------------------------------------

/**
 * The server's config, with a loopback callback port free right now for the
 * logins: the default one (a hash of name and URL) may be held by a socket of
 * a test running beside this one.
 */
const notes = (url: string) =>
  Effect.map(freePort, (callbackPort): ServerConfig => serverConfig("notes", url, { callbackPort }))

const configFor = (server: ServerConfig): McpgateConfig => ({
  mcpServers: { [server.name]: server },
  maxToolCalls: 10,
  store: { type: "local" },
  defaultTimeout: 10,
  builtins: {
    fetch: { enabled: false, allowPrivateNetwork: false },
    webSearch: { enabled: false, provider: "duckduckgo" }
  },
  server: { host: "127.0.0.1", port: 0 }
})

/**
 * The gateway's manager, fetch and OAuth (never interactive), over a memory
 * store; the "browser" follows redirects, for the logins the tests do
 * themselves (as the CLI or the web UI would).
 */
const oauthLayer = OAuthManager.layer({ interactive: false }).pipe(
  Layer.provideMerge(Layer.mergeAll(CredentialStore.layerMemory, Browser.layerFollowRedirects))
)

/** The manager (and its fetch) over the `OAuthManager` in context. */
const gatewayManager = (config: McpgateConfig) =>
  Gateway.managerLayer(config).pipe(Layer.provide(AuthorizedFetch.layerOAuth))

const statusOf = (name: string) =>
  Effect.gen(function* () {
    const status = yield* (yield* McpClientManager).serverStatus(name)
    if (status.lastError !== undefined) statusTexts.push(status.lastError)
    return status
  })

const awaitState = (name: string, predicate: (status: ServerStatus) => boolean) =>
  Effect.flatMap(McpClientManager, (manager) =>
    manager.awaitStatus((all) => all.some((status) => status.name === name && predicate(status)))
  ).pipe(Effect.timeout("10 seconds"), Effect.andThen(statusOf(name)))

const callText = (tool: string) =>
  Effect.flatMap(McpClientManager, (manager) => manager.call(tool, {})).pipe(
    Effect.map((result) => result.text)
  )

describe("the gateway with OAuth", () => {
  it.live("a server that needs a login is needs_auth (not error); after a login, reconnect connects it", () =>
    Effect.gen(function* () {
      let resource = ""
      const as = yield* AuthServer.start({ resource: () => resource })
      const mcp = yield* startSessionServer(as)
      resource = mcp.url
      const server = yield* notes(mcp.url)
      yield* Effect.gen(function* () {
        const waiting = yield* awaitState("notes", (status) => status.state === "needs_auth")
        assert.strictEqual(waiting.state, "needs_auth")
        assert.include(waiting.lastError ?? "", "mcpgate login notes")
        assert.isUndefined(waiting.nextRetryAt, "no retry loop while a login is needed")
        assert.strictEqual(mcp.refused, 1, "one anonymous request learned the challenge")
        assert.strictEqual(as.tokenRequests.length, 0)

        const oauth = yield* OAuthManager
        const login = yield* oauth.login(server)
        assert.strictEqual(login.registrationMethod, "dcr")
        yield* (yield* McpClientManager).reconnect("notes")
        const connected = yield* awaitState("notes", (status) => status.state === "connected")
        assert.strictEqual(connected.toolCount, 1)
        assert.strictEqual(yield* callText("notes__whoami"), "hello")
        assert.strictEqual(mcp.initializes, 1)
      }).pipe(Effect.provide(gatewayManager(configFor(server))))
    }).pipe(Effect.provide(oauthLayer), Effect.provide(logCapture))
  )

  it.live("renews the token silently ahead of expiry and after a 401, inside the same session", () =>
    Effect.gen(function* () {
      let resource = ""
      const as = yield* AuthServer.start({ resource: () => resource })
      const mcp = yield* startSessionServer(as)
      resource = mcp.url
      const server = yield* notes(mcp.url)
      // What the gateway thinks the time is (its sleeps stay real).
      const offset = { ms: 0 }
      const clock = shiftedClock(yield* Clock.Clock, offset)
      const gateway = Effect.gen(function* () {
        const connected = yield* awaitState("notes", (status) => status.state === "connected")
        const session = mcp.sessionIds.at(-1)
        assert.isDefined(session)
        assert.strictEqual(yield* callText("notes__whoami"), "hello")
        const first = mcp.tokens.at(-1)
        assert.strictEqual(as.countGrants("refresh_token"), 0)

        // Ahead of expiry (the token has an hour; move to its last 10 seconds): refreshed before the call.
        offset.ms = 3590 * 1000
        assert.strictEqual(yield* callText("notes__whoami"), "hello")
        const second = mcp.tokens.at(-1)
        assert.strictEqual(as.countGrants("refresh_token"), 1)
        assert.notStrictEqual(second, first)

        // The server revokes the token on its side: the call gets a 401, refreshes once, retries.
        if (second !== undefined) mcp.revoked.add(second)
        const refusedBefore = mcp.refused
        assert.strictEqual(yield* callText("notes__whoami"), "hello")
        const third = mcp.tokens.at(-1)
        assert.strictEqual(as.countGrants("refresh_token"), 2)
        assert.strictEqual(mcp.refused, refusedBefore + 1)
        assert.notStrictEqual(third, second)

        // One session throughout: no second initialize, every request on the same session id.
        assert.strictEqual(mcp.initializes, 1)
        assert.deepStrictEqual([...new Set(mcp.sessionIds)], [session])
        const after = yield* statusOf("notes")
        assert.strictEqual(after.state, "connected")
        assert.strictEqual(after.lastConnectedAt, connected.lastConnectedAt)
        assert.strictEqual(after.attempts, 0)
      }).pipe(Effect.provide(gatewayManager(configFor(server))))
      yield* Effect.gen(function* () {
        // Logged in before the gateway starts: it connects at once.
        yield* (yield* OAuthManager).login(server)
        yield* gateway
      }).pipe(Effect.provide(oauthLayer), Effect.provideService(Clock.Clock, clock))
    }).pipe(Effect.provide(logCapture))
  )

  it.live(
    "a refresh the authorization server refuses mid-session: the call says how to log in, the server turns needs_auth",
    () =>
      Effect.gen(function* () {
        let resource = ""
        const as = yield* AuthServer.start({ resource: () => resource })
        const mcp = yield* startSessionServer(as)
        resource = mcp.url
        const server = yield* notes(mcp.url)
        yield* (yield* OAuthManager).login(server)
        yield* Effect.gen(function* () {
          yield* awaitState("notes", (status) => status.state === "connected")
          assert.strictEqual(yield* callText("notes__whoami"), "hello")

          // The grant is gone at the authorization server, and the server refuses the token it had.
          as.rewriteToken = (request) =>
            request.grantType === "refresh_token"
              ? { status: 400, body: { error: "invalid_grant" } }
              : undefined
          for (const token of mcp.tokens) mcp.revoked.add(token)
          const error = yield* Effect.flip(
            Effect.flatMap(McpClientManager, (manager) => manager.call("notes__whoami", {}))
          )
          statusTexts.push(error.message)
          assert.strictEqual(error.reason, "needs_auth")
          assert.include(error.message, "mcpgate login notes")
          assert.strictEqual(as.countGrants("refresh_token"), 1)

          // The connection notices (its health check is refused too) and waits for a login, not retrying.
          const waiting = yield* awaitState("notes", (status) => status.state === "needs_auth")
          assert.include(waiting.lastError ?? "", "mcpgate login notes")
          assert.isUndefined(waiting.nextRetryAt)
        }).pipe(Effect.provide(gatewayManager(configFor(server))))
      }).pipe(Effect.provide(oauthLayer), Effect.provide(logCapture))
  )
})
