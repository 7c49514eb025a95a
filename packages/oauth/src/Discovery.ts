/**
 * Where a protected MCP server sends its users to authorize (MCP authorization
 * 2025-11-25 "Authorization Server Discovery", docs/oauth.md#discovery):
 *
 * 1. Protected resource metadata (RFC 9728): the `resource_metadata` URL of the
 *    401 challenge, else `/.well-known/oauth-protected-resource/<path>`, else
 *    `/.well-known/oauth-protected-resource`. Its `resource` must be this server
 *    (RFC 9728 §3.3).
 * 2. Authorization server metadata (RFC 8414 and OpenID Connect Discovery) of
 *    the first listed authorization server, tried in the spec's path-aware
 *    order; its `issuer` must be the issuer it was fetched for (RFC 8414 §3.3).
 * 3. Per-server overrides from `auth` (`authServerMetadataUrl`,
 *    `authorizationUrl`, `tokenUrl`, `deviceAuthorizationUrl`).
 * 4. Servers of the 2025-03-26 revision have no resource metadata: their origin
 *    is the authorization server, and without metadata the endpoints default to
 *    `/authorize`, `/token` and `/register` there. Only a clear "no metadata"
 *    (404 at every URL tried) leads there: an outage (5xx, 429, an
 *    authorization server that cannot be reached) is a retryable error, and
 *    any other answer is not taken as "none".
 *
 * This file is the contract; the work is in `internal/`: `Discover` (the
 * steps), `ProtectedResourceMetadata`, `AuthorizationServerMetadata`,
 * `AuthorizationServerLookup` (with the issuer cache) and `LegacyDiscovery`.
 * Requests go through `FetchHttpClient.Fetch` of the calling fiber.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Cache, Context, Effect, Layer } from "effect"
import type * as oauth from "oauth4webapi"
import type { OAuthError } from "./Errors.ts"
import * as AuthorizationServerLookup from "./internal/AuthorizationServerLookup.ts"
import { discover } from "./internal/Discover.ts"
import type { ProtectedResource } from "./internal/ProtectedResourceMetadata.ts"
import type { ResourceChallenge } from "./WwwAuthenticate.ts"

export {
  authorizationServerMetadataUrls,
  offersOfflineAccess,
  supportsS256
} from "./internal/AuthorizationServerMetadata.ts"
export {
  type ProtectedResource,
  ProtectedResourceMetadata,
  protectedResourceMetadataUrls,
  resourceMatches
} from "./internal/ProtectedResourceMetadata.ts"
export { authOf } from "./internal/ServerAuth.ts"

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

/**
 * How the authorization server's endpoints were found: from its metadata
 * document, from the server's configuration alone, or from the 2025-03-26
 * defaults (`/authorize`, `/token`, `/register` on the server's origin).
 */
export type AuthorizationServerSource = "metadata" | "configured" | "defaults"

/** An authorization server as discovery found it. */
export interface AuthorizationServerInfo {
  readonly issuer: string
  /** The metadata with the configured endpoint overrides applied. */
  readonly metadata: oauth.AuthorizationServer
  readonly source: AuthorizationServerSource
  /** Where the metadata document was read (absent for "configured" and "defaults"). */
  readonly metadataUrl?: string | undefined
}

/** What `discover` found for an MCP server. */
export interface Discovered {
  /** The canonical server URI (RFC 8707 §2; no trailing slash, no fragment). */
  readonly serverUrl: string
  /**
   * The RFC 8707 `resource` to send: the protected resource metadata's
   * `resource` exactly as published, else the canonical server URI; an explicit
   * `auth.resource` replaces it; absent when `auth.resource` is `omit`.
   */
  readonly resource?: string | undefined
  /** The protected resource metadata (RFC 9728); absent for 2025-03-26 servers. */
  readonly protectedResource?: ProtectedResource | undefined
  readonly authorizationServer: AuthorizationServerInfo
  /** The 401 challenge the discovery started from, if any. */
  readonly challenge?: ResourceChallenge | undefined
  /** The resource asks for DPoP-bound tokens (a `DPoP` challenge, or `dpop_bound_access_tokens_required`). */
  readonly dpop: boolean
}

/** Where `discover` starts from. */
export interface DiscoverOptions {
  /** The `WWW-Authenticate` of a 401 from the server, when discovery starts from one. */
  readonly wwwAuthenticate?: string | null | undefined
  /**
   * Without a challenge, send one unauthenticated request to the server first to
   * read its challenge (its `resource_metadata` and `scope`). Default true.
   */
  readonly probe?: boolean | undefined
}

/** Discovery of an MCP server's authorization server. */
export interface DiscoveryShape {
  /**
   * Protected resource metadata, then authorization server metadata, with
   * overrides and fallbacks (the steps above). Fails with an `OAuthError` of
   * reason "configuration" (no valid server URL), "discovery" (nothing
   * usable found), "resource-mismatch" (RFC 9728 §3.3), "issuer-mismatch"
   * (RFC 8414 §3.3), "insecure-endpoint" (docs/oauth.md#plain-http-rule), or
   * "network" (retryable: an outage of a metadata URL).
   */
  readonly discover: (
    server: ServerConfig,
    options?: DiscoverOptions
  ) => Effect.Effect<Discovered, OAuthError>
  /**
   * The metadata of a known issuer (e.g. the one stored with a credential), so a
   * refresh or a revocation works in a new process without asking the MCP server
   * again. Cached for an hour (failures are not). Fails as `discover` does.
   */
  readonly authorizationServer: (
    server: ServerConfig,
    issuer: string
  ) => Effect.Effect<AuthorizationServerInfo, OAuthError>
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

/** A `DiscoveryShape` with its own authorization server cache. */
export const make: Effect.Effect<DiscoveryShape> = Effect.map(
  AuthorizationServerLookup.makeCache,
  (cache) => ({
    discover: Effect.fn("Discovery.discover")((server, options) =>
      Effect.andThen(
        Effect.annotateCurrentSpan("mcpgate.mcp.server", server.name),
        discover(cache, server, options)
      )
    ),
    authorizationServer: Effect.fn("Discovery.authorizationServer")((server, issuer) =>
      Cache.get(cache, new AuthorizationServerLookup.IssuerKey(server, issuer))
    )
  })
)

/** Discovery over an issuer cache of its own (`make`). */
export class Discovery extends Context.Service<Discovery, DiscoveryShape>()("@mcpgate/oauth/Discovery") {
  static readonly layer: Layer.Layer<Discovery> = Layer.effect(Discovery, make)
}
