/**
 * Dynamic Client Registration (RFC 7591, docs/oauth.md#registration): what
 * mcpgate asks to be registered as, a lenient reading of the answer, and the
 * check whether the authorization server still knows a registered client
 * (it may forget it, e.g. after a database reset).
 */
import { isLoopbackUrl } from "@mcpgate/core/Address"
import type { ServerConfig } from "@mcpgate/core/Config"
import { ClientRegistration } from "@mcpgate/core/Credential"
import { Clock, Effect, Option, Redacted, Schema } from "effect"
import * as oauth from "oauth4webapi"
import type { AuthorizationServerInfo } from "../Discovery.ts"
import { OAuthError } from "../Errors.ts"
import type { ResolveOptions } from "../Registration.ts"
import { type PrivateKeys, session } from "./ClientAuthentication.ts"
import { checkEndpoint, clip, request } from "./Http.ts"
import { authOf } from "./ServerAuth.ts"
import { grantTypes } from "./TokenRequest.ts"

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
      try: (): Promise<unknown> => response.json(),
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
        oauthError: Option.getOrUndefined(error)?.error
      }
    )
  })

/**
 * Registers a new client (RFC 7591 §3.1) for the grants of `options`, with
 * `refresh_token` beside every user grant (SEP-2207). Fails with reason
 * "registration" (no registration endpoint, or refused; `retryable` for 5xx),
 * "insecure-endpoint" or, retryable, "network".
 */
export const register = Effect.fn("Registration.register")(function* (options: ResolveOptions) {
  const { server, authorizationServer } = options
  // Names, never the registration's secrets (docs/observability.md#traces).
  yield* Effect.annotateCurrentSpan({
    "mcpgate.mcp.server": server.name,
    "mcpgate.oauth.issuer": authorizationServer.issuer
  })
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

/**
 * Whether the authorization server still knows `registration`'s client, asked
 * with a refresh request for a made-up refresh token: refused with
 * `invalid_client` for an unknown client and with another error
 * (`invalid_grant`) for a known one (RFC 6749 §5.2). Anything unclear
 * (network, other answers, no token endpoint) counts as known; never fails.
 */
export const stillKnown = Effect.fn("Registration.stillKnown")(
  function* (
    keys: PrivateKeys,
    server: ServerConfig,
    authorizationServer: AuthorizationServerInfo,
    registration: ClientRegistration
  ) {
    const as = authorizationServer.metadata
    const endpoint = as.token_endpoint
    if (endpoint === undefined) return true
    yield* checkEndpoint(server.name, endpoint, "token endpoint", authOf(server).allowHttp)
    const { client, auth } = yield* session(keys, server, registration)
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
