/**
 * A real authorization server for the tests: oidc-provider 9 on 127.0.0.1
 * (random port) with dynamic client registration, PKCE required, rotating
 * refresh tokens with reuse detection, resource indicators (JWT access tokens
 * whose `aud` is the MCP server), revocation, device flow and client
 * credentials. Logins need no person: `/interaction/<uid>` signs the test user
 * in and consents to whatever was asked, with redirects only, so a client that
 * just follows redirects completes the flow.
 *
 * Every token endpoint request is recorded (grant type, status) and every
 * token string it hands out is collected, so tests can count refreshes and
 * check that no token leaks into logs or errors.
 */
import { createHash } from "node:crypto"
import * as http from "node:http"
import { Effect, type Scope } from "effect"
import * as jose from "jose"
import Provider, { type KoaContext } from "oidc-provider"
import * as Loopback from "./Loopback.ts"

export interface TokenRequest {
  readonly grantType: string
  readonly status: number
  readonly error?: string
  readonly clientId?: string
  readonly resource?: string
  readonly scope?: string
  /** The `aud` of a `client_assertion` (private_key_jwt), when there was one. */
  readonly assertionAudience?: unknown
  /** When it was answered (`Date.now()`). */
  readonly at?: number | undefined
  /** A fingerprint (SHA-256, 16 hex digits) of the refresh token presented, for a refresh grant. */
  readonly presented?: string | undefined
  /** A fingerprint of the refresh token issued, when one was. */
  readonly issued?: string | undefined
}

/** A fingerprint of a token that tests may keep and compare without holding the token. */
export const fingerprint = (token: string): string =>
  createHash("sha256").update(token).digest("hex").slice(0, 16)

export interface AuthServerOptions {
  /** The resource indicator the server accepts (the MCP server URL); a function when it is known later. */
  readonly resource: () => string
  /** Seconds; default 3600. */
  readonly accessTokenTtl?: number
  /** Scopes the resource offers (default `mcp:read mcp:write mcp:admin`). */
  readonly resourceScopes?: string
  /** Static clients (e.g. for client credentials). */
  readonly clients?: ReadonlyArray<Record<string, unknown>>
  /** Accepts resource indicators other than `resource()` (a gateway with several resources). */
  readonly acceptsResource?: (indicator: string) => boolean
  /** Extra claims of an account (or a machine client), in its ID token, userinfo and JWT access tokens. */
  readonly claims?: (accountId: string) => Record<string, unknown>
  /** Claims of `claims` that the `openid` scope carries into ID tokens (e.g. `groups` for `adminClaim`). */
  readonly idTokenClaims?: ReadonlyArray<string>
  /** Scopes the provider itself lists (clients may register with them), beside `openid` and `offline_access`. */
  readonly providerScopes?: ReadonlyArray<string>
  /** Resources whose access tokens are opaque (checked by RFC 7662 introspection) instead of JWTs. */
  readonly opaqueFor?: (indicator: string) => boolean
}

export interface AuthServer {
  readonly issuer: string
  readonly tokenRequests: Array<TokenRequest>
  /** Every access, refresh and ID token the server issued. */
  readonly issuedTokens: Set<string>
  readonly revocations: Array<{ readonly status: number }>
  readonly registrations: Array<{ readonly clientId: string }>
  /** Forget every dynamically registered client (as if the server's database was reset). */
  readonly forgetClients: () => void
  /** Deny the next logins at the interaction step. */
  denyLogins: boolean
  /** Who signs in at the next logins (default `test-user`). */
  account: string
  /** Answer every token request with 503 before processing it (the server is down). */
  unavailable: boolean
  /** Hold every token request this long before processing it (a slow server widens races). */
  tokenDelayMillis: number
  /**
   * Awaited before each request is processed, with its path and the client's
   * port (lets a test order requests from several clients, or never answer one).
   */
  hold: ((path: string, remotePort: number) => Promise<void>) | undefined
  /** Rewrite the next token responses: return a body and status to replace the real answer. */
  rewriteToken:
    | ((request: TokenRequest) => { readonly status: number; readonly body: unknown } | undefined)
    | undefined
  readonly countGrants: (grantType: string) => number
}

type Payload = Record<string, unknown>

/** Every token any test authorization server of this process issued (for the leak checks). */
export const allIssuedTokens = new Set<string>()

/** A Map-backed adapter (oidc-provider's adapter interface) with one store per server instance. */
const makeAdapter = (store: Map<string, { payload: Payload; expiresAt: number }>) => {
  const get = (key: string) => {
    const entry = store.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      store.delete(key)
      return undefined
    }
    return entry.payload
  }
  const grantKey = (grantId: string) => `grant:${grantId}`
  return class MemoryAdapter {
    readonly model: string
    constructor(model: string) {
      this.model = model
    }
    key(id: string) {
      return `${this.model}:${id}`
    }
    async upsert(id: string, payload: Payload, expiresIn?: number) {
      const key = this.key(id)
      const expiresAt =
        typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY
      store.set(key, { payload, expiresAt })
      if (typeof payload.grantId === "string") {
        const members = (get(grantKey(payload.grantId))?.members as Array<string> | undefined) ?? []
        store.set(grantKey(payload.grantId), {
          payload: { members: [...members, key] },
          expiresAt: Number.POSITIVE_INFINITY
        })
      }
      if (typeof payload.userCode === "string") {
        store.set(`userCode:${payload.userCode}`, { payload: { id }, expiresAt })
      }
      if (typeof payload.uid === "string" && this.model === "Session") {
        store.set(`sessionUid:${payload.uid}`, { payload: { id }, expiresAt })
      }
    }
    async find(id: string) {
      return get(this.key(id))
    }
    async findByUserCode(userCode: string) {
      const ref = get(`userCode:${userCode}`)
      return typeof ref?.id === "string" ? get(this.key(ref.id)) : undefined
    }
    async findByUid(uid: string) {
      const ref = get(`sessionUid:${uid}`)
      return typeof ref?.id === "string" ? get(this.key(ref.id)) : undefined
    }
    async consume(id: string) {
      const payload = get(this.key(id))
      if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000)
    }
    async destroy(id: string) {
      store.delete(this.key(id))
    }
    async revokeByGrantId(grantId: string) {
      const members = (get(grantKey(grantId))?.members as Array<string> | undefined) ?? []
      for (const key of members) store.delete(key)
      store.delete(grantKey(grantId))
    }
  }
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

export const start = (options: AuthServerOptions): Effect.Effect<AuthServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const httpServer = http.createServer()
    const port = yield* Loopback.listen(httpServer)
    const issuer = `http://127.0.0.1:${port}`
    const signingKey = yield* Effect.promise(async () => {
      const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true })
      return { ...(await jose.exportJWK(privateKey)), alg: "RS256", use: "sig", kid: "test-key" }
    })
    const store = new Map<string, { payload: Payload; expiresAt: number }>()
    const resourceScopes = options.resourceScopes ?? "mcp:read mcp:write mcp:admin"

    const provider = new Provider(issuer, {
      adapter: makeAdapter(store),
      clients: options.clients ?? [],
      jwks: { keys: [signingKey] },
      claims: { openid: ["sub", ...(options.idTokenClaims ?? [])] },
      findAccount: async (_ctx: unknown, sub: string) => ({
        accountId: sub,
        claims: async () => ({ ...options.claims?.(sub), sub })
      }),
      extraTokenClaims: async (_ctx: unknown, token: { accountId?: string; clientId?: string }) => {
        const subject = token.accountId ?? token.clientId
        return subject === undefined ? undefined : options.claims?.(subject)
      },
      scopes: ["openid", "offline_access", ...(options.providerScopes ?? [])],
      pkce: { required: () => true },
      rotateRefreshToken: true,
      // Refresh tokens whenever the client may use them (not only with offline_access).
      issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(grant: string): boolean }) =>
        client.grantTypeAllowed("refresh_token"),
      interactions: {
        url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`
      },
      ttl: {
        AccessToken: options.accessTokenTtl ?? 3600,
        ClientCredentials: options.accessTokenTtl ?? 3600,
        AuthorizationCode: 60,
        DeviceCode: 600,
        Grant: 86_400,
        IdToken: 3600,
        Interaction: 600,
        RefreshToken: 86_400,
        Session: 86_400
      },
      features: {
        devInteractions: { enabled: false },
        registration: { enabled: true, initialAccessToken: false },
        revocation: { enabled: true, allowedPolicy: async () => true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        deviceFlow: {
          enabled: true,
          userCodeInputSource: async (ctx: KoaContext, form: string) => {
            ctx.body = `<!doctype html><html><body>${form}</body></html>`
          },
          userCodeConfirmSource: async (ctx: KoaContext, form: string) => {
            ctx.body = `<!doctype html><html><body>${form}</body></html>`
          },
          successSource: async (ctx: KoaContext) => {
            ctx.body = "<!doctype html><html><body>Sign-in success</body></html>"
          }
        },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => options.resource(),
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
            const accepted = indicator === options.resource() || options.acceptsResource?.(indicator) === true
            if (!accepted) throw new Error(`unknown resource ${indicator}`)
            return {
              scope: resourceScopes,
              audience: indicator,
              accessTokenTTL: options.accessTokenTtl ?? 3600,
              accessTokenFormat: options.opaqueFor?.(indicator) === true ? "opaque" : "jwt",
              jwt: { sign: { alg: "RS256" } }
            }
          }
        }
      }
    })

    const server: AuthServer = {
      issuer,
      tokenRequests: [],
      issuedTokens: new Set(),
      revocations: [],
      registrations: [],
      forgetClients: () => {
        for (const key of [...store.keys()]) if (key.startsWith("Client:")) store.delete(key)
      },
      denyLogins: false,
      account: "test-user",
      unavailable: false,
      tokenDelayMillis: 0,
      hold: undefined,
      rewriteToken: undefined,
      countGrants: (grantType) =>
        server.tokenRequests.filter((request) => request.grantType === grantType).length
    }

    provider.use(async (ctx: KoaContext, next) => {
      if (server.hold !== undefined) await server.hold(ctx.path, ctx.req.socket.remotePort ?? 0)
      if (server.unavailable && ctx.path === "/token") {
        server.tokenRequests.push({ grantType: "", status: 503 })
        ctx.status = 503
        ctx.body = { error: "temporarily_unavailable", error_description: "down for the test" }
        return
      }
      if (server.tokenDelayMillis > 0 && ctx.path === "/token") {
        await new Promise((resolve) => setTimeout(resolve, server.tokenDelayMillis))
      }
      await next()
      if (ctx.method !== "POST") return
      if (ctx.path === "/token") {
        const params = ctx.oidc?.params ?? {}
        const body = (ctx.body ?? {}) as Record<string, unknown>
        const request: TokenRequest = {
          grantType: String(params.grant_type ?? ""),
          status: ctx.status,
          ...(typeof body.error === "string" ? { error: body.error } : {}),
          ...(typeof params.client_id === "string" ? { clientId: params.client_id } : {}),
          ...(typeof params.resource === "string" ? { resource: params.resource } : {}),
          ...(typeof params.scope === "string" ? { scope: params.scope } : {}),
          ...(typeof params.client_assertion === "string"
            ? { assertionAudience: jose.decodeJwt(params.client_assertion).aud }
            : {}),
          at: Date.now(),
          ...(typeof params.refresh_token === "string"
            ? { presented: fingerprint(params.refresh_token) }
            : {}),
          ...(typeof body.refresh_token === "string" ? { issued: fingerprint(body.refresh_token) } : {})
        }
        const rewrite = server.rewriteToken?.(request)
        if (rewrite !== undefined) {
          ctx.status = rewrite.status
          ctx.body = rewrite.body
          const error = (rewrite.body as { error?: unknown }).error
          server.tokenRequests.push({
            ...request,
            status: rewrite.status,
            ...(typeof error === "string" ? { error } : {})
          })
          return
        }
        server.tokenRequests.push(request)
        for (const field of ["access_token", "refresh_token", "id_token"]) {
          const value = body[field]
          if (typeof value === "string") {
            server.issuedTokens.add(value)
            allIssuedTokens.add(value)
          }
        }
      } else if (ctx.path === "/token/revocation") {
        server.revocations.push({ status: ctx.status })
      } else if (ctx.path === "/reg" && ctx.status === 201) {
        const body = (ctx.body ?? {}) as Record<string, unknown>
        if (typeof body.client_id === "string") server.registrations.push({ clientId: body.client_id })
      }
    })

    const callback = provider.callback()
    httpServer.on("request", (req, res) => {
      const url = new URL(req.url ?? "/", issuer)
      if (url.pathname.startsWith("/interaction/")) {
        void interact(req, res).catch((error: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" }).end(String(error))
        })
        return
      }
      callback(req, res)
    })

    const interact = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.method === "POST") await readBody(req)
      const details = await provider.interactionDetails(req, res)
      if (server.denyLogins) {
        await provider.interactionFinished(req, res, {
          error: "access_denied",
          error_description: "the test user said no"
        })
        return
      }
      if (details.prompt.name === "login") {
        await provider.interactionFinished(req, res, { login: { accountId: server.account } })
        return
      }
      const accountId = details.session?.accountId ?? server.account
      const grant =
        (details.grantId === undefined ? undefined : await provider.Grant.find(details.grantId)) ??
        new provider.Grant({ accountId, clientId: details.params.client_id })
      const missing = details.prompt.details
      if (missing.missingOIDCScope !== undefined) grant.addOIDCScope(missing.missingOIDCScope.join(" "))
      if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims)
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(" "))
      }
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } })
    }

    return server
  })
