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
 * forgotten is replaced by `register` (the manager does that on `invalid_client`,
 * or when `stillKnown` says so before a browser login). See
 * docs/oauth.md#registration.
 *
 * This file is the contract; the work is in `internal/`: `RegistrationChoice`
 * (the priority), `DynamicClientRegistration` (RFC 7591, `stillKnown`) and
 * `ClientAuthentication` (token endpoint authentication, imported keys).
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { ClientRegistration } from "@mcpgate/core/Credential"
import { Context, Effect, Layer } from "effect"
import type * as oauth from "oauth4webapi"
import type { AuthorizationServerInfo } from "./Discovery.ts"
import type { OAuthError } from "./Errors.ts"
import * as ClientAuthentication from "./internal/ClientAuthentication.ts"
import * as DynamicClientRegistration from "./internal/DynamicClientRegistration.ts"
import * as RegistrationChoice from "./internal/RegistrationChoice.ts"

export { clientSecretBasic } from "./internal/ClientAuthentication.ts"
export { chooseAuthMethod } from "./internal/DynamicClientRegistration.ts"
export { fits } from "./internal/RegistrationChoice.ts"
export { grantTypes } from "./internal/TokenRequest.ts"

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

/** What a registration is for. */
export interface ResolveOptions {
  readonly server: ServerConfig
  readonly authorizationServer: AuthorizationServerInfo
  /** The redirect URI the code flow will use; absent for flows without a browser. */
  readonly redirectUri?: string | undefined
  /** The grants the flow needs (`refresh_token` is always asked for with a user grant). */
  readonly grantTypes: ReadonlyArray<string>
  /** The stored registration, only when it belongs to this authorization server. */
  readonly existing?: ClientRegistration | undefined
}

/** An oauth4webapi client and its token endpoint authentication. */
export interface ClientSession {
  readonly client: oauth.Client
  readonly auth: oauth.ClientAuth
}

/** Which OAuth client mcpgate is at an authorization server, and how it authenticates. */
export interface RegistrationShape {
  /**
   * The registration to use: pre-registered, else the stored one if it fits,
   * else CIMD, else DCR. Fails as `register` does.
   */
  readonly resolve: (options: ResolveOptions) => Effect.Effect<ClientRegistration, OAuthError>
  /**
   * Always a new Dynamic Client Registration (RFC 7591 §3). Fails with an
   * `OAuthError` of reason "registration" (no registration endpoint, or
   * refused), "insecure-endpoint" or, retryable, "network".
   */
  readonly register: (options: ResolveOptions) => Effect.Effect<ClientRegistration, OAuthError>
  /**
   * The oauth4webapi client and authentication (RFC 6749 §2.3, RFC 7523 §2.2)
   * for a registration. Fails with reason "configuration" when its method
   * lacks a secret or key, or the key does not import.
   */
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
   * (network, other answers) counts as known: it never fails.
   */
  readonly stillKnown: (
    server: ServerConfig,
    authorizationServer: AuthorizationServerInfo,
    registration: ClientRegistration
  ) => Effect.Effect<boolean>
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

/** The registrations, over a cache of imported private keys of its own. */
export const make: Effect.Effect<RegistrationShape> = Effect.map(
  ClientAuthentication.makePrivateKeys,
  (keys) => ({
    resolve: RegistrationChoice.resolve,
    register: DynamicClientRegistration.register,
    session: (server, registration) => ClientAuthentication.session(keys, server, registration),
    stillKnown: (server, authorizationServer, registration) =>
      DynamicClientRegistration.stillKnown(keys, server, authorizationServer, registration)
  })
)

/** Registrations; their requests go through `FetchHttpClient.Fetch` of the calling fiber. */
export class Registration extends Context.Service<Registration, RegistrationShape>()(
  "@mcpgate/oauth/Registration"
) {
  static readonly layer: Layer.Layer<Registration> = Layer.effect(Registration, make)
}
