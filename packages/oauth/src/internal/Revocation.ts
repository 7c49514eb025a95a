/**
 * Token revocation (RFC 7009, docs/oauth.md#logout-and-revocation).
 */
import { Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { GrantContext } from "../AuthorizationFlow.ts"
import { request } from "./Http.ts"
import { endpoint } from "./TokenRequest.ts"

/**
 * RFC 7009 §2.1 with its `token_type_hint`. Fails with reason "revocation"
 * when the server has no revocation endpoint or refuses, or, retryable,
 * "network".
 */
export const revoke = Effect.fn("AuthorizationFlow.revoke")(function* (
  context: GrantContext,
  token: Redacted.Redacted<string>,
  hint: "access_token" | "refresh_token"
) {
  const { session } = context
  const as = context.authorizationServer.metadata
  const revocationEndpoint = yield* endpoint(context, "revocation_endpoint", "revocation endpoint")
  yield* request(
    context.server.name,
    "revocation",
    `revoking the ${hint.replace("_", " ")} at ${revocationEndpoint.origin}${revocationEndpoint.pathname}`,
    async (http) => {
      const response = await oauth.revocationRequest(
        as,
        session.client,
        session.auth,
        Redacted.value(token),
        {
          ...http,
          additionalParameters: { token_type_hint: hint }
        }
      )
      return oauth.processRevocationResponse(response)
    }
  )
})
