/**
 * A server's OAuth settings as the other modules read them: its `auth` with
 * the defaults filled in, and its canonical URL (RFC 8707 §2).
 */
import { type AuthConfig, defaults, type ServerConfig } from "@mcpgate/core/Config"
import { canonicalUrl } from "@mcpgate/core/Credential"
import { Effect } from "effect"
import { OAuthError } from "../Errors.ts"

/**
 * `auth` with its defaults, for servers configured without an `auth` block
 * (OAuth found from a 401, docs/oauth.md#overview).
 */
export const authOf = (server: ServerConfig): AuthConfig =>
  server.auth ?? {
    type: "oauth2",
    resource: defaults.resource,
    flow: defaults.flow,
    signingAlgorithm: defaults.signingAlgorithm,
    allowHttp: false
  }

/**
 * The canonical server URI (RFC 8707 §2: no trailing slash, no fragment).
 * Fails with reason "configuration" for a server without a valid `url`.
 */
export const serverUrlOf = (server: ServerConfig): Effect.Effect<string, OAuthError> =>
  server.url === undefined || !URL.canParse(server.url)
    ? Effect.fail(
        OAuthError.of(
          server.name,
          "configuration",
          "OAuth needs an HTTP server with a valid `url`; this one has none"
        )
      )
    : Effect.succeed(canonicalUrl(server.url))
