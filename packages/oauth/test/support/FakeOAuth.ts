/**
 * A small hand-written MCP server + authorization server on one origin, whose
 * metadata and answers each test bends (wrong `iss`, wrong issuer, no PKCE, no
 * metadata at all, …) the way the MCP conformance suite does. It records what
 * the client asked for, so tests can prove a refusal happened before any
 * credential was sent.
 */
import { createHash, randomUUID } from "node:crypto"
import * as http from "node:http"
import { allIssuedTokens } from "@mcpgate/testing/AuthServer"
import * as Loopback from "@mcpgate/testing/Loopback"
import { Effect, type Scope } from "effect"
import * as jose from "jose"

export interface FakeOptions {
  /** Where the protected resource metadata is: path-inserted, root, a custom path, or nowhere. */
  readonly prm?: "path" | "root" | "none" | { readonly custom: string }
  /** Put `resource_metadata` in the 401 challenge (default true when there is a document). */
  readonly challengeMetadata?: boolean
  readonly challengeScope?: string
  /** `DPoP` instead of `Bearer` as the challenge scheme. */
  readonly challengeScheme?: string
  readonly prmResource?: string
  readonly prmScopes?: ReadonlyArray<string>
  /** The issuer's path (e.g. `/tenant1`), default none. */
  readonly issuerPath?: string
  /** Where the metadata document is served (a path), or none. Default: RFC 8414 path-inserted. */
  readonly metadataPath?: string | null
  readonly metadataIssuer?: string
  /** A path appended to the origin for the metadata's issuer (the issuer stays on this origin). */
  readonly metadataIssuerPath?: string
  readonly codeChallengeMethods?: ReadonlyArray<string> | null
  readonly issSupported?: boolean | null
  readonly issInRedirect?: "correct" | "wrong" | "omit" | "normalized"
  readonly stateInRedirect?: "correct" | "wrong"
  readonly scopesSupported?: ReadonlyArray<string>
  readonly tokenAuthMethods?: ReadonlyArray<string>
  readonly registration?: boolean
  readonly cimd?: boolean
  readonly dpopAlgs?: ReadonlyArray<string>
  /** Answer the first DPoP token request with `use_dpop_nonce`. */
  readonly dpopNonce?: string
  /** Replace endpoints in the metadata (e.g. a non-loopback http URL). */
  readonly endpoints?: Readonly<Record<string, string>>
  readonly grantTypes?: ReadonlyArray<string>
  /** The status of paths this server does not serve (default 404). */
  readonly unknownPathStatus?: number
  /** Offer a device authorization endpoint (RFC 8628) whose codes are approved at once. */
  readonly device?: boolean
}

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly query: Readonly<Record<string, string>>
  readonly body: Readonly<Record<string, string>>
  readonly headers: Readonly<Record<string, string | undefined>>
}

export interface FakeOAuth {
  readonly origin: string
  /** The MCP endpoint, `<origin>/mcp`. */
  readonly url: string
  readonly issuer: string
  readonly requests: Array<RecordedRequest>
  readonly paths: () => ReadonlyArray<string>
  readonly find: (path: string) => ReadonlyArray<RecordedRequest>
  /** When set, the authorization server metadata is answered with this status (an outage). */
  metadataStatus: number | undefined
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

const json = (
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
) => {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body))
}

export const start = (options: FakeOptions = {}): Effect.Effect<FakeOAuth, never, Scope.Scope> =>
  Effect.gen(function* () {
    const httpServer = http.createServer()
    const port = yield* Loopback.listen(httpServer)
    const origin = `http://127.0.0.1:${port}`
    const issuerPath = options.issuerPath ?? ""
    const issuer = `${origin}${issuerPath}`
    const prm = options.prm ?? "path"
    const prmPath =
      prm === "path"
        ? "/.well-known/oauth-protected-resource/mcp"
        : prm === "root"
          ? "/.well-known/oauth-protected-resource"
          : prm === "none"
            ? undefined
            : prm.custom
    const metadataPath =
      options.metadataPath === undefined
        ? `/.well-known/oauth-authorization-server${issuerPath}`
        : options.metadataPath
    const requests: Array<RecordedRequest> = []
    let nonceChallenged = false
    const codeChallenges = new Map<string, string>()

    const metadata = () => ({
      issuer:
        options.metadataIssuer ??
        (options.metadataIssuerPath === undefined ? issuer : `${origin}${options.metadataIssuerPath}`),
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      ...(options.registration === false ? {} : { registration_endpoint: `${issuer}/register` }),
      revocation_endpoint: `${issuer}/revoke`,
      response_types_supported: ["code"],
      grant_types_supported: options.grantTypes ?? ["authorization_code", "refresh_token"],
      token_endpoint_auth_methods_supported: options.tokenAuthMethods ?? ["none"],
      ...(options.codeChallengeMethods === null
        ? {}
        : { code_challenge_methods_supported: options.codeChallengeMethods ?? ["S256"] }),
      ...(options.issSupported === null
        ? {}
        : { authorization_response_iss_parameter_supported: options.issSupported ?? true }),
      ...(options.scopesSupported === undefined ? {} : { scopes_supported: options.scopesSupported }),
      ...(options.cimd === undefined ? {} : { client_id_metadata_document_supported: options.cimd }),
      ...(options.dpopAlgs === undefined ? {} : { dpop_signing_alg_values_supported: options.dpopAlgs }),
      ...(options.device === true ? { device_authorization_endpoint: `${issuer}/device` } : {}),
      ...options.endpoints
    })

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = new URL(req.url ?? "/", origin)
      const text = req.method === "POST" ? await readBody(req) : ""
      const body =
        (req.headers["content-type"] ?? "").includes("json") && text !== ""
          ? (JSON.parse(text) as Record<string, string>)
          : Object.fromEntries(new URLSearchParams(text))
      const headers: Record<string, string | undefined> = {
        authorization: req.headers.authorization,
        dpop: typeof req.headers.dpop === "string" ? req.headers.dpop : undefined
      }
      requests.push({
        method: req.method ?? "GET",
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body,
        headers
      })
      const path = url.pathname
      if (path === "/mcp") {
        const scheme = options.challengeScheme ?? "Bearer"
        const parts = [
          ...(prmPath !== undefined && options.challengeMetadata !== false
            ? [`resource_metadata="${origin}${prmPath}"`]
            : []),
          ...(options.challengeScope === undefined ? [] : [`scope="${options.challengeScope}"`])
        ]
        res
          .writeHead(401, {
            "www-authenticate": parts.length === 0 ? scheme : `${scheme} ${parts.join(", ")}`
          })
          .end()
        return
      }
      if (prmPath !== undefined && path === prmPath) {
        json(res, 200, {
          resource: options.prmResource ?? (prm === "root" ? origin : `${origin}/mcp`),
          authorization_servers: [issuer],
          ...(options.prmScopes === undefined ? {} : { scopes_supported: options.prmScopes })
        })
        return
      }
      if (metadataPath !== null && path === metadataPath) {
        if (fake.metadataStatus !== undefined) {
          json(res, fake.metadataStatus, { error: "temporarily_unavailable" })
          return
        }
        json(res, 200, metadata())
        return
      }
      if (path === `${issuerPath}/authorize`) {
        const redirect = new URL(url.searchParams.get("redirect_uri") ?? "")
        const code = `code-${randomUUID()}`
        codeChallenges.set(code, url.searchParams.get("code_challenge") ?? "")
        redirect.searchParams.set("code", code)
        const state = url.searchParams.get("state") ?? ""
        redirect.searchParams.set("state", options.stateInRedirect === "wrong" ? `${state}x` : state)
        const iss = options.issInRedirect ?? "correct"
        if (iss === "correct") redirect.searchParams.set("iss", metadata().issuer)
        if (iss === "wrong") redirect.searchParams.set("iss", "https://evil.example.com")
        if (iss === "normalized") redirect.searchParams.set("iss", `${metadata().issuer}/`)
        res.writeHead(302, { location: redirect.href }).end()
        return
      }
      if (options.device === true && path === `${issuerPath}/device`) {
        json(res, 200, {
          device_code: `device-${randomUUID()}`,
          user_code: "ABCD-EFGH",
          verification_uri: `${issuer}/activate`,
          expires_in: 600,
          interval: 1
        })
        return
      }
      if (path === `${issuerPath}/register`) {
        const method = body.token_endpoint_auth_method ?? "client_secret_basic"
        json(res, 201, {
          client_id: `client-${randomUUID()}`,
          ...(method === "none" ? {} : { client_secret: `secret-${randomUUID()}` }),
          redirect_uris: body.redirect_uris ?? [],
          token_endpoint_auth_method: method
        })
        return
      }
      if (path === `${issuerPath}/token`) {
        if (body.grant_type === "urn:ietf:params:oauth:grant-type:token-exchange") {
          const issued = `fake-jag-${randomUUID()}`
          allIssuedTokens.add(issued)
          json(res, 200, {
            access_token: issued,
            issued_token_type: "urn:ietf:params:oauth:token-type:id-jag",
            token_type: "N_A",
            expires_in: 300
          })
          return
        }
        if (body.grant_type === "authorization_code") {
          const expected = codeChallenges.get(body.code ?? "")
          const actual = createHash("sha256")
            .update(body.code_verifier ?? "")
            .digest("base64url")
          if (expected !== actual) {
            json(res, 400, { error: "invalid_grant", error_description: "PKCE verification failed" })
            return
          }
        }
        const proof = headers.dpop
        if (options.dpopAlgs !== undefined && proof !== undefined) {
          const claims = jose.decodeJwt(proof)
          if (options.dpopNonce !== undefined && !nonceChallenged) {
            nonceChallenged = true
            json(
              res,
              400,
              { error: "use_dpop_nonce", error_description: "use the nonce" },
              { "dpop-nonce": options.dpopNonce }
            )
            return
          }
          if (options.dpopNonce !== undefined && claims.nonce !== options.dpopNonce) {
            json(res, 400, { error: "invalid_dpop_proof" })
            return
          }
        }
        const accessToken = `fake-at-${randomUUID()}`
        const refreshToken = `fake-rt-${randomUUID()}`
        allIssuedTokens.add(accessToken)
        allIssuedTokens.add(refreshToken)
        json(res, 200, {
          access_token: accessToken,
          token_type: proof !== undefined && options.dpopAlgs !== undefined ? "DPoP" : "Bearer",
          expires_in: 3600,
          refresh_token: refreshToken,
          ...(body.scope === undefined ? {} : { scope: body.scope })
        })
        return
      }
      if (path === `${issuerPath}/revoke`) {
        res.writeHead(200).end()
        return
      }
      res.writeHead(options.unknownPathStatus ?? 404).end()
    }

    httpServer.on("request", (req, res) => {
      void handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500)
        res.end(String(error))
      })
    })

    const fake: FakeOAuth = {
      origin,
      url: `${origin}/mcp`,
      issuer,
      requests,
      paths: () => requests.map((request) => request.path),
      find: (path) => requests.filter((request) => request.path === path),
      metadataStatus: undefined
    }
    return fake
  })
