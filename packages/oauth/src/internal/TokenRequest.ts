/**
 * What every grant shares (OAuth 2.1 §3.2, RFC 6749 §5): the endpoint it
 * goes to (checked against the plain-HTTP rule), the request parameters
 * (RFC 8707 `resource`, `scope`, `audience`), the DPoP nonce retry
 * (RFC 9449 §8), and the stored form of a token response.
 */
import { TokenSet } from "@mcpgate/core/Credential"
import { Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { GrantContext } from "../AuthorizationFlow.ts"
import { OAuthError } from "../Errors.ts"
import { checkEndpoint, type HttpOptions, request } from "./Http.ts"
import { authOf } from "./ServerAuth.ts"

/**
 * The `grant_type` values mcpgate sends: OAuth 2.1 §4.1.3, §4.3.1 and §4.2.1,
 * RFC 8628 §3.4, RFC 7523 §2.1 and RFC 8693 §2.1.
 */
export const grantTypes = {
  authorizationCode: "authorization_code",
  refreshToken: "refresh_token",
  deviceCode: "urn:ietf:params:oauth:grant-type:device_code",
  clientCredentials: "client_credentials",
  jwtBearer: "urn:ietf:params:oauth:grant-type:jwt-bearer",
  tokenExchange: "urn:ietf:params:oauth:grant-type:token-exchange"
} as const

/**
 * The stored form of a token response (OAuth 2.1 §3.2.3). A refresh that
 * returns no refresh token keeps the old one, and a response without `scope`
 * keeps `previous.scope` (OAuth 2.1 §4.3.3).
 */
export const toTokenSet = (
  response: oauth.TokenEndpointResponse,
  now: number,
  previous?: {
    readonly refreshToken?: Redacted.Redacted<string> | undefined
    readonly scope?: string | undefined
  }
): TokenSet => {
  const refreshToken =
    response.refresh_token === undefined ? previous?.refreshToken : Redacted.make(response.refresh_token)
  const scope = response.scope ?? previous?.scope
  return new TokenSet({
    accessToken: Redacted.make(response.access_token),
    ...(refreshToken === undefined ? {} : { refreshToken }),
    tokenType: response.token_type.toLowerCase() === "dpop" ? "DPoP" : "Bearer",
    ...(typeof response.expires_in === "number" ? { expiresAt: now + response.expires_in * 1000 } : {}),
    ...(scope === undefined ? {} : { scope })
  })
}

/** Form parameters without the absent ones. */
export const parameters = (values: Readonly<Record<string, string | undefined>>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined)
  )

/** RFC 8707 §2: `resource`, unless it is omitted (`auth.resource: "omit"`). */
export const resourceParameter = (context: GrantContext): Record<string, string> =>
  parameters({ resource: context.resource })

/** OAuth 2.1 §3.2.2 `scope`, unless empty (the server decides). */
export const scopeParameter = (context: GrantContext): Record<string, string> =>
  parameters({ scope: context.scope === "" ? undefined : context.scope })

/** `auth.audience`, for the servers (Auth0 and the like) that name the API with it. */
export const audienceParameter = (context: GrantContext): Record<string, string> =>
  parameters({ audience: context.audience })

/** Runs a token request; once more when the server hands out a DPoP nonce (RFC 9449 §8). */
export const withDpopRetry =
  <A>(dpop: oauth.DPoPHandle | undefined, run: (http: HttpOptions) => Promise<A>) =>
  async (http: HttpOptions): Promise<A> => {
    try {
      return await run(http)
    } catch (error) {
      if (dpop !== undefined && oauth.isDPoPNonceError(error)) return run(http)
      throw error
    }
  }

/**
 * An endpoint of the authorization server, checked against the plain-HTTP
 * rule (docs/oauth.md#plain-http-rule). Fails with reason "discovery" (or
 * "revocation" for the revocation endpoint) when the metadata names none.
 */
export const endpoint = (
  context: GrantContext,
  field:
    | "authorization_endpoint"
    | "token_endpoint"
    | "device_authorization_endpoint"
    | "revocation_endpoint",
  what: string
): Effect.Effect<URL, OAuthError> => {
  const value = context.authorizationServer.metadata[field]
  if (typeof value !== "string") {
    return Effect.fail(
      OAuthError.of(
        context.server.name,
        field === "revocation_endpoint" ? "revocation" : "discovery",
        `the authorization server ${context.authorizationServer.issuer} has no ${what}`
      )
    )
  }
  return checkEndpoint(context.server.name, value, what, authOf(context.server).allowHttp)
}

/**
 * One request to the token endpoint (OAuth 2.1 §3.2), with the DPoP proof of
 * `context.dpop` and its nonce retry. Fails with reason "token" (the
 * server's `error` in `oauthError`) or, retryable, "network".
 */
export const tokenRequest = (
  context: GrantContext,
  what: string,
  run: (http: HttpOptions, dpop: { DPoP?: oauth.DPoPHandle }) => Promise<oauth.TokenEndpointResponse>
): Effect.Effect<oauth.TokenEndpointResponse, OAuthError> =>
  Effect.gen(function* () {
    const tokenEndpoint = yield* endpoint(context, "token_endpoint", "token endpoint")
    return yield* request(
      context.server.name,
      "token",
      `${what} at ${tokenEndpoint.origin}${tokenEndpoint.pathname}`,
      withDpopRetry(context.dpop, (http) =>
        run(http, context.dpop === undefined ? {} : { DPoP: context.dpop })
      )
    )
  })
