/**
 * The refresh token grant (OAuth 2.1 §4.3), with the RFC 8707 `resource`
 * again (RFC 8707 §2.2, MCP "Token Handling"). When to refresh, and what a
 * refusal means for the stored credential, is `internal/Refresh.ts`.
 */
import { Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { GrantContext } from "../AuthorizationFlow.ts"
import { resourceParameter, scopeParameter, tokenRequest } from "./TokenRequest.ts"

/** Redeems `refreshToken`; fails as `tokenRequest` does (`invalid_grant` in `oauthError`). */
export const refresh = Effect.fn("AuthorizationFlow.refresh")(function* (
  context: GrantContext,
  refreshToken: Redacted.Redacted<string>
) {
  const { session } = context
  const as = context.authorizationServer.metadata
  return yield* tokenRequest(context, "refreshing the token", async (http, dpop) => {
    const response = await oauth.refreshTokenGrantRequest(
      as,
      session.client,
      session.auth,
      Redacted.value(refreshToken),
      {
        ...http,
        // RFC 8707 §2.2 and the MCP spec: the resource again on refresh.
        additionalParameters: { ...resourceParameter(context), ...scopeParameter(context) },
        ...dpop
      }
    )
    return oauth.processRefreshTokenResponse(as, session.client, response)
  })
})
