/**
 * The `fetch` handed to the SDK's HTTP client transports (streamable HTTP and SSE).
 *
 * This is the one seam through which credentials reach a remote MCP server. The
 * default layer adds the server's configured static `headers`. The OAuth layer
 * (package `@mcpgate/oauth`, later) replaces it with one that, for servers with
 * `auth`, wraps the same fetch and:
 *   - sets `Authorization: Bearer <token>` from `OAuthManager.accessToken(server)`
 *     (the token stays `Redacted` until this header is written);
 *   - on a 401 asks `OAuthManager.handleChallenge(server, wwwAuthenticate)` to
 *     refresh, then retries the request once (MCP authorization 2025-11-25, "Token
 *     Handling"; RFC 6750 §3.1);
 *   - on a 403 with `error="insufficient_scope"` starts the step-up (never a plain
 *     refresh) and, when it cannot complete without the user, fails the request with
 *     `AuthorizationRequired` or lets the 401/403 response through.
 * `McpConnection` turns a final 401/403 (or a thrown `AuthorizationRequired`) on a
 * server with `auth` into the `needs_auth` state, so the OAuth layer never has to
 * know about connection states.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Context, Layer, Schema } from "effect"

/** The shape of `fetch` the SDK transports accept (`FetchLike` in the SDK). */
export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>

/**
 * Thrown from an authorizing fetch when the server cannot be reached without the
 * user (no credential, refresh refused, step-up needed). The SDK passes it through
 * as the rejection of `connect`/`request`; `McpConnection` recognises it by its tag.
 */
export class AuthorizationRequired extends Schema.TaggedError<AuthorizationRequired>()(
  "AuthorizationRequired",
  {
    server: Schema.String,
    reason: Schema.Literals(["login", "scope"]),
    message: Schema.String
  }
) {}

export interface AuthorizedFetchShape {
  /** The fetch to use for every HTTP request to this server. */
  readonly forServer: (server: ServerConfig) => Fetch
}

/**
 * Adds `headers` to every request, without replacing a header the SDK set itself
 * (protocol headers such as `mcp-session-id` must keep the SDK's value).
 */
export const withHeaders =
  (base: Fetch, headers: Readonly<Record<string, string>>): Fetch =>
  (input, init) => {
    const names = Object.keys(headers)
    if (names.length === 0) return base(input, init)
    const merged = new Headers(init?.headers)
    for (const name of names) {
      const value = headers[name]
      if (value !== undefined && !merged.has(name)) merged.set(name, value)
    }
    return base(input, { ...init, headers: merged })
  }

const globalFetch: Fetch = (input, init) => globalThis.fetch(input, init)

export class AuthorizedFetch extends Context.Service<AuthorizedFetch, AuthorizedFetchShape>()(
  "@mcpgate/transport/AuthorizedFetch"
) {
  /** Static configured headers only (no OAuth). */
  static readonly layer: Layer.Layer<AuthorizedFetch> = Layer.succeed(
    AuthorizedFetch,
    AuthorizedFetch.of({ forServer: (server) => withHeaders(globalFetch, server.headers) })
  )
}
