/**
 * Authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0): the
 * well-known URLs of an issuer, reading one document with the `issuer` check,
 * the configured endpoint overrides, and the plain-HTTP rule for every
 * endpoint the document names (docs/oauth.md#discovery, #plain-http-rule).
 */
import type { AuthConfig } from "@mcpgate/core/Config"
import { Effect, Option, Schema } from "effect"
import * as oauth from "oauth4webapi"
import { OAuthError } from "../Errors.ts"
import { attempt, checkEndpoint, get } from "./Http.ts"
import { found, type Lookup, notServed, trimSlash } from "./MetadataLookup.ts"

/**
 * The MCP specification's order for an issuer: RFC 8414 §3.1 path insertion
 * first, then OpenID Connect Discovery path insertion, then appending.
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

/** The member read before oauth4webapi's own processing, to check it (RFC 8414 §2, §3.3). */
const NamedIssuer = Schema.Struct({ issuer: Schema.String })
const decodeNamedIssuer = Schema.decodeUnknownOption(NamedIssuer)

/**
 * Reads the document at `url` (see `Lookup`). Its `issuer` must be
 * `expectedIssuer` (RFC 8414 §3.3; any issuer when none is expected), or,
 * with `acceptsIssuer`, one it allows (the 2025-03-26 servers). Fails with
 * reason "discovery" for a document without an `issuer`, "issuer-mismatch"
 * for another issuer, "insecure-endpoint" for plain HTTP off loopback, and
 * "network" for an outage.
 */
export const readAuthorizationServer = (
  name: string,
  url: string,
  expectedIssuer: string | undefined,
  allowHttp: boolean,
  acceptsIssuer: (named: string, expected: string) => boolean = () => false
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
    const json = yield* attempt(name, "discovery", `reading ${target.href}`, () => response.clone().json())
    const named = Option.getOrUndefined(decodeNamedIssuer(json))?.issuer
    if (named === undefined) {
      return yield* OAuthError.of(
        name,
        "discovery",
        `the authorization server metadata at ${target.href} has no "issuer" (RFC 8414 §2)`
      )
    }
    const expected =
      expectedIssuer !== undefined && acceptsIssuer(named, expectedIssuer) ? named : (expectedIssuer ?? named)
    if (!URL.canParse(named) || new URL(named).href !== new URL(expected).href) {
      return yield* OAuthError.of(
        name,
        "issuer-mismatch",
        `the authorization server metadata at ${target.href} names the issuer "${named}", not "${expected}"; refusing to use it (RFC 8414 §3.3)`
      )
    }
    const metadata = yield* attempt(name, "discovery", `reading ${target.href}`, () =>
      oauth.processDiscoveryResponse(new URL(expected), response)
    )
    return found(metadata)
  })

/** The metadata with `auth.authorizationUrl`, `tokenUrl` and `deviceAuthorizationUrl` in place of its endpoints. */
export const withOverrides = (
  metadata: oauth.AuthorizationServer,
  auth: AuthConfig
): oauth.AuthorizationServer => ({
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
 * Applies the plain-HTTP rule (OAuth 2.1 §1.5) to every endpoint the metadata
 * names. An endpoint that is there but not a string (RFC 8414 §2: a URL) is
 * refused here with reason "discovery"; before, fuzzing found an array
 * accepted and failing later with a misleading message. `null` is read as
 * absent.
 */
export const checkEndpoints = (
  server: string,
  metadata: oauth.AuthorizationServer,
  allowHttp: boolean
): Effect.Effect<void, OAuthError> =>
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

/** Whether `scopes_supported` (RFC 8414 §2) lists `offline_access`, so a user grant can ask for a refresh token. */
export const offersOfflineAccess = (metadata: oauth.AuthorizationServer): boolean =>
  metadata.scopes_supported?.includes("offline_access") === true

/** Whether `code_challenge_methods_supported` (RFC 8414 §2) names S256 (MCP "Authorization Code Protection"). */
export const supportsS256 = (metadata: oauth.AuthorizationServer): boolean =>
  metadata.code_challenge_methods_supported?.includes("S256") === true
