/**
 * An MCP server (the SDK's streamable HTTP transport, stateless) protected by
 * the test authorization server: it accepts only JWT access tokens signed by the
 * authorization server whose `aud` is its own URL (RFC 8707/9068), answers 401
 * with `WWW-Authenticate: Bearer resource_metadata="…"`, serves its RFC 9728
 * metadata, and answers 403 `insufficient_scope` for the `admin` tool unless the
 * token carries `mcp:admin`. With `dpop`, it asks for DPoP-bound tokens (RFC
 * 9449): `Authorization: DPoP <token>` with a proof signed by the key the token
 * is bound to (`cnf.jkt`), for this request (`htm`, `htu`) and this token (`ath`).
 */
import { createHash } from "node:crypto"
import * as http from "node:http"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Effect, type Scope } from "effect"
import * as jose from "jose"
import * as Loopback from "./Loopback.ts"

export interface ProtectedMcpServerOptions {
  readonly issuer: () => string
  /** The `scope` of the 401 challenge (none when absent). */
  readonly challengeScope?: string
  readonly scopesSupported?: ReadonlyArray<string>
  /** Require DPoP-bound tokens (RFC 9449). */
  readonly dpop?: boolean
}

export interface ProtectedMcpServer {
  /** `http://127.0.0.1:<port>/mcp` */
  readonly url: string
  readonly resourceMetadataUrl: string
  /** Requests that carried a valid token. */
  accepted: number
  /** Requests refused with 401 or 403. */
  refused: number
  /** The `sub` and `scope` of the last valid token. */
  lastClaims: { readonly sub?: string; readonly scope?: string } | undefined
  /** Tokens refused with 401 although valid (as if revoked at the server). */
  readonly revokedTokens: Set<string>
  /** Awaited before the protected resource metadata is served (lets a test order requests). */
  holdMetadata: (() => Promise<void>) | undefined
}

const readBody = (req: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = ""
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => {
      text += chunk
    })
    req.on("end", () => resolve(text))
    req.on("error", reject)
  })

const makeMcp = () => {
  const mcp = new McpServer({ name: "protected-test-server", version: "1.0.0" })
  mcp.registerTool("whoami", { description: "Says who the token belongs to" }, async (extra) => ({
    content: [{ type: "text", text: `hello ${String(extra.authInfo?.extra?.sub ?? "nobody")}` }]
  }))
  mcp.registerTool("admin", { description: "Needs mcp:admin" }, async () => ({
    content: [{ type: "text", text: "admin ok" }]
  }))
  // A resource and a prompt that also say whose token read them.
  mcp.registerResource("me", "whoami://me", { mimeType: "text/plain" }, async (uri, extra) => ({
    contents: [{ uri: uri.href, text: `hello ${String(extra.authInfo?.extra?.sub ?? "nobody")}` }]
  }))
  mcp.registerPrompt("greet", { description: "Greets the token's owner" }, async (extra) => ({
    messages: [
      {
        role: "user",
        content: { type: "text", text: `greet ${String(extra.authInfo?.extra?.sub ?? "nobody")}` }
      }
    ]
  }))
  return mcp
}

export const start = (
  options: ProtectedMcpServerOptions
): Effect.Effect<ProtectedMcpServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const httpServer = http.createServer()
    const port = yield* Loopback.listen(httpServer)
    const origin = `http://127.0.0.1:${port}`
    const url = `${origin}/mcp`
    const resourceMetadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`
    const jwks = new Map<string, ReturnType<typeof jose.createRemoteJWKSet>>()
    const state: ProtectedMcpServer = {
      url,
      resourceMetadataUrl,
      accepted: 0,
      refused: 0,
      lastClaims: undefined,
      revokedTokens: new Set(),
      holdMetadata: undefined
    }

    const scheme = options.dpop === true ? "DPoP" : "Bearer"
    const challenge = (extra: string) =>
      [
        `${scheme} resource_metadata="${resourceMetadataUrl}"`,
        ...(options.challengeScope === undefined ? [] : [`scope="${options.challengeScope}"`]),
        ...(extra === "" ? [] : [extra])
      ].join(", ")

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const path = new URL(req.url ?? "/", origin).pathname
      if (path === "/.well-known/oauth-protected-resource/mcp") {
        if (state.holdMetadata !== undefined) await state.holdMetadata()
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            resource: url,
            authorization_servers: [options.issuer()],
            scopes_supported: options.scopesSupported ?? ["mcp:read", "mcp:write"],
            bearer_methods_supported: ["header"],
            ...(options.dpop === true
              ? { dpop_bound_access_tokens_required: true, dpop_signing_alg_values_supported: ["ES256"] }
              : {})
          })
        )
        return
      }
      if (path !== "/mcp") {
        res.writeHead(404).end()
        return
      }
      const body = req.method === "POST" ? await readBody(req) : ""
      const header = req.headers.authorization ?? ""
      const token = new RegExp(`^${scheme} (.+)$`, "i").exec(header)?.[1]
      if (token === undefined) {
        state.refused++
        res
          .writeHead(401, { "www-authenticate": challenge(""), "content-type": "application/json" })
          .end(JSON.stringify({ error: "invalid_token", error_description: "no access token" }))
        return
      }
      // Only the authorization server the metadata names now is trusted.
      const issuer = options.issuer()
      let keys = jwks.get(issuer)
      if (keys === undefined) {
        keys = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`))
        jwks.set(issuer, keys)
      }
      const verified = await jose.jwtVerify(token, keys, { issuer, audience: url }).catch(() => undefined)
      const bound = verified === undefined ? false : await proofBinds(req, origin, token, verified.payload)
      if (verified === undefined || !bound || state.revokedTokens.has(token)) {
        state.refused++
        res
          .writeHead(401, {
            "www-authenticate": challenge(
              'error="invalid_token", error_description="the token is not valid here"'
            ),
            "content-type": "application/json"
          })
          .end(JSON.stringify({ error: "invalid_token" }))
        return
      }
      const scopes = typeof verified.payload.scope === "string" ? verified.payload.scope.split(" ") : []
      const message =
        body === "" ? undefined : (JSON.parse(body) as { method?: string; params?: { name?: string } })
      if (
        message?.method === "tools/call" &&
        message.params?.name === "admin" &&
        !scopes.includes("mcp:admin")
      ) {
        state.refused++
        res
          .writeHead(403, {
            "www-authenticate": `Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="${resourceMetadataUrl}", error_description="the admin tool needs mcp:admin"`,
            "content-type": "application/json"
          })
          .end(JSON.stringify({ error: "insufficient_scope" }))
        return
      }
      state.accepted++
      state.lastClaims = {
        ...(typeof verified.payload.sub === "string" ? { sub: verified.payload.sub } : {}),
        ...(typeof verified.payload.scope === "string" ? { scope: verified.payload.scope } : {})
      }
      const mcp = makeMcp()
      const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
      res.on("close", () => {
        void transport.close()
        void mcp.close()
      })
      await mcp.connect(transport)
      Object.assign(req, {
        auth: {
          token,
          clientId: String(verified.payload.client_id ?? ""),
          scopes,
          extra: { sub: verified.payload.sub }
        }
      })
      await transport.handleRequest(req, res, message)
    }

    httpServer.on("request", (req, res) => {
      void handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" })
        res.end(String(error))
      })
    })
    return state
  })

/**
 * RFC 9449 §7: a token bound to a key (`cnf.jkt`) needs a proof made with that
 * key for this request and this token; an unbound token needs none.
 */
const proofBinds = async (
  req: http.IncomingMessage,
  origin: string,
  token: string,
  payload: jose.JWTPayload
): Promise<boolean> => {
  const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt
  const proof = req.headers.dpop
  if (jkt === undefined) return proof === undefined
  if (typeof proof !== "string") return false
  const checked = await jose
    .jwtVerify(proof, jose.EmbeddedJWK, { typ: "dpop+jwt", maxTokenAge: "5 minutes" })
    .catch(() => undefined)
  if (checked === undefined) return false
  const url = new URL(req.url ?? "/", origin)
  return (
    checked.payload.htm === req.method &&
    checked.payload.htu === `${url.origin}${url.pathname}` &&
    checked.payload.ath === createHash("sha256").update(token).digest("base64url") &&
    (await jose.calculateJwkThumbprint(checked.protectedHeader.jwk ?? {})) === jkt
  )
}

/**
 * Calls a tool with a bearer token (one JSON-RPC request, no session: the
 * server is stateless). Returns the HTTP status, the challenge, and the text.
 */
export const callTool = (
  url: string,
  authorization: string | undefined,
  tool: string,
  dpop?: string
): Effect.Effect<{
  readonly status: number
  readonly wwwAuthenticate: string | null
  readonly text?: string
}> =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        ...(authorization === undefined ? {} : { authorization }),
        ...(dpop === undefined ? {} : { dpop })
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: tool, arguments: {} }
      })
    })
    const wwwAuthenticate = response.headers.get("www-authenticate")
    if (response.status !== 200) {
      await response.body?.cancel()
      return { status: response.status, wwwAuthenticate }
    }
    const json = (await response.json()) as { result?: { content?: ReadonlyArray<{ text?: string }> } }
    const text = json.result?.content?.[0]?.text
    return { status: response.status, wwwAuthenticate, ...(text === undefined ? {} : { text }) }
  })
