/**
 * Finds an issuer's endpoints (docs/oauth.md#discovery): the configured
 * `auth.authServerMetadataUrl`, else the well-known metadata URLs, else the
 * configured endpoints alone, else (a 2025-03-26 server, when every URL tried
 * was a clear 404) the default endpoints; configured endpoints override. The
 * result is cached for an hour by server and by the issuer the document
 * names; failures are not cached, and concurrent lookups of one issuer share
 * one request.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Cache, Duration, Effect, Equal, Exit, Hash } from "effect"
import type * as oauth from "oauth4webapi"
import type { AuthorizationServerInfo } from "../Discovery.ts"
import { OAuthError } from "../Errors.ts"
import { checkEndpoints, readAuthorizationServer, withOverrides } from "./AuthorizationServerMetadata.ts"
import { checkEndpoint } from "./Http.ts"
import { acceptsIssuer, defaultEndpoints, metadataCandidates, onLegacyOrigin } from "./LegacyDiscovery.ts"
import { authOf, serverUrlOf } from "./ServerAuth.ts"

/** What discovery knows when it looks for an issuer's metadata. */
export interface ResolveOptions {
  /** The issuers the protected resource metadata lists (a configured document must describe one of them). */
  readonly listedIssuers?: ReadonlyArray<string> | undefined
  /** The server's origin, when it may be a 2025-03-26 server (no resource metadata, or none listed). */
  readonly legacyOrigin?: string | undefined
  /** Every resource metadata URL tried was a clear 404 (the defaults stay possible). */
  readonly clean: boolean
}

interface Document {
  readonly metadata: oauth.AuthorizationServer
  readonly url: string
}

/** `auth.authServerMetadataUrl`, trusted for its issuer unless the resource lists others. */
const readConfigured = (server: ServerConfig, url: string, listed: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const lookup = yield* readAuthorizationServer(server.name, url, undefined, authOf(server).allowHttp)
    if (lookup._tag !== "Found") return { document: undefined, clean: lookup._tag === "Absent" }
    const issuerHref = new URL(lookup.value.issuer).href
    if (
      listed.length > 0 &&
      !listed.some((item) => URL.canParse(item) && new URL(item).href === issuerHref)
    ) {
      return yield* OAuthError.of(
        server.name,
        "issuer-mismatch",
        `the configured authServerMetadataUrl describes the issuer "${lookup.value.issuer}", which the server's protected resource metadata does not list (${listed.join(", ")})`
      )
    }
    return { document: { metadata: lookup.value, url } satisfies Document, clean: true }
  })

/** The well-known URLs of `issuer` in order (`metadataCandidates`); the first document wins. */
const readWellKnown = (server: ServerConfig, issuer: string, legacyOrigin: string | undefined) =>
  Effect.gen(function* () {
    const { allowHttp } = authOf(server)
    yield* checkEndpoint(server.name, issuer, "authorization server", allowHttp)
    let clean = true
    for (const candidate of metadataCandidates(issuer, legacyOrigin)) {
      const lookup = yield* readAuthorizationServer(
        server.name,
        candidate.url,
        issuer,
        allowHttp,
        (named, expected) => acceptsIssuer(named, expected, candidate.lenient)
      )
      if (lookup._tag === "Found") {
        return { document: { metadata: lookup.value, url: candidate.url } satisfies Document, clean }
      }
      if (lookup._tag === "Unclear") clean = false
    }
    return { document: undefined, clean }
  })

/**
 * The authorization server of `issuer` for `server`, uncached. Fails with
 * reason "discovery" when nothing describes it, and as `readAuthorizationServer`
 * and `checkEndpoints` do.
 */
export const resolveAuthorizationServer = (
  server: ServerConfig,
  issuer: string,
  options: ResolveOptions
): Effect.Effect<AuthorizationServerInfo, OAuthError> =>
  Effect.gen(function* () {
    const auth = authOf(server)
    const name = server.name
    const configuredUrl = auth.authServerMetadataUrl
    const read =
      configuredUrl === undefined
        ? yield* readWellKnown(server, issuer, options.legacyOrigin)
        : yield* readConfigured(server, configuredUrl, options.listedIssuers ?? [])
    const clean = options.clean && read.clean
    let info: AuthorizationServerInfo
    if (read.document !== undefined) {
      info = {
        issuer: read.document.metadata.issuer,
        metadata: withOverrides(read.document.metadata, auth),
        source: "metadata",
        metadataUrl: read.document.url
      }
    } else if (auth.tokenUrl !== undefined) {
      info = { issuer, metadata: withOverrides({ issuer }, auth), source: "configured" }
    } else if (clean && options.legacyOrigin !== undefined && onLegacyOrigin(issuer, options.legacyOrigin)) {
      yield* Effect.logInfo(
        `${name}: no OAuth metadata anywhere; using the 2025-03-26 default endpoints on ${options.legacyOrigin}`
      )
      info = {
        issuer,
        metadata: withOverrides(defaultEndpoints(options.legacyOrigin), auth),
        source: "defaults"
      }
    } else {
      const tried =
        configuredUrl === undefined
          ? metadataCandidates(issuer, options.legacyOrigin).map((candidate) => candidate.url)
          : [configuredUrl]
      return yield* OAuthError.of(
        name,
        "discovery",
        `no authorization server metadata for ${issuer} (tried ${tried.join(", ")}); set auth.authServerMetadataUrl, or auth.authorizationUrl and auth.tokenUrl`
      )
    }
    yield* checkEndpoints(name, info.metadata, auth.allowHttp)
    return info
  })

// ---------------------------------------------------------------------------
// The cache
// ---------------------------------------------------------------------------

/**
 * A cache key: a server and an issuer (compared as URLs). Keys of the same
 * server name and issuer are equal; the server's config travels along for
 * the lookup.
 */
export class IssuerKey implements Equal.Equal {
  readonly key: string
  readonly server: ServerConfig
  readonly issuer: string
  constructor(server: ServerConfig, issuer: string) {
    this.key = `${server.name}|${URL.canParse(issuer) ? new URL(issuer).href : issuer}`
    this.server = server
    this.issuer = issuer
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof IssuerKey && that.key === this.key
  }
  [Hash.symbol](): number {
    return Hash.string(this.key)
  }
}

/** Authorization servers by server and issuer. */
export type AuthorizationServerCache = Cache.Cache<IssuerKey, AuthorizationServerInfo, OAuthError>

const timeToLive = Duration.hours(1)

/**
 * The metadata of known issuers, looked up as a process that knows only the
 * stored issuer would (the server's origin may be a 2025-03-26 server).
 * Successes live an hour, failures (outages) not at all.
 */
export const makeCache: Effect.Effect<AuthorizationServerCache> = Cache.makeWith(
  (key: IssuerKey) =>
    Effect.flatMap(serverUrlOf(key.server), (serverUrl) =>
      resolveAuthorizationServer(key.server, key.issuer, {
        legacyOrigin: new URL(serverUrl).origin,
        clean: true
      })
    ),
  { capacity: 1024, timeToLive: (exit) => (Exit.isSuccess(exit) ? timeToLive : Duration.zero) }
)

/** Keeps what discovery found under the issuer its document names. */
export const remember = (
  cache: AuthorizationServerCache,
  server: ServerConfig,
  info: AuthorizationServerInfo
): Effect.Effect<void> => Cache.set(cache, new IssuerKey(server, info.issuer), info)
