/**
 * Protected resource metadata (RFC 9728) of an MCP server: the probe that
 * reads the server's 401 challenge, the URLs where the document is looked
 * for, the check that it describes this server, and the RFC 8707 `resource`
 * that follows from it (docs/oauth.md#discovery, #resource-indicator).
 */

import type { AuthConfig, ServerConfig } from "@mcpgate/core/Config"
import { version } from "@mcpgate/core/Version"
import { Effect, Option, Schema } from "effect"
import { OAuthError } from "../Errors.ts"
import { attempt, checkEndpoint, fetchWith, get } from "./Http.ts"
import { found, type Lookup, notServed, trimSlash, unclear } from "./MetadataLookup.ts"

/** RFC 9728 §2 (the members mcpgate reads; others are ignored). */
export const ProtectedResourceMetadata = Schema.Struct({
  resource: Schema.String,
  authorization_servers: Schema.optionalKey(Schema.Array(Schema.String)),
  scopes_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  bearer_methods_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  resource_name: Schema.optionalKey(Schema.String),
  dpop_signing_alg_values_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  dpop_bound_access_tokens_required: Schema.optionalKey(Schema.Boolean)
})
/** A decoded protected resource metadata document. */
export type ProtectedResourceMetadata = typeof ProtectedResourceMetadata.Type

/** A protected resource metadata document and where it was read. */
export interface ProtectedResource {
  /** Where the document was read. */
  readonly url: string
  readonly metadata: ProtectedResourceMetadata
}

const decodeMetadata = Schema.decodeUnknownOption(ProtectedResourceMetadata)

/**
 * RFC 9728 §3.1: `/.well-known/oauth-protected-resource` inserted before the
 * server's path, then at the root (the MCP specification's order).
 */
export const protectedResourceMetadataUrls = (serverUrl: string): ReadonlyArray<string> => {
  const url = new URL(serverUrl)
  const path = trimSlash(url.pathname)
  const root = `${url.origin}/.well-known/oauth-protected-resource`
  return path === "" ? [root] : [`${root}${path}`, root]
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

/**
 * One unauthenticated `initialize` to read the server's challenge (MCP
 * "Authorization Flow Steps", RFC 9728 §5.1): the `WWW-Authenticate` of a 401
 * or 403. Never fails: any failure just means "no challenge".
 */
export const probe = (server: ServerConfig, url: string): Effect.Effect<string | undefined> =>
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
        clientInfo: { name: "mcpgate", version }
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

/**
 * Reads the document at `url` (see `Lookup`). Fails with reason "discovery"
 * for a document that is not RFC 9728 metadata, "resource-mismatch" for one
 * about another resource (RFC 9728 §3.3), "insecure-endpoint" for plain HTTP
 * off loopback on another origin than the server's, and "network" for an
 * outage.
 */
const read = (
  name: string,
  serverUrl: string,
  url: string,
  allowHttp: boolean
): Effect.Effect<Lookup<ProtectedResource>, OAuthError> =>
  Effect.gen(function* () {
    // Metadata on the server's own origin follows the server's URL; elsewhere the HTTPS rule applies.
    const sameOrigin = URL.parse(url)?.origin === new URL(serverUrl).origin
    const target = yield* checkEndpoint(name, url, "protected resource metadata URL", allowHttp || sameOrigin)
    const response = yield* get(name, target, "protected resource metadata")
    if (response.status !== 200) {
      return yield* notServed<ProtectedResource>(name, target, "protected resource metadata", response)
    }
    const json = yield* attempt(name, "discovery", `reading ${target.href}`, () => response.json())
    const metadata = decodeMetadata(json)
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

/** The outcome of looking for the document at every candidate URL. */
export interface ProtectedResourceSearch {
  readonly protectedResource: ProtectedResource | undefined
  /** Every URL tried answered a clear 404 (the 2025-03-26 defaults stay possible). */
  readonly clean: boolean
}

/**
 * Tries the challenge's `resource_metadata`, then the well-known URLs
 * (`protectedResourceMetadataUrls`), and keeps the first document. A URL that
 * cannot be reached is skipped (but is no clear "none"); an outage of the
 * server and the refusals of `read` fail the search.
 */
export const findProtectedResource = (
  name: string,
  serverUrl: string,
  resourceMetadata: string | undefined,
  allowHttp: boolean
): Effect.Effect<ProtectedResourceSearch, OAuthError> =>
  Effect.gen(function* () {
    let clean = true
    const candidates = [
      ...(resourceMetadata === undefined ? [] : [resourceMetadata]),
      ...protectedResourceMetadataUrls(serverUrl)
    ]
    for (const url of candidates) {
      if (!URL.canParse(url)) {
        yield* Effect.logWarning(
          `${name}: ignoring the resource_metadata "${url}" of the challenge (not a URL)`
        )
        continue
      }
      const lookup = yield* read(name, serverUrl, url, allowHttp).pipe(
        Effect.catchIf(
          (error) => error.reason === "network" && error.status === undefined,
          (error) => Effect.as(Effect.logDebug(error.message), unclear)
        )
      )
      if (lookup._tag === "Found") return { protectedResource: lookup.value, clean }
      if (lookup._tag === "Unclear") clean = false
    }
    return { protectedResource: undefined, clean }
  })

/**
 * The RFC 8707 `resource` to send (MCP "Resource Parameter Implementation"):
 * the metadata's `resource` exactly as published, else the canonical server
 * URI; an explicit `auth.resource` replaces it; none for `auth.resource: "omit"`.
 */
export const resourceIndicator = (
  auth: AuthConfig,
  protectedResource: ProtectedResource | undefined,
  serverUrl: string
): string | undefined =>
  auth.resource === "omit"
    ? undefined
    : auth.resource !== "auto" && auth.resource !== ""
      ? auth.resource
      : (protectedResource?.metadata.resource ?? serverUrl)
