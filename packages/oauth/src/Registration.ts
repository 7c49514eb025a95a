/**
 * The OAuth client mcpgate is at an authorization server (MCP authorization
 * 2025-11-25 "Client Registration Approaches"), in the spec's priority:
 *
 * 1. pre-registered: `auth.clientId` (and `clientSecret` / `privateKey`);
 * 2. a Client ID Metadata Document: `auth.clientMetadataUrl` used as the
 *    `client_id` when the server advertises `client_id_metadata_document_supported`;
 * 3. Dynamic Client Registration (RFC 7591).
 *
 * A registration is stored with the credential and reused while it fits (same
 * issuer, the redirect URI in use is registered). A registration the server has
 * forgotten is replaced by `register` (the manager does that on `invalid_client`).
 */
import * as fs from "node:fs/promises"
import type { ServerConfig } from "@mcpgate/core/Config"
import { ClientRegistration } from "@mcpgate/core/Credential"
import { Clock, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as jose from "jose"
import * as oauth from "oauth4webapi"
import { type AuthorizationServerInfo, authOf } from "./Discovery.ts"
import { OAuthError } from "./Errors.ts"
import { checkEndpoint, clip, isLoopbackUrl, request } from "./internal/Http.ts"

export const grantTypes = {
  authorizationCode: "authorization_code",
  refreshToken: "refresh_token",
  deviceCode: "urn:ietf:params:oauth:grant-type:device_code",
  clientCredentials: "client_credentials",
  jwtBearer: "urn:ietf:params:oauth:grant-type:jwt-bearer",
  tokenExchange: "urn:ietf:params:oauth:grant-type:token-exchange"
} as const

export interface ResolveOptions {
  readonly server: ServerConfig
  readonly authorizationServer: AuthorizationServerInfo
  /** The redirect URI the code flow will use; absent for flows without a browser. */
  readonly redirectUri?: string
  /** The grants the flow needs (`refresh_token` is always asked for with a user grant). */
  readonly grantTypes: ReadonlyArray<string>
  /** The stored registration, only when it belongs to this authorization server. */
  readonly existing?: ClientRegistration
}

/** An oauth4webapi client and its token endpoint authentication. */
export interface ClientSession {
  readonly client: oauth.Client
  readonly auth: oauth.ClientAuth
}

export interface RegistrationShape {
  /** The registration to use: pre-registered, else the stored one if it fits, else CIMD, else DCR. */
  readonly resolve: (options: ResolveOptions) => Effect.Effect<ClientRegistration, OAuthError>
  /** Always a new Dynamic Client Registration (RFC 7591 §3). */
  readonly register: (options: ResolveOptions) => Effect.Effect<ClientRegistration, OAuthError>
  /** The oauth4webapi client and authentication (RFC 6749 §2.3, RFC 7523 §2.2) for a registration. */
  readonly session: (
    server: ServerConfig,
    registration: ClientRegistration
  ) => Effect.Effect<ClientSession, OAuthError>
  /**
   * Whether the authorization server still knows a stored client, asked before
   * a browser is sent there with it (for an unknown client the server shows an
   * error page, RFC 6749 §4.1.2.1, and the login would wait for a callback that
   * never comes). A refresh request with a made-up refresh token: refused with
   * `invalid_client` for an unknown client and with another error
   * (`invalid_grant`) for a known one (RFC 6749 §5.2). Anything unclear
   * (network, other answers) counts as known.
   */
  readonly stillKnown: (
    server: ServerConfig,
    authorizationServer: AuthorizationServerInfo,
    registration: ClientRegistration
  ) => Effect.Effect<boolean>
}

// ---------------------------------------------------------------------------
// Choices
// ---------------------------------------------------------------------------

/**
 * The `token_endpoint_auth_method` to ask for: `none` (a public client using
 * PKCE) when offered and a user is involved, else `client_secret_basic`, else
 * `client_secret_post`. RFC 8414 §2: an absent list means `client_secret_basic`.
 */
export const chooseAuthMethod = (
  supported: ReadonlyArray<string> | undefined,
  publicAllowed: boolean
): string => {
  const offered = supported ?? ["client_secret_basic"]
  if (publicAllowed && offered.includes("none")) return "none"
  if (offered.includes("client_secret_basic")) return "client_secret_basic"
  if (offered.includes("client_secret_post")) return "client_secret_post"
  return publicAllowed ? "none" : "client_secret_basic"
}

/** The method for a pre-registered client: its key, its secret, or none. */
const preRegisteredMethod = (server: ServerConfig, supported: ReadonlyArray<string> | undefined): string => {
  const auth = authOf(server)
  if (auth.privateKey !== undefined) return "private_key_jwt"
  if (auth.clientSecret === undefined) return "none"
  const offered = supported ?? ["client_secret_basic"]
  return !offered.includes("client_secret_basic") && offered.includes("client_secret_post")
    ? "client_secret_post"
    : "client_secret_basic"
}

/** A stored registration still serves when it has the redirect URI the flow will use. */
export const fits = (registration: ClientRegistration, redirectUri: string | undefined): boolean =>
  redirectUri === undefined || registration.redirectUris.includes(redirectUri)

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-urlencoded, then
 * Base64. oauth4webapi also percent-encodes characters such as `-`, which is
 * legal but trips servers that compare the decoded header byte for byte; the
 * WHATWG form encoding leaves them alone.
 */
export const clientSecretBasic =
  (secret: string): oauth.ClientAuth =>
  (_as, client, _body, headers) => {
    const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
    const credentials = Buffer.from(`${encode(client.client_id)}:${encode(secret)}`).toString("base64")
    headers.set("authorization", `Basic ${credentials}`)
  }

/**
 * `private_key_jwt` (RFC 7523 §2.2): iss = sub = client_id, and aud = both the
 * issuer and the token endpoint. RFC 7523 §3 names the token endpoint (Entra
 * ID and Okta require it), newer guidance and the MCP conformance suite the
 * issuer; a JWT audience may be a list, and servers accept any member.
 */
const privateKeyJwt =
  (key: oauth.CryptoKey): oauth.ClientAuth =>
  (as, client, body, headers) =>
    oauth.PrivateKeyJwt(key, {
      [oauth.modifyAssertion]: (_header, payload) => {
        const tokenEndpoint = as.token_endpoint
        payload.aud =
          tokenEndpoint === undefined || tokenEndpoint === as.issuer ? as.issuer : [as.issuer, tokenEndpoint]
      }
    })(as, client, body, headers)

/**
 * `privateKey` is PEM text, or the path of a PEM file. The value is never put
 * in an error: a key pasted without its PEM armour would be echoed.
 */
const readPrivateKey = (server: ServerConfig, value: string): Effect.Effect<string, OAuthError> =>
  value.includes("-----BEGIN")
    ? Effect.succeed(value)
    : Effect.tryPromise({
        try: () => fs.readFile(value, "utf8"),
        catch: (error) => {
          const code =
            typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
          return OAuthError.of(
            server.name,
            "configuration",
            `auth.privateKey is neither PEM text (-----BEGIN PRIVATE KEY-----) nor the path of a readable file${/^E[A-Z]+$/.test(code) ? ` (${code})` : ""}`
          )
        }
      })

/** RFC 7591 §3.2.1 (the members mcpgate keeps; the others are ignored). */
const RegistrationResponse = Schema.Struct({
  client_id: Schema.String,
  client_secret: Schema.optionalKey(Schema.String),
  client_secret_expires_at: Schema.optionalKey(Schema.Number),
  redirect_uris: Schema.optionalKey(Schema.Array(Schema.String)),
  token_endpoint_auth_method: Schema.optionalKey(Schema.String)
})

const RegistrationError = Schema.Struct({
  error: Schema.String,
  error_description: Schema.optionalKey(Schema.String)
})

/**
 * Reads a registration response. Deliberately lenient where servers commonly
 * deviate without harm (a 200 instead of 201, a secret without
 * `client_secret_expires_at`): only a `client_id` is required.
 */
const readRegistrationResponse = (
  server: string,
  endpoint: string,
  response: Response
): Effect.Effect<typeof RegistrationResponse.Type, OAuthError> =>
  Effect.gen(function* () {
    const body = yield* Effect.tryPromise({
      try: () => response.json() as Promise<unknown>,
      catch: () => undefined
    }).pipe(Effect.orElseSucceed(() => undefined))
    if (response.status === 200 || response.status === 201) {
      const decoded = Schema.decodeUnknownOption(RegistrationResponse)(body)
      if (Option.isSome(decoded)) return decoded.value
      return yield* OAuthError.of(
        server,
        "registration",
        `registering at ${endpoint} failed: the answer has no client_id (RFC 7591 §3.2.1)`
      )
    }
    const error = Schema.decodeUnknownOption(RegistrationError)(body)
    const detail = Option.match(error, {
      onNone: () => "",
      onSome: (value) =>
        ` ${value.error}${value.error_description === undefined ? "" : `: ${clip(value.error_description)}`}`
    })
    return yield* OAuthError.of(
      server,
      "registration",
      `registering at ${endpoint} failed: HTTP ${response.status}${detail}`,
      {
        retryable: response.status >= 500,
        status: response.status,
        ...(Option.isSome(error) ? { oauthError: error.value.error } : {})
      }
    )
  })

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

export const make = Effect.sync((): RegistrationShape => {
  const keys = new Map<string, oauth.CryptoKey>()

  const register = Effect.fn("Registration.register")(function* (options: ResolveOptions) {
    const { server, authorizationServer } = options
    const as = authorizationServer.metadata
    const endpoint = as.registration_endpoint
    if (endpoint === undefined) {
      return yield* OAuthError.of(
        server.name,
        "registration",
        `the authorization server ${authorizationServer.issuer} offers no dynamic client registration${as.client_id_metadata_document_supported === true ? "" : " and no client ID metadata documents"}; configure a pre-registered client with auth.clientId (and auth.clientSecret)`
      )
    }
    yield* checkEndpoint(server.name, endpoint, "registration endpoint", authOf(server).allowHttp)
    const withUser =
      options.grantTypes.includes(grantTypes.authorizationCode) ||
      options.grantTypes.includes(grantTypes.deviceCode)
    const requested = chooseAuthMethod(as.token_endpoint_auth_methods_supported, withUser)
    const redirectUris = options.redirectUri === undefined ? [] : [options.redirectUri]
    // RFC 7591 §2 metadata; `refresh_token` with every user grant (SEP-2207), `native`
    // for loopback redirects (RFC 8252 §8.4, OpenID Registration `application_type`).
    const metadata = {
      client_name: "mcpgate",
      redirect_uris: redirectUris,
      grant_types: withUser
        ? [...new Set([...options.grantTypes, grantTypes.refreshToken])]
        : [...options.grantTypes],
      response_types: options.grantTypes.includes(grantTypes.authorizationCode) ? ["code"] : [],
      token_endpoint_auth_method: requested,
      application_type: redirectUris.every((uri) => isLoopbackUrl(uri)) ? "native" : "web"
    }
    const response = yield* request(server.name, "registration", `registering at ${endpoint}`, (http) =>
      oauth.dynamicClientRegistrationRequest(as, metadata, http)
    )
    const client = yield* readRegistrationResponse(server.name, endpoint, response)
    const secret = client.client_secret
    const registered = client.token_endpoint_auth_method ?? requested
    // A secret with no method named means the server's default, client_secret_basic (RFC 7591 §2),
    // unless we asked to be public: then the secret is not needed.
    const method =
      secret !== undefined && registered === "none" && requested !== "none" ? requested : registered
    const expiresAt =
      client.client_secret_expires_at === undefined ? undefined : client.client_secret_expires_at * 1000
    const now = yield* Clock.currentTimeMillis
    yield* Effect.logInfo(
      `${server.name}: registered the client ${client.client_id} at ${authorizationServer.issuer}`
    )
    return new ClientRegistration({
      method: "dcr",
      clientId: client.client_id,
      ...(secret === undefined || method === "none" ? {} : { clientSecret: Redacted.make(secret) }),
      ...(expiresAt === undefined ? {} : { clientSecretExpiresAt: expiresAt }),
      redirectUris: client.redirect_uris ?? redirectUris,
      tokenEndpointAuthMethod: method,
      registeredAt: now
    })
  })

  const resolve = Effect.fn("Registration.resolve")(function* (options: ResolveOptions) {
    const { server, authorizationServer, existing } = options
    const auth = authOf(server)
    const as = authorizationServer.metadata
    const redirectUris = options.redirectUri === undefined ? [] : [options.redirectUri]
    const now = yield* Clock.currentTimeMillis
    if (auth.clientId !== undefined) {
      return new ClientRegistration({
        method: "pre-registered",
        clientId: auth.clientId,
        ...(auth.clientSecret === undefined ? {} : { clientSecret: Redacted.make(auth.clientSecret) }),
        redirectUris,
        tokenEndpointAuthMethod: preRegisteredMethod(server, as.token_endpoint_auth_methods_supported),
        registeredAt: existing?.method === "pre-registered" ? (existing.registeredAt ?? now) : now
      })
    }
    const cimd = auth.clientMetadataUrl !== undefined && as.client_id_metadata_document_supported === true
    if (
      existing !== undefined &&
      existing.method !== "pre-registered" &&
      fits(existing, options.redirectUri)
    ) {
      const secretExpired =
        existing.clientSecretExpiresAt !== undefined &&
        existing.clientSecretExpiresAt !== 0 &&
        existing.clientSecretExpiresAt <= now
      const stillCimd = existing.method !== "cimd" || (cimd && existing.clientId === auth.clientMetadataUrl)
      if (!secretExpired && stillCimd && (existing.method === "cimd" || !cimd)) return existing
    }
    if (cimd && auth.clientMetadataUrl !== undefined) {
      // The document at this URL is the registration; it must list our redirect URI.
      return new ClientRegistration({
        method: "cimd",
        clientId: auth.clientMetadataUrl,
        redirectUris,
        tokenEndpointAuthMethod: "none",
        registeredAt: now
      })
    }
    return yield* register(options)
  })

  const session = Effect.fn("Registration.session")(function* (
    server: ServerConfig,
    registration: ClientRegistration
  ) {
    const auth = authOf(server)
    const client: oauth.Client = { client_id: registration.clientId }
    const method =
      registration.tokenEndpointAuthMethod ??
      (registration.clientSecret === undefined ? "none" : "client_secret_basic")
    // A pre-registered client's secret is the config's (it may have been rotated since
    // the credential stored a copy); a dynamic client's is the one it was registered with.
    const configured =
      registration.method === "pre-registered" && auth.clientId === registration.clientId
        ? auth.clientSecret
        : undefined
    const secret =
      configured ??
      (registration.clientSecret === undefined ? undefined : Redacted.value(registration.clientSecret))
    switch (method) {
      case "none":
        return { client, auth: oauth.None() }
      case "client_secret_basic":
      case "client_secret_post": {
        if (secret === undefined) {
          return yield* OAuthError.of(
            server.name,
            "configuration",
            `the client ${registration.clientId} authenticates with ${method} but has no secret; set auth.clientSecret`
          )
        }
        return {
          client,
          auth: method === "client_secret_basic" ? clientSecretBasic(secret) : oauth.ClientSecretPost(secret)
        }
      }
      case "private_key_jwt": {
        if (auth.privateKey === undefined) {
          return yield* OAuthError.of(
            server.name,
            "configuration",
            `the client ${registration.clientId} authenticates with private_key_jwt but auth.privateKey is not set`
          )
        }
        const cacheKey = `${server.name}|${auth.signingAlgorithm}|${auth.privateKey}`
        let key = keys.get(cacheKey)
        if (key === undefined) {
          const pem = yield* readPrivateKey(server, auth.privateKey)
          key = yield* Effect.tryPromise({
            try: () => jose.importPKCS8(pem, auth.signingAlgorithm),
            catch: () =>
              OAuthError.of(
                server.name,
                "configuration",
                `auth.privateKey is not a PKCS#8 PEM private key usable with ${auth.signingAlgorithm} (auth.signingAlgorithm)`
              )
          })
          keys.set(cacheKey, key)
        }
        return { client, auth: privateKeyJwt(key) }
      }
      default:
        return yield* OAuthError.of(
          server.name,
          "configuration",
          `the token endpoint authentication method ${method} is not supported (use none, client_secret_basic, client_secret_post or private_key_jwt)`
        )
    }
  })

  const stillKnown = Effect.fn("Registration.stillKnown")(
    function* (
      server: ServerConfig,
      authorizationServer: AuthorizationServerInfo,
      registration: ClientRegistration
    ) {
      const as = authorizationServer.metadata
      const endpoint = as.token_endpoint
      if (endpoint === undefined) return true
      yield* checkEndpoint(server.name, endpoint, "token endpoint", authOf(server).allowHttp)
      const { client, auth } = yield* session(server, registration)
      const answer = yield* request(server.name, "token", "checking the stored client", async (http) => {
        const response = await oauth.genericTokenEndpointRequest(
          as,
          client,
          auth,
          grantTypes.refreshToken,
          { refresh_token: `mcpgate-client-check-${oauth.generateRandomState()}` },
          http
        )
        return oauth.processGenericTokenEndpointResponse(as, client, response)
      }).pipe(Effect.flip, Effect.option)
      const unknown = Option.isSome(answer) && answer.value.oauthError === "invalid_client"
      if (unknown) {
        yield* Effect.logWarning(
          `${server.name}: the authorization server no longer knows the client ${registration.clientId}`
        )
      }
      return !unknown
    },
    Effect.catch(() => Effect.succeed(true))
  )

  return { resolve, register, session, stillKnown }
})

export class Registration extends Context.Service<Registration, RegistrationShape>()(
  "@mcpgate/oauth/Registration"
) {
  static readonly layer: Layer.Layer<Registration> = Layer.effect(Registration, make)
}
