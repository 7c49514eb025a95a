/**
 * Which client mcpgate is at an authorization server, in the priority of MCP
 * authorization 2025-11-25 "Client Registration Approaches"
 * (docs/oauth.md#registration): pre-registered, else the stored registration
 * while it fits, else a Client ID Metadata Document, else Dynamic Client
 * Registration.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { ClientRegistration } from "@mcpgate/core/Credential"
import { Clock, Effect } from "effect"
import type { ResolveOptions } from "../Registration.ts"
import { register } from "./DynamicClientRegistration.ts"
import { authOf } from "./ServerAuth.ts"

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
 * The registration to use (see the header). A stored one is kept while its
 * secret has not expired (RFC 7591 §3.2.1: 0 means never) and it is still
 * the configured CIMD client when there is one. Fails as `register` does.
 */
export const resolve = Effect.fn("Registration.resolve")(function* (options: ResolveOptions) {
  const { server, authorizationServer, existing } = options
  const auth = authOf(server)
  const as = authorizationServer.metadata
  const redirectUris = options.redirectUri === undefined ? [] : [options.redirectUri]
  const now = yield* Clock.currentTimeMillis
  if (auth.clientId !== undefined) {
    return new ClientRegistration({
      method: "pre-registered",
      clientId: auth.clientId,
      ...(auth.clientSecret === undefined ? {} : { clientSecret: auth.clientSecret }),
      redirectUris,
      tokenEndpointAuthMethod: preRegisteredMethod(server, as.token_endpoint_auth_methods_supported),
      registeredAt: existing?.method === "pre-registered" ? (existing.registeredAt ?? now) : now
    })
  }
  const cimd = auth.clientMetadataUrl !== undefined && as.client_id_metadata_document_supported === true
  if (existing !== undefined && existing.method !== "pre-registered" && fits(existing, options.redirectUri)) {
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
