/**
 * Where a protected MCP server sends its users to authorize (MCP authorization
 * 2025-11-25 "Authorization Server Discovery"):
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
 *    (404 at every URL tried) leads there: an outage (5xx, 429, no connection)
 *    is a retryable error, and any other answer is not taken as "none".
 */
import { type AuthConfig, defaults, type ServerConfig } from "@mcpgate/core/Config"
import { canonicalUrl } from "@mcpgate/core/Credential"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import * as oauth from "oauth4webapi"
import { OAuthError } from "./Errors.ts"
import { attempt, checkEndpoint, fetchWith, get } from "./internal/Http.ts"
import { type ResourceChallenge, resourceChallenge } from "./WwwAuthenticate.ts"

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** RFC 9728 §2 (the members mcpgate reads; others are kept by the decoder's default and ignored). */
export const ProtectedResourceMetadata = Schema.Struct({
  resource: Schema.String,
  authorization_servers: Schema.optionalKey(Schema.Array(Schema.String)),
  scopes_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  bearer_methods_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  resource_name: Schema.optionalKey(Schema.String),
  dpop_signing_alg_values_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  dpop_bound_access_tokens_required: Schema.optionalKey(Schema.Boolean)
})
export type ProtectedResourceMetadata = typeof ProtectedResourceMetadata.Type

export interface ProtectedResource {
  /** Where the document was read. */
  readonly url: string
  readonly metadata: ProtectedResourceMetadata
}

/**
 * How the authorization server's endpoints were found: from its metadata
 * document, from the server's configuration alone, or from the 2025-03-26
 * defaults (`/authorize`, `/token`, `/register` on the server's origin).
 */
export type AuthorizationServerSource = "metadata" | "configured" | "defaults"

export interface AuthorizationServerInfo {
  readonly issuer: string
  /** The metadata with the configured endpoint overrides applied. */
  readonly metadata: oauth.AuthorizationServer
  readonly source: AuthorizationServerSource
  /** Where the metadata document was read (absent for "configured" and "defaults"). */
  readonly metadataUrl?: string
}

export interface Discovered {
  /** The canonical server URI (RFC 8707 §2; no trailing slash, no fragment). */
  readonly serverUrl: string
  /**
   * The RFC 8707 `resource` to send: the protected resource metadata's
   * `resource` exactly as published, else the canonical server URI; an explicit
   * `auth.resource` replaces it; absent when `auth.resource` is `omit`.
   */
  readonly resource?: string
  readonly protectedResource?: ProtectedResource
  readonly authorizationServer: AuthorizationServerInfo
  /** The 401 challenge the discovery started from, if any. */
  readonly challenge?: ResourceChallenge
  /** The resource asks for DPoP-bound tokens (a `DPoP` challenge, or `dpop_bound_access_tokens_required`). */
  readonly dpop: boolean
}

export interface DiscoverOptions {
  /** The `WWW-Authenticate` of a 401 from the server, when discovery starts from one. */
  readonly wwwAuthenticate?: string | null
  /**
   * Without a challenge, send one unauthenticated request to the server first to
   * read its challenge (its `resource_metadata` and `scope`). Default true.
   */
  readonly probe?: boolean
}

export interface DiscoveryShape {
  /** Protected resource metadata, then authorization server metadata, with overrides and fallbacks. */
  readonly discover: (
    server: ServerConfig,
    options?: DiscoverOptions
  ) => Effect.Effect<Discovered, OAuthError>
  /**
   * The metadata of a known issuer (e.g. the one stored with a credential), so a
   * refresh or a revocation works in a new process without asking the MCP server
   * again. Cached for an hour.
   */
  readonly authorizationServer: (
    server: ServerConfig,
    issuer: string
  ) => Effect.Effect<AuthorizationServerInfo, OAuthError>
}

// ---------------------------------------------------------------------------
// Pure helpers
// ---------------------------------------------------------------------------

/** `auth` with its defaults, for servers configured without an `auth` block (OAuth found from a 401). */
export const authOf = (server: ServerConfig): AuthConfig =>
  server.auth ?? {
    type: "oauth2",
    resource: defaults.resource,
    flow: defaults.flow,
    signingAlgorithm: defaults.signingAlgorithm,
    allowHttp: false
  }

const trimSlash = (path: string): string => (path === "/" ? "" : path.replace(/\/+$/, ""))

/** RFC 9728 §3.1: `/.well-known/oauth-protected-resource` inserted before the path, then at the root. */
export const protectedResourceMetadataUrls = (serverUrl: string): ReadonlyArray<string> => {
  const url = new URL(serverUrl)
  const path = trimSlash(url.pathname)
  const root = `${url.origin}/.well-known/oauth-protected-resource`
  return path === "" ? [root] : [`${root}${path}`, root]
}

/**
 * The MCP spec's order for an issuer (RFC 8414 §3.1 path insertion first, then
 * OpenID Connect Discovery path insertion, then appending).
 */
export const authorizationServerMetadataUrls = (issuer: string): ReadonlyArray<string> => {
  const url = new URL(issuer)
  const path = trimSlash(url.pathname)
  if (path === "") {
    return [
      `${url.origin}/.well-known/oauth-authorization-server`,
      `${url.origin}/.well-known/openid-configuration`
    ]
  }
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`
  ]
}

/**
 * RFC 9728 §3.3 with the MCP reading: the metadata's `resource` is this server,
 * or a parent of it on the same origin (a root document for every path).
 */
export const resourceMatches = (resource: string, serverUrl: string): boolean => {
  const published = URL.parse(resource)
  const server = URL.parse(serverUrl)
  if (published === null || server === null || published.hash !== "") return false
  if (published.origin !== server.origin) return false
  const base = trimSlash(published.pathname)
  const path = trimSlash(server.pathname)
  return base === "" || path === base || path.startsWith(`${base}/`)
}

/** The 2025-03-26 defaults on the server's origin (MCP 2025-03-26 "Fallbacks"). */
const defaultEndpoints = (origin: string): oauth.AuthorizationServer => ({
  issuer: origin,
  authorization_endpoint: `${origin}/authorize`,
  token_endpoint: `${origin}/token`,
  registration_endpoint: `${origin}/register`
})

const withOverrides = (metadata: oauth.AuthorizationServer, auth: AuthConfig): oauth.AuthorizationServer => ({
  ...metadata,
  ...(auth.authorizationUrl === undefined ? {} : { authorization_endpoint: auth.authorizationUrl }),
  ...(auth.tokenUrl === undefined ? {} : { token_endpoint: auth.tokenUrl }),
  ...(auth.deviceAuthorizationUrl === undefined
    ? {}
    : { device_authorization_endpoint: auth.deviceAuthorizationUrl })
})

const endpointNames = [
  ["authorization_endpoint", "authorization endpoint"],
  ["token_endpoint", "token endpoint"],
  ["registration_endpoint", "registration endpoint"],
  ["device_authorization_endpoint", "device authorization endpoint"],
  ["revocation_endpoint", "revocation endpoint"]
] as const

/**
 * Applies the plain-HTTP rule to every endpoint the metadata names. An endpoint
 * that is there but not a string (RFC 8414 §2: a URL) is refused here; before,
 * fuzzing found an array accepted and failing later with a misleading message.
 * `null` is read as absent.
 */
const checkEndpoints = (server: string, metadata: oauth.AuthorizationServer, allowHttp: boolean) =>
  Effect.forEach(
    endpointNames,
    ([field, what]) => {
      const value: unknown = metadata[field]
      if (value === undefined || value === null) return Effect.void
      return typeof value === "string"
        ? checkEndpoint(server, value, what, allowHttp)
        : Effect.fail(
            OAuthError.of(
              server,
              "discovery",
              `the authorization server metadata gives "${field}" as ${Array.isArray(value) ? "an array" : `a ${typeof value}`}, not a URL (RFC 8414 §2)`
            )
          )
    },
    { discard: true }
  )

const decodeProtectedResource = Schema.decodeUnknownOption(ProtectedResourceMetadata)

const serverUrlOf = (server: ServerConfig): Effect.Effect<string, OAuthError> =>
  server.url === undefined || !URL.canParse(server.url)
    ? Effect.fail(
        OAuthError.of(
          server.name,
          "configuration",
          "OAuth needs an HTTP server with a valid `url`; this one has none"
        )
      )
    : Effect.succeed(canonicalUrl(server.url))

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

interface CachedServer {
  readonly info: AuthorizationServerInfo
  readonly fetchedAt: number
}

const cacheMillis = 60 * 60 * 1000

/** What one metadata URL gave: the document, a clear "not here" (404), or another answer. */
type Lookup<A> =
  | { readonly _tag: "Found"; readonly value: A }
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Unclear" }

const found = <A>(value: A): Lookup<A> => ({ _tag: "Found", value })

/**
 * A metadata request answered with something else than 200: 5xx and 429 are
 * an outage (a retryable error: never read as "no metadata", never cached);
 * 404 means the document is not there; anything else is unclear.
 */
const notServed = <A>(
  name: string,
  target: URL,
  what: string,
  response: Response
): Effect.Effect<Lookup<A>, OAuthError> =>
  Effect.gen(function* () {
    yield* Effect.promise(async () => response.body?.cancel())
    const status = response.status
    if (status >= 500 || status === 429) {
      return yield* OAuthError.of(
        name,
        "network",
        `the ${what} ${target.href} is unavailable (HTTP ${status}); try again later`,
        { retryable: true, status }
      )
    }
    yield* Effect.logDebug(`${name}: no ${what} at ${target.href} (HTTP ${status})`)
    return status === 404 ? { _tag: "Absent" } : { _tag: "Unclear" }
  })

export const make = Effect.sync((): DiscoveryShape => {
  const cache = new Map<string, CachedServer>()

  /** One unauthenticated request to read the server's challenge; any failure just means "no challenge". */
  const probe = (server: ServerConfig, url: string): Effect.Effect<string | undefined> =>
    fetchWith(server.name, "discovery", "probing the server", new URL(url), {
      method: "POST",
      headers: {
        ...server.headers,
        "content-type": "application/json",
        accept: "application/json, text/event-stream"
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: {},
          clientInfo: { name: "mcpgate", version: "0.1.0" }
        }
      })
    }).pipe(
      Effect.flatMap((response) =>
        Effect.as(
          Effect.promise(async () => response.body?.cancel()),
          response.status === 401 || response.status === 403
            ? (response.headers.get("www-authenticate") ?? undefined)
            : undefined
        )
      ),
      Effect.orElseSucceed(() => undefined)
    )

  const readProtectedResource = (
    name: string,
    serverUrl: string,
    url: string,
    allowHttp: boolean
  ): Effect.Effect<Lookup<ProtectedResource>, OAuthError> =>
    Effect.gen(function* () {
      // Metadata on the server's own origin follows the server's URL; elsewhere the HTTPS rule applies.
      const sameOrigin = URL.parse(url)?.origin === new URL(serverUrl).origin
      const target = yield* checkEndpoint(
        name,
        url,
        "protected resource metadata URL",
        allowHttp || sameOrigin
      )
      const response = yield* get(name, target, "protected resource metadata")
      if (response.status !== 200) {
        return yield* notServed<ProtectedResource>(name, target, "protected resource metadata", response)
      }
      const json = yield* attempt(name, "discovery", `reading ${target.href}`, () => response.json())
      const metadata = decodeProtectedResource(json)
      if (Option.isNone(metadata)) {
        return yield* OAuthError.of(
          name,
          "discovery",
          `the protected resource metadata at ${target.href} is not valid RFC 9728 metadata (it needs a string "resource")`
        )
      }
      if (!resourceMatches(metadata.value.resource, serverUrl)) {
        return yield* OAuthError.of(
          name,
          "resource-mismatch",
          `the protected resource metadata at ${target.href} is for "${metadata.value.resource}", not for this server (${serverUrl}); refusing to authorize (RFC 9728 §3.3)`
        )
      }
      return found({ url: target.href, metadata: metadata.value })
    })

  /**
   * Fetches one metadata document (see `Lookup`); an error when it is there but
   * wrong, or when the server is unavailable. `sameOriginIssuer` accepts any
   * issuer on the expected issuer's origin (2025-03-26 servers, see below).
   */
  const readAuthorizationServer = (
    name: string,
    url: string,
    expectedIssuer: string | undefined,
    allowHttp: boolean,
    sameOriginIssuer = false
  ): Effect.Effect<Lookup<oauth.AuthorizationServer>, OAuthError> =>
    Effect.gen(function* () {
      const target = yield* checkEndpoint(name, url, "authorization server metadata URL", allowHttp)
      const response = yield* get(name, target, "authorization server metadata")
      if (response.status !== 200) {
        return yield* notServed<oauth.AuthorizationServer>(
          name,
          target,
          "authorization server metadata",
          response
        )
      }
      const issuerInDocument = yield* attempt(name, "discovery", `reading ${target.href}`, async () => {
        const json: unknown = await response.clone().json()
        return typeof json === "object" &&
          json !== null &&
          "issuer" in json &&
          typeof json.issuer === "string"
          ? json.issuer
          : undefined
      })
      if (issuerInDocument === undefined) {
        return yield* OAuthError.of(
          name,
          "discovery",
          `the authorization server metadata at ${target.href} has no "issuer" (RFC 8414 §2)`
        )
      }
      const lenient =
        sameOriginIssuer &&
        expectedIssuer !== undefined &&
        URL.canParse(issuerInDocument) &&
        new URL(issuerInDocument).origin === new URL(expectedIssuer).origin
      const expected = lenient ? issuerInDocument : (expectedIssuer ?? issuerInDocument)
      if (!URL.canParse(issuerInDocument) || new URL(issuerInDocument).href !== new URL(expected).href) {
        return yield* OAuthError.of(
          name,
          "issuer-mismatch",
          `the authorization server metadata at ${target.href} names the issuer "${issuerInDocument}", not "${expected}"; refusing to use it (RFC 8414 §3.3)`
        )
      }
      const metadata = yield* attempt(name, "discovery", `reading ${target.href}`, () =>
        oauth.processDiscoveryResponse(new URL(expected), response)
      )
      return found(metadata)
    })

  /**
   * The authorization server `issuer`: `authServerMetadataUrl` if configured,
   * else the well-known locations, else (for the server's own origin, the
   * 2025-03-26 case) the default endpoints, when every URL tried was a clear
   * 404 and `clean` says the resource metadata lookup was too; configured
   * endpoints override. Cached by the issuer the document names.
   */
  const resolveAuthorizationServer = (
    server: ServerConfig,
    issuer: string,
    options: {
      readonly listedIssuers?: ReadonlyArray<string>
      readonly legacyOrigin?: string
      readonly clean: boolean
    }
  ): Effect.Effect<AuthorizationServerInfo, OAuthError> =>
    Effect.gen(function* () {
      const auth = authOf(server)
      const name = server.name
      let document: { metadata: oauth.AuthorizationServer; url: string } | undefined
      let clean = options.clean
      const tried: Array<string> = []
      if (auth.authServerMetadataUrl !== undefined) {
        // A configured document is trusted for its issuer, unless the resource lists others.
        const listed = options.listedIssuers ?? []
        const metadata = yield* readAuthorizationServer(
          name,
          auth.authServerMetadataUrl,
          undefined,
          auth.allowHttp
        )
        tried.push(auth.authServerMetadataUrl)
        if (metadata._tag === "Found") {
          const issuerHref = new URL(metadata.value.issuer).href
          if (
            listed.length > 0 &&
            !listed.some((item) => URL.canParse(item) && new URL(item).href === issuerHref)
          ) {
            return yield* OAuthError.of(
              name,
              "issuer-mismatch",
              `the configured authServerMetadataUrl describes the issuer "${metadata.value.issuer}", which the server's protected resource metadata does not list (${listed.join(", ")})`
            )
          }
          document = { metadata: metadata.value, url: auth.authServerMetadataUrl }
        } else if (metadata._tag === "Unclear") clean = false
      } else {
        yield* checkEndpoint(name, issuer, "authorization server", auth.allowHttp)
        const legacyOrigin = options.legacyOrigin
        const onLegacyOrigin = legacyOrigin !== undefined && new URL(issuer).origin === legacyOrigin
        const candidates = [
          // The 2025-03-26 revision had no issuer to check: its metadata lives on the
          // server's origin and may name any issuer there (e.g. `<origin>/oauth`).
          ...authorizationServerMetadataUrls(issuer).map((url) => ({
            url,
            lenient: issuer === legacyOrigin
          })),
          // Such an issuer, once stored, is found again at the origin (and must match exactly).
          ...(onLegacyOrigin && issuer !== legacyOrigin
            ? authorizationServerMetadataUrls(legacyOrigin).map((url) => ({ url, lenient: false }))
            : [])
        ]
        for (const { url, lenient } of candidates) {
          tried.push(url)
          const metadata = yield* readAuthorizationServer(name, url, issuer, auth.allowHttp, lenient)
          if (metadata._tag === "Found") {
            document = { metadata: metadata.value, url }
            break
          }
          if (metadata._tag === "Unclear") clean = false
        }
      }
      let info: AuthorizationServerInfo
      if (document !== undefined) {
        info = {
          issuer: document.metadata.issuer,
          metadata: withOverrides(document.metadata, auth),
          source: "metadata",
          metadataUrl: document.url
        }
      } else if (auth.tokenUrl !== undefined) {
        info = { issuer, metadata: withOverrides({ issuer }, auth), source: "configured" }
      } else if (
        clean &&
        options.legacyOrigin !== undefined &&
        new URL(issuer).origin === options.legacyOrigin
      ) {
        yield* Effect.logInfo(
          `${name}: no OAuth metadata anywhere; using the 2025-03-26 default endpoints on ${options.legacyOrigin}`
        )
        info = {
          issuer,
          metadata: withOverrides(defaultEndpoints(options.legacyOrigin), auth),
          source: "defaults"
        }
      } else {
        return yield* OAuthError.of(
          name,
          "discovery",
          `no authorization server metadata for ${issuer} (tried ${tried.join(", ")}); set auth.authServerMetadataUrl, or auth.authorizationUrl and auth.tokenUrl`
        )
      }
      yield* checkEndpoints(name, info.metadata, auth.allowHttp)
      cache.set(`${name}|${new URL(info.issuer).href}`, { info, fetchedAt: yield* Clock.currentTimeMillis })
      return info
    })

  const discover = Effect.fn("Discovery.discover")(function* (
    server: ServerConfig,
    options: DiscoverOptions = {}
  ) {
    const name = server.name
    const auth = authOf(server)
    const serverUrl = yield* serverUrlOf(server)
    let header = options.wwwAuthenticate ?? undefined
    if (header === undefined && options.probe !== false)
      header = yield* probe(server, server.url ?? serverUrl)
    const challenge = resourceChallenge(header)

    let protectedResource: ProtectedResource | undefined
    // Whether every resource metadata URL answered a clear 404 (see `resolveAuthorizationServer`).
    let clean = true
    const candidates = [
      ...(challenge?.resourceMetadata === undefined ? [] : [challenge.resourceMetadata]),
      ...protectedResourceMetadataUrls(serverUrl)
    ]
    for (const url of candidates) {
      if (!URL.canParse(url)) {
        yield* Effect.logWarning(
          `${name}: ignoring the resource_metadata "${url}" of the challenge (not a URL)`
        )
        continue
      }
      const lookup = yield* readProtectedResource(name, serverUrl, url, auth.allowHttp).pipe(
        // A metadata URL that cannot be reached is skipped (but is no clear "none");
        // an outage of the server and the refusals (resource mismatch, plain HTTP) are errors.
        Effect.catchIf(
          (error) => error.reason === "network" && error.status === undefined,
          (error) =>
            Effect.as(Effect.logDebug(error.message), { _tag: "Unclear" } satisfies Lookup<ProtectedResource>)
        )
      )
      if (lookup._tag === "Found") {
        protectedResource = lookup.value
        break
      }
      if (lookup._tag === "Unclear") clean = false
    }

    const origin = new URL(serverUrl).origin
    const listed = protectedResource?.metadata.authorization_servers ?? []
    const issuer = listed[0] ?? origin
    if (protectedResource !== undefined && listed.length === 0 && auth.authServerMetadataUrl === undefined) {
      yield* Effect.logInfo(
        `${name}: the protected resource metadata lists no authorization server; trying the server's origin ${origin}`
      )
    }
    const authorizationServer = yield* resolveAuthorizationServer(server, issuer, {
      listedIssuers: listed,
      ...(protectedResource === undefined || listed.length === 0 ? { legacyOrigin: origin } : {}),
      clean: protectedResource !== undefined || clean
    })

    const resource =
      auth.resource === "omit"
        ? undefined
        : auth.resource !== "auto" && auth.resource !== ""
          ? auth.resource
          : (protectedResource?.metadata.resource ?? serverUrl)
    const discovered: Discovered = {
      serverUrl,
      ...(resource === undefined ? {} : { resource }),
      ...(protectedResource === undefined ? {} : { protectedResource }),
      authorizationServer,
      ...(challenge === undefined ? {} : { challenge }),
      dpop: challenge?.dpop === true || protectedResource?.metadata.dpop_bound_access_tokens_required === true
    }
    yield* Effect.logDebug(
      `${name}: authorization server ${authorizationServer.issuer} (${authorizationServer.source}${authorizationServer.metadataUrl === undefined ? "" : ` from ${authorizationServer.metadataUrl}`})`
    )
    return discovered
  })

  const authorizationServer = Effect.fn("Discovery.authorizationServer")(function* (
    server: ServerConfig,
    issuer: string
  ) {
    const cached = URL.canParse(issuer) ? cache.get(`${server.name}|${new URL(issuer).href}`) : undefined
    const now = yield* Clock.currentTimeMillis
    if (cached !== undefined && now - cached.fetchedAt < cacheMillis) return cached.info
    const serverUrl = yield* serverUrlOf(server)
    return yield* resolveAuthorizationServer(server, issuer, {
      legacyOrigin: new URL(serverUrl).origin,
      clean: true
    })
  })

  return { discover, authorizationServer }
})

export class Discovery extends Context.Service<Discovery, DiscoveryShape>()("@mcpgate/oauth/Discovery") {
  static readonly layer: Layer.Layer<Discovery> = Layer.effect(Discovery, make)
}

/** Whether `scopes_supported` of the authorization server lists `offline_access`. */
export const offersOfflineAccess = (metadata: oauth.AuthorizationServer): boolean =>
  metadata.scopes_supported?.includes("offline_access") === true

/** `code_challenge_methods_supported` names S256 (RFC 8414 §2, MCP "Authorization Code Protection"). */
export const supportsS256 = (metadata: oauth.AuthorizationServer): boolean =>
  metadata.code_challenge_methods_supported?.includes("S256") === true
