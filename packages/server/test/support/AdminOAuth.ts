/**
 * OAuth pieces for the admin API tests, on the shared test servers (@mcpgate/testing):
 * a real authorization server (oidc-provider, auto-consent) in front of a real
 * protected MCP server, and a headless "browser" that follows the
 * authorization URL through the consent redirects up to the redirect back to
 * the gateway.
 */

import * as AuthServer from "@mcpgate/testing/AuthServer"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import { Effect, type Scope } from "effect"

export { allIssuedTokens } from "@mcpgate/testing/AuthServer"

export interface OAuthServers {
  readonly as: AuthServer.AuthServer
  readonly mcp: ProtectedMcpServer.ProtectedMcpServer
}

/** The authorization server and the MCP server it protects. */
export const startServers: Effect.Effect<OAuthServers, never, Scope.Scope> = Effect.gen(function* () {
  let resource = ""
  const as = yield* AuthServer.start({ resource: () => resource })
  const mcp = yield* ProtectedMcpServer.start({ issuer: () => as.issuer })
  resource = mcp.url
  return { as, mcp }
})

export { redirectFor } from "@mcpgate/testing/Harness"

/** Polls `condition` every few milliseconds of real time (for what happens in another server). */
export const eventually = (condition: () => boolean, what: string, timeoutMillis = 10_000) =>
  Effect.promise(async () => {
    const started = Date.now()
    while (!condition()) {
      if (Date.now() - started > timeoutMillis) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })
