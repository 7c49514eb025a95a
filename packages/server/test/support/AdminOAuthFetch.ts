/**
 * An `AuthorizedFetch` that authorizes requests to servers with `auth` through
 * `OAuthManager` (the real one of the transport layer is not there yet): the
 * stored token as `Authorization`, and `AuthorizationRequired` when there is
 * none, which `McpConnection` turns into `needs_auth`.
 */

import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import { AuthorizationRequired, AuthorizedFetch, withHeaders } from "@mcpgate/transport/AuthorizedFetch"
import { Effect, Exit, Layer, Redacted } from "effect"

export const layer: Layer.Layer<AuthorizedFetch, never, OAuthManager> = Layer.effect(
  AuthorizedFetch,
  Effect.gen(function* () {
    const oauth = yield* OAuthManager
    return AuthorizedFetch.of({
      forServer: (server) => {
        const base = withHeaders((input, init) => globalThis.fetch(input, init), server.headers)
        if (server.auth === undefined) return base
        return async (input, init) => {
          const url = typeof input === "string" ? input : input.href
          const exit = await Effect.runPromiseExit(
            oauth.authorizationHeaders(server, { method: init?.method ?? "GET", url })
          )
          if (Exit.isFailure(exit)) {
            throw new AuthorizationRequired({
              server: server.name,
              reason: "login",
              message: `${server.name}: not signed in`
            })
          }
          const headers = new Headers(init?.headers)
          headers.set("authorization", Redacted.value(exit.value.authorization))
          if (exit.value.dpop !== undefined) headers.set("dpop", exit.value.dpop)
          return base(input, { ...init, headers })
        }
      }
    })
  })
)
