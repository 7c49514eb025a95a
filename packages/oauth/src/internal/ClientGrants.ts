/**
 * The grants without a person: client credentials (OAuth 2.1 §4.2,
 * docs/oauth.md#client-credentials) and the JWT bearer grant (RFC 7523 §2.1),
 * which redeems an assertion (a workload JWT, or the ID-JAG of
 * enterprise-managed authorization) for an access token.
 */
import { Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { GrantContext } from "../AuthorizationFlow.ts"
import {
  audienceParameter,
  grantTypes,
  resourceParameter,
  scopeParameter,
  tokenRequest
} from "./TokenRequest.ts"

/**
 * OAuth 2.1 §4.2: tokens for the client itself, with its `scope`, `resource`
 * and `audience`. Fails as `tokenRequest` does.
 */
export const clientCredentials = Effect.fn("AuthorizationFlow.clientCredentials")(function* (
  context: GrantContext
) {
  const { session } = context
  const as = context.authorizationServer.metadata
  return yield* tokenRequest(context, "the client credentials grant", async (http, dpop) => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      session.client,
      session.auth,
      { ...scopeParameter(context), ...resourceParameter(context), ...audienceParameter(context) },
      { ...http, ...dpop }
    )
    return oauth.processClientCredentialsResponse(as, session.client, response)
  })
})

/**
 * RFC 7523 §2.1: `assertion` for an access token, with `scope` and
 * `resource`. Fails as `tokenRequest` does.
 */
export const jwtBearer = Effect.fn("AuthorizationFlow.jwtBearer")(function* (
  context: GrantContext,
  assertion: Redacted.Redacted<string>
) {
  const { session } = context
  const as = context.authorizationServer.metadata
  return yield* tokenRequest(context, "the JWT bearer grant", async (http, dpop) => {
    const response = await oauth.genericTokenEndpointRequest(
      as,
      session.client,
      session.auth,
      grantTypes.jwtBearer,
      { assertion: Redacted.value(assertion), ...scopeParameter(context), ...resourceParameter(context) },
      { ...http, ...dpop }
    )
    return oauth.processGenericTokenEndpointResponse(as, session.client, response)
  })
})
