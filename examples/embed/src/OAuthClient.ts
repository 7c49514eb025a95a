/**
 * Part 2: `OAuthManager` with the host's own `CredentialStore`, against an
 * OAuth-protected MCP server (src/local/ProtectedServer.ts). The server is
 * configured as in mcpgate.json, with the client credentials grant (no person
 * in the loop). The manager discovers the authorization server from the MCP
 * server (RFC 9728, RFC 8414), gets a token for it, and keeps it in the host's
 * store; the client manager then calls a tool with that token through
 * `AuthorizedFetch.layerOAuth`, which refreshes on expiry and on a 401.
 */
import { ConfigFile, CredentialStore } from "@mcpgate/core"
import { Browser, OAuthManager } from "@mcpgate/oauth"
import { AuthorizedFetch, McpClientManager } from "@mcpgate/transport"
import { Console, Effect, Layer } from "effect"
import * as HostCredentialStore from "./HostCredentialStore.ts"
import * as ProtectedServer from "./local/ProtectedServer.ts"

export const run = Effect.scoped(
  Effect.gen(function* () {
    const local = yield* ProtectedServer.start
    const config = yield* ConfigFile.parse(
      JSON.stringify({
        mcpServers: {
          notes: {
            url: local.url,
            auth: {
              type: "oauth2",
              flow: "client_credentials",
              clientId: local.clientId,
              clientSecret: local.clientSecret
            }
          }
        }
      }),
      "part 2 config"
    )
    const notes = config.mcpServers.notes
    if (notes === undefined) return yield* Effect.die("the config has no server named notes")

    // The host's store under the manager; `Browser.layer` is only used by browser logins.
    const oauthLayer = OAuthManager.OAuthManager.layer().pipe(
      Layer.provide(Browser.Browser.layer),
      Layer.provideMerge(HostCredentialStore.layer)
    )
    const managerLayer = McpClientManager.McpClientManager.layer(config).pipe(
      Layer.provide(AuthorizedFetch.layerOAuth)
    )

    yield* Effect.gen(function* () {
      const oauth = yield* OAuthManager.OAuthManager
      const login = yield* oauth.login(notes)
      const status = yield* oauth.status(notes)
      const stored = yield* (yield* CredentialStore.CredentialStore).list

      // The client manager connects with the stored token (and would refresh it).
      const result = yield* Effect.gen(function* () {
        const manager = yield* McpClientManager.McpClientManager
        yield* manager.awaitSettled
        return yield* manager.call("notes__whoami", {})
      }).pipe(Effect.provide(managerLayer))

      yield* Console.log(
        `[2/3] OAuthManager: logged in to notes at ${login.issuer} (${login.registrationMethod}, client ${login.clientId}), status "${status.summary}"; the host's store holds ${stored.length} credential(s); notes__whoami answered "${result.text}" (${local.issuedTokens()} token(s) issued)`
      )
    }).pipe(Effect.provide(oauthLayer))
  })
)
