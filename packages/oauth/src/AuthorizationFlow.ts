/**
 * The grants, each one Effect with typed errors, on top of oauth4webapi:
 *
 * - authorization code with PKCE S256 (OAuth 2.1 §4.1, RFC 7636), `state`,
 *   RFC 9207 `iss`, RFC 8707 `resource`; a loopback redirect listener, the
 *   browser (`Browser`), and a pasted redirect URL for machines without one;
 *   split into `prepare`/`complete` for the web UI, whose callback arrives
 *   on another request;
 * - device authorization (RFC 8628) with `authorization_pending`, `slow_down`,
 *   `expired_token` and `access_denied`;
 * - client credentials (OAuth 2.1 §4.2; secret or private_key_jwt);
 * - JWT bearer (RFC 7523 §2.1) and token exchange (RFC 8693), used together by
 *   enterprise-managed authorization (ID-JAG);
 * - refresh (OAuth 2.1 §4.3) and revocation (RFC 7009).
 *
 * Every token request can carry DPoP proofs (RFC 9449 §5) and is retried once
 * with the server's nonce when it asks for one (RFC 9449 §8). A configured
 * `audience` goes with the authorization, code, device and client credentials
 * requests (the parameter Auth0 and similar servers expect). Every request
 * goes through `FetchHttpClient.Fetch` of the calling fiber.
 *
 * Each method fails with an `OAuthError` whose `reason` names the step; a
 * transient failure (no connection, timeout, 5xx, 429) has reason "network"
 * and `retryable: true`, and the server's OAuth error code is in
 * `oauthError`. This file is the contract; the grants are in `internal/`:
 * `AuthorizationCodeGrant`, `DeviceGrant`, `ClientGrants`, `TokenExchange`,
 * `RefreshGrant`, `Revocation`, over `TokenRequest`.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Context, type Duration, Effect, Layer, type Redacted } from "effect"
import type * as oauth from "oauth4webapi"
import { Browser } from "./Browser.ts"
import type { AuthorizationServerInfo } from "./Discovery.ts"
import type { OAuthError } from "./Errors.ts"
import * as AuthorizationCodeGrant from "./internal/AuthorizationCodeGrant.ts"
import * as ClientGrants from "./internal/ClientGrants.ts"
import * as DeviceGrant from "./internal/DeviceGrant.ts"
import * as RefreshGrant from "./internal/RefreshGrant.ts"
import * as Revocation from "./internal/Revocation.ts"
import * as TokenExchange from "./internal/TokenExchange.ts"
import type { ClientSession } from "./Registration.ts"

// ---------------------------------------------------------------------------
// Contract
// ---------------------------------------------------------------------------

/** What every grant needs: the server, its authorization server, and our client there. */
export interface GrantContext {
  readonly server: ServerConfig
  readonly authorizationServer: AuthorizationServerInfo
  readonly session: ClientSession
  /** RFC 8707 resource indicator; absent when omitted (`auth.resource: "omit"`). */
  readonly resource?: string | undefined
  /** Space-separated scopes (RFC 6749 §3.3); absent or empty to let the server decide. */
  readonly scope?: string | undefined
  /** `auth.audience`: the API the tokens are for, as Auth0 and similar servers ask for it. */
  readonly audience?: string | undefined
  /** Sender-constrains the tokens (RFC 9449). */
  readonly dpop?: oauth.DPoPHandle | undefined
  /**
   * OpenID Connect sign-in (Core §3.1.2.1): the `nonce` sent with the
   * authorization request; the token response must then carry an ID token
   * with it (Core §3.1.3.7).
   */
  readonly nonce?: string | undefined
}

/** A code-flow request ready to be sent to the browser. Holds the PKCE verifier: never log it. */
export interface PendingAuthorization {
  /** The authorization request (OAuth 2.1 §4.1.1) for the browser. */
  readonly url: URL
  /** RFC 6749 §10.12: the response must carry it back. */
  readonly state: string
  /** RFC 7636 §4.1. */
  readonly codeVerifier: Redacted.Redacted<string>
  readonly redirectUri: string
}

/** How the user is reached during an interactive login. */
export interface Interaction {
  /** Print the URL and read the pasted redirect URL instead of opening a browser. */
  readonly noBrowser?: boolean | undefined
  /** Told the authorization URL (before the browser opens, or instead of it). */
  readonly onAuthorizationUrl?: ((url: string) => Effect.Effect<void>) | undefined
  /** With `noBrowser`: reads the redirect URL the user pastes (the CLI reads stdin). */
  readonly readRedirectUrl?: Effect.Effect<string> | undefined
  /** How long to wait for the callback; default 5 minutes. */
  readonly timeout?: Duration.Input | undefined
}

/** What the user is shown during a device login (RFC 8628 §3.2, §3.3). */
export interface DeviceCodeInfo {
  readonly userCode: string
  readonly verificationUri: string
  /** The URI with the code in it, when the server gives one (RFC 8628 §3.3.1). */
  readonly verificationUriComplete?: string | undefined
  /** Seconds until the code expires. */
  readonly expiresIn: number
}

/** A token exchange request (RFC 8693 §2.1) at an identity provider. */
export interface TokenExchangeRequest {
  /** Names the server in errors. */
  readonly server: string
  /** The identity provider's token endpoint. */
  readonly tokenEndpoint: string
  /** Default: the token endpoint's origin. */
  readonly issuer?: string | undefined
  readonly clientId: string
  /** Sent with `client_secret_basic` (RFC 6749 §2.3.1); none without it. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  readonly subjectToken: Redacted.Redacted<string>
  /** e.g. `urn:ietf:params:oauth:token-type:id_token`. */
  readonly subjectTokenType: string
  /** e.g. `urn:ietf:params:oauth:token-type:id-jag`. */
  readonly requestedTokenType?: string | undefined
  readonly audience?: string | undefined
  readonly resource?: string | undefined
  readonly scope?: string | undefined
  /** Allow a plain-HTTP token endpoint off loopback (docs/oauth.md#plain-http-rule). */
  readonly allowHttp?: boolean | undefined
}

/** The token an exchange issued (RFC 8693 §2.2.1). */
export interface ExchangedToken {
  readonly token: Redacted.Redacted<string>
  readonly issuedTokenType?: string | undefined
  /** Seconds. */
  readonly expiresIn?: number | undefined
}

/** The grants; see each method for the RFC section and the errors. */
export interface AuthorizationFlowShape {
  /**
   * Builds the authorization request (OAuth 2.1 §4.1.1: PKCE S256, `state`,
   * `resource`, `scope`). Fails with reason "pkce-unsupported" when the
   * metadata does not list S256, or "discovery" / "insecure-endpoint".
   */
  readonly prepare: (
    context: GrantContext,
    redirectUri: string
  ) => Effect.Effect<PendingAuthorization, OAuthError>
  /**
   * Checks the callback (RFC 6749 §10.12 `state`, RFC 9207 §2.4 `iss`,
   * RFC 6749 §4.1.2.1 `error`) and redeems the code (OAuth 2.1 §4.1.3).
   * Fails with reason "state-mismatch", "iss-mismatch", "access-denied",
   * "authorization", "token" or "network".
   */
  readonly complete: (
    context: GrantContext,
    pending: PendingAuthorization,
    callbackUrl: URL
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /**
   * The whole code flow through a loopback listener on `redirectUri`
   * (RFC 8252 §7.3) or a pasted URL, and the browser. Fails as `prepare` and
   * `complete` do, and with "callback-port", "browser", "timeout" or
   * "configuration" (no way to receive the callback).
   */
  readonly authorizationCode: (
    context: GrantContext,
    redirectUri: string,
    interaction: Interaction
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /**
   * RFC 8628: shows the code through `onDeviceCode`, then polls. Fails with
   * reason "timeout" (the code expired), "access-denied", "authorization" or
   * "token".
   */
  readonly device: (
    context: GrantContext,
    onDeviceCode: (info: DeviceCodeInfo) => Effect.Effect<void>
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /** OAuth 2.1 §4.2. Fails with reason "token" or "network". */
  readonly clientCredentials: (
    context: GrantContext
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /**
   * RFC 7523 §2.1: an assertion (e.g. an ID-JAG or a workload JWT) for an
   * access token. Fails with reason "token" or "network".
   */
  readonly jwtBearer: (
    context: GrantContext,
    assertion: Redacted.Redacted<string>
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /**
   * RFC 8693 at an identity provider (not an MCP authorization server).
   * Fails with reason "token", "insecure-endpoint" or "network".
   */
  readonly tokenExchange: (request: TokenExchangeRequest) => Effect.Effect<ExchangedToken, OAuthError>
  /**
   * OAuth 2.1 §4.3, with the `resource` again (RFC 8707 §2.2). Fails with
   * reason "token" (`invalid_grant` in `oauthError` for a refused refresh
   * token) or "network".
   */
  readonly refresh: (
    context: GrantContext,
    refreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /**
   * RFC 7009 §2.1. Fails with reason "revocation" when the server has no
   * revocation endpoint or refuses, or "network".
   */
  readonly revoke: (
    context: GrantContext,
    token: Redacted.Redacted<string>,
    hint: "access_token" | "refresh_token"
  ) => Effect.Effect<void, OAuthError>
}

// ---------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------

/** The grants over `browser` (for the CLI's code flow). */
export const make: Effect.Effect<AuthorizationFlowShape, never, Browser> = Effect.map(Browser, (browser) => ({
  prepare: AuthorizationCodeGrant.prepare,
  complete: AuthorizationCodeGrant.complete,
  authorizationCode: (context, redirectUri, interaction) =>
    AuthorizationCodeGrant.authorizationCode(browser, context, redirectUri, interaction),
  device: DeviceGrant.device,
  clientCredentials: ClientGrants.clientCredentials,
  jwtBearer: ClientGrants.jwtBearer,
  tokenExchange: TokenExchange.tokenExchange,
  refresh: RefreshGrant.refresh,
  revoke: Revocation.revoke
}))

/**
 * The grants; their requests go through `FetchHttpClient.Fetch` of the
 * calling fiber.
 */
export class AuthorizationFlow extends Context.Service<AuthorizationFlow, AuthorizationFlowShape>()(
  "@mcpgate/oauth/AuthorizationFlow"
) {
  /** Needs a `Browser` (`Browser.layer` for people, `Browser.layerFollowRedirects` for robots). */
  static readonly layer: Layer.Layer<AuthorizationFlow, never, Browser> = Layer.effect(
    AuthorizationFlow,
    make
  )
}
