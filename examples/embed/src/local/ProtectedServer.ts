/**
 * An MCP server behind OAuth, as part 2 meets it, with the smallest
 * authorization server that serves it. Both listen on 127.0.0.1.
 *
 * - The authorization server publishes its metadata (RFC 8414) and issues
 *   opaque access tokens with the client credentials grant (RFC 6749 §4.4) to
 *   one pre-registered client, for the resource the client names (RFC 8707).
 * - The MCP server (the SDK's streamable HTTP transport, stateless) publishes
 *   its protected resource metadata (RFC 9728), answers a request without a
 *   valid token for itself with 401 and `WWW-Authenticate: Bearer
 *   resource_metadata="…"`, and has one tool, `whoami`.
 *
 * A real deployment uses a real authorization server; this one keeps the
 * example self-contained.
 */
import { randomBytes } from "node:crypto"
import * as http from "node:http"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Effect, type Scope } from "effect"
import { json, listen, readBody } from "./Http.ts"

export interface ProtectedServer {
  /** The MCP endpoint: `http://127.0.0.1:<port>/mcp`. */
  readonly url: string
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  /** How many access tokens the authorization server issued. */
  readonly issuedTokens: () => number
}

interface IssuedToken {
  readonly clientId: string
  readonly resource: string
  readonly expiresAt: number
}

/** The client id and secret of a `client_secret_basic` or `client_secret_post` request (RFC 6749 §2.3.1). */
const clientOf = (request: http.IncomingMessage, form: URLSearchParams) => {
  const basic = /^Basic (.+)$/i.exec(request.headers.authorization ?? "")?.[1]
  if (basic === undefined) return { id: form.get("client_id"), secret: form.get("client_secret") }
  const [id = "", secret = ""] = Buffer.from(basic, "base64").toString().split(":")
  return { id: decodeURIComponent(id), secret: decodeURIComponent(secret) }
}

const whoamiServer = (clientId: string) => {
  const mcp = new McpServer({ name: "protected-example", version: "1.0.0" })
  mcp.registerTool("whoami", { description: "Says which OAuth client called" }, async () => ({
    content: [{ type: "text", text: `you are ${clientId}` }]
  }))
  return mcp
}

export const start: Effect.Effect<ProtectedServer, never, Scope.Scope> = Effect.gen(function* () {
  const clientId = "embed-example"
  const clientSecret = randomBytes(24).toString("base64url")
  const tokens = new Map<string, IssuedToken>()

  const authorizationServer = http.createServer()
  const issuer = yield* listen(authorizationServer)
  const resourceServer = http.createServer()
  const origin = yield* listen(resourceServer)
  const url = `${origin}/mcp`
  const resourceMetadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`

  authorizationServer.on("request", async (request, response) => {
    const path = new URL(request.url ?? "/", issuer).pathname
    if (path === "/.well-known/oauth-authorization-server") {
      return json(response, 200, {
        issuer,
        token_endpoint: `${issuer}/token`,
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"]
      })
    }
    if (path !== "/token" || request.method !== "POST") return json(response, 404, { error: "not_found" })
    const form = new URLSearchParams(await readBody(request))
    const client = clientOf(request, form)
    if (client.id !== clientId || client.secret !== clientSecret) {
      return json(response, 401, { error: "invalid_client" })
    }
    if (form.get("grant_type") !== "client_credentials") {
      return json(response, 400, { error: "unsupported_grant_type" })
    }
    const resource = form.get("resource") ?? url
    if (resource !== url) return json(response, 400, { error: "invalid_target" })
    const accessToken = randomBytes(24).toString("base64url")
    tokens.set(accessToken, { clientId, resource, expiresAt: Date.now() + 3_600_000 })
    return json(response, 200, { access_token: accessToken, token_type: "Bearer", expires_in: 3600 })
  })

  resourceServer.on("request", async (request, response) => {
    const path = new URL(request.url ?? "/", origin).pathname
    if (path === "/.well-known/oauth-protected-resource/mcp") {
      return json(response, 200, {
        resource: url,
        authorization_servers: [issuer],
        bearer_methods_supported: ["header"]
      })
    }
    if (path !== "/mcp") return json(response, 404, { error: "not_found" })
    const token = /^Bearer (.+)$/i.exec(request.headers.authorization ?? "")?.[1]
    const issued = token === undefined ? undefined : tokens.get(token)
    if (issued === undefined || issued.resource !== url || issued.expiresAt <= Date.now()) {
      response.writeHead(401, {
        "www-authenticate": `Bearer resource_metadata="${resourceMetadataUrl}"`,
        "content-type": "application/json"
      })
      return response.end(JSON.stringify({ error: "invalid_token" }))
    }
    const body: unknown = request.method === "POST" ? JSON.parse(await readBody(request)) : undefined
    const mcp = whoamiServer(issued.clientId)
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
    response.on("close", () => {
      void transport.close()
      void mcp.close()
    })
    await mcp.connect(transport)
    await transport.handleRequest(request, response, body)
  })

  return { url, issuer, clientId, clientSecret, issuedTokens: () => tokens.size }
})
