/**
 * The admin tests' `AuthorizedFetch`: the transport's real one
 * (`AuthorizedFetch.layerOAuth`), which authorizes requests to servers with
 * `auth` through `OAuthManager` and turns "needs a login" into
 * `AuthorizationRequired`, so `McpConnection` reports `needs_auth`.
 */
import { layerOAuth } from "@mcpgate/transport/AuthorizedFetch"

export const layer = layerOAuth
