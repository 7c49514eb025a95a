/**
 * Servers of the MCP 2025-03-26 revision ("Server Metadata Discovery" and
 * "Fallbacks for Servers without Metadata Discovery"): they publish no
 * protected resource metadata, their origin is the authorization server, its
 * metadata may name any issuer on that origin, and without any metadata the
 * endpoints default to `/authorize`, `/token` and `/register` on the origin.
 * Only a clear 404 at every URL tried leads to those defaults
 * (docs/oauth.md#discovery).
 */
import type * as oauth from "oauth4webapi"
import { authorizationServerMetadataUrls } from "./AuthorizationServerMetadata.ts"

/** A metadata URL to try; `lenient` accepts any issuer on the expected issuer's origin. */
export interface Candidate {
  readonly url: string
  readonly lenient: boolean
}

/** Whether `issuer` lives on the origin of a 2025-03-26 server. */
export const onLegacyOrigin = (issuer: string, legacyOrigin: string | undefined): boolean =>
  legacyOrigin !== undefined && new URL(issuer).origin === legacyOrigin

/**
 * The metadata URLs for `issuer` (RFC 8414 §3.1 and OpenID Connect Discovery,
 * in the MCP order). For a 2025-03-26 server (`legacyOrigin`): at the origin
 * itself the document may name any issuer there (that revision had no issuer
 * to check, e.g. `<origin>/oauth`), and such an issuer, once stored, is found
 * again at the origin, where it must then match exactly.
 */
export const metadataCandidates = (
  issuer: string,
  legacyOrigin: string | undefined
): ReadonlyArray<Candidate> => [
  ...authorizationServerMetadataUrls(issuer).map((url) => ({ url, lenient: issuer === legacyOrigin })),
  ...(legacyOrigin !== undefined && onLegacyOrigin(issuer, legacyOrigin) && issuer !== legacyOrigin
    ? authorizationServerMetadataUrls(legacyOrigin).map((url) => ({ url, lenient: false }))
    : [])
]

/** A lenient candidate accepts a document naming another issuer on the expected issuer's origin. */
export const acceptsIssuer = (named: string, expected: string, lenient: boolean): boolean =>
  lenient && URL.canParse(named) && new URL(named).origin === new URL(expected).origin

/** MCP 2025-03-26 "Fallbacks": the default endpoints on the server's origin. */
export const defaultEndpoints = (origin: string): oauth.AuthorizationServer => ({
  issuer: origin,
  authorization_endpoint: `${origin}/authorize`,
  token_endpoint: `${origin}/token`,
  registration_endpoint: `${origin}/register`
})
