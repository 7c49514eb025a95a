/**
 * Token exchange (RFC 8693) at an identity provider rather than an MCP
 * authorization server: e.g. an ID token for an ID-JAG, which the JWT bearer
 * grant then redeems (enterprise-managed authorization).
 */
import { Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { TokenExchangeRequest } from "../AuthorizationFlow.ts"
import { clientSecretBasic } from "./ClientAuthentication.ts"
import { checkEndpoint, request } from "./Http.ts"
import { grantTypes, parameters } from "./TokenRequest.ts"

/**
 * RFC 8693 §2.1 with `client_secret_basic` when a secret is given. An issued
 * token that is no access token has `token_type` "N_A" (RFC 8693 §2.2.1).
 * Fails with reason "token", "insecure-endpoint" or, retryable, "network".
 */
export const tokenExchange = Effect.fn("AuthorizationFlow.tokenExchange")(function* (
  exchange: TokenExchangeRequest
) {
  const target = yield* checkEndpoint(
    exchange.server,
    exchange.tokenEndpoint,
    "identity provider token endpoint",
    exchange.allowHttp ?? false
  )
  const as: oauth.AuthorizationServer = {
    issuer: exchange.issuer ?? target.origin,
    token_endpoint: target.href
  }
  const client: oauth.Client = { client_id: exchange.clientId }
  const auth =
    exchange.clientSecret === undefined
      ? oauth.None()
      : clientSecretBasic(Redacted.value(exchange.clientSecret))
  const response = yield* request(
    exchange.server,
    "token",
    `the token exchange at ${target.origin}${target.pathname}`,
    async (http) => {
      const answer = await oauth.genericTokenEndpointRequest(
        as,
        client,
        auth,
        grantTypes.tokenExchange,
        parameters({
          subject_token: Redacted.value(exchange.subjectToken),
          subject_token_type: exchange.subjectTokenType,
          requested_token_type: exchange.requestedTokenType,
          audience: exchange.audience,
          resource: exchange.resource,
          scope: exchange.scope
        }),
        http
      )
      // RFC 8693 §2.2.1: an issued token that is not an access token has token_type "N_A".
      return oauth.processGenericTokenEndpointResponse(as, client, answer, {
        recognizedTokenTypes: { n_a: () => undefined }
      })
    }
  )
  return {
    token: Redacted.make(response.access_token),
    issuedTokenType: typeof response.issued_token_type === "string" ? response.issued_token_type : undefined,
    expiresIn: typeof response.expires_in === "number" ? response.expires_in : undefined
  }
})
