/**
 * The steps of `Discovery.discover` (docs/oauth.md#discovery): the server's
 * challenge (given, or probed), its protected resource metadata (RFC 9728),
 * the first authorization server it lists (or its origin), and the RFC 8707
 * `resource` to send. What it finds is kept in the issuer cache, so a
 * refresh in this process finds it again without asking the MCP server.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Effect } from "effect"
import type { Discovered, DiscoverOptions } from "../Discovery.ts"
import type { OAuthError } from "../Errors.ts"
import { resourceChallenge } from "../WwwAuthenticate.ts"
import * as AuthorizationServerLookup from "./AuthorizationServerLookup.ts"
import * as ResourceMetadata from "./ProtectedResourceMetadata.ts"
import { authOf, serverUrlOf } from "./ServerAuth.ts"

/** `DiscoveryShape.discover`; fails as documented there. */
export const discover = (
  cache: AuthorizationServerLookup.AuthorizationServerCache,
  server: ServerConfig,
  options: DiscoverOptions = {}
): Effect.Effect<Discovered, OAuthError> =>
  Effect.gen(function* () {
    const name = server.name
    const auth = authOf(server)
    const serverUrl = yield* serverUrlOf(server)
    let header = options.wwwAuthenticate ?? undefined
    if (header === undefined && options.probe !== false) {
      header = yield* ResourceMetadata.probe(server, server.url ?? serverUrl)
    }
    const challenge = resourceChallenge(header)
    const { protectedResource, clean } = yield* ResourceMetadata.findProtectedResource(
      name,
      serverUrl,
      challenge?.resourceMetadata,
      auth.allowHttp
    )

    const origin = new URL(serverUrl).origin
    const listed = protectedResource?.metadata.authorization_servers ?? []
    const issuer = listed[0] ?? origin
    if (protectedResource !== undefined && listed.length === 0 && auth.authServerMetadataUrl === undefined) {
      yield* Effect.logInfo(
        `${name}: the protected resource metadata lists no authorization server; trying the server's origin ${origin}`
      )
    }
    const authorizationServer = yield* AuthorizationServerLookup.resolveAuthorizationServer(server, issuer, {
      listedIssuers: listed,
      legacyOrigin: protectedResource === undefined || listed.length === 0 ? origin : undefined,
      clean: protectedResource !== undefined || clean
    })
    yield* AuthorizationServerLookup.remember(cache, server, authorizationServer)
    yield* Effect.logDebug(
      `${name}: authorization server ${authorizationServer.issuer} (${authorizationServer.source}${authorizationServer.metadataUrl === undefined ? "" : ` from ${authorizationServer.metadataUrl}`})`
    )
    return {
      serverUrl,
      resource: ResourceMetadata.resourceIndicator(auth, protectedResource, serverUrl),
      protectedResource,
      authorizationServer,
      challenge,
      dpop: challenge?.dpop === true || protectedResource?.metadata.dpop_bound_access_tokens_required === true
    }
  })
