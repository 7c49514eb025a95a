/**
 * The gateway as an OpenID Connect relying party for its own users
 * (docs/teams.md#sign-in): authorization code with PKCE S256, `state` and
 * `nonce` (Core §3.1.2.1) at the endpoints of the issuer's metadata, the code
 * redeemed with the gateway's client (its secret when it has one), and the ID
 * token checked against the issuer's keys (Core §3.1.3.7: `iss`, `aud` = the
 * client id, `exp`, `nonce`). Where the pending sign-in waits is the caller's.
 */
import { Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import { type GrantContext, make as makeFlow } from "./AuthorizationFlow.ts"
import { Browser } from "./Browser.ts"
import * as Discovery from "./Discovery.ts"
import { OAuthError } from "./Errors.ts"
import { issuerEntry, type ResourceServerShape, type TokenRejected } from "./ResourceServer.ts"

export interface OidcSignInOptions {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** `<publicUrl>/signin/callback`: registered at the provider. */
  readonly redirectUri: string
  /** Checks the ID token (the same keys as the access tokens). */
  readonly resourceServer: ResourceServerShape
}

/** A sign-in between the redirect to the provider and its callback: as secret as a token. */
export interface StartedSignIn {
  readonly url: string
  readonly state: string
  readonly codeVerifier: Redacted.Redacted<string>
  readonly nonce: string
}

export interface OidcSignIn {
  readonly begin: Effect.Effect<StartedSignIn, OAuthError>
  /** The ID token's claims, once the code is redeemed and the token checked. */
  readonly complete: (
    callbackUrl: URL,
    started: Omit<StartedSignIn, "url">
  ) => Effect.Effect<Readonly<Record<string, unknown>>, OAuthError | TokenRejected>
}

/** OpenID Connect's own scopes the issuer offers (standard ones assumed when it lists none). */
const scopeOf = (metadata: oauth.AuthorizationServer): string => {
  const supported = metadata.scopes_supported
  const extra = ["profile", "email"].filter((scope) => supported === undefined || supported.includes(scope))
  return ["openid", ...extra].join(" ")
}

export const make = (options: OidcSignInOptions): Effect.Effect<OidcSignIn> =>
  Effect.gen(function* () {
    const discovery = yield* Discovery.make
    // Only `prepare` and `complete` are used: the browser is the user's, never opened here.
    const flow = yield* makeFlow.pipe(Effect.provide(Browser.layerFollowRedirects))
    const server = issuerEntry(options.issuer)
    const context = (nonce: string) =>
      Effect.map(
        discovery.authorizationServer(server, options.issuer),
        (authorizationServer): GrantContext => ({
          server,
          authorizationServer,
          session: {
            client: { client_id: options.clientId },
            auth:
              options.clientSecret === undefined
                ? oauth.None()
                : oauth.ClientSecretBasic(Redacted.value(options.clientSecret))
          },
          scope: scopeOf(authorizationServer.metadata),
          nonce
        })
      )
    return {
      begin: Effect.gen(function* () {
        const nonce = oauth.generateRandomNonce()
        const prepared = yield* flow.prepare(yield* context(nonce), options.redirectUri)
        return { url: prepared.url.href, state: prepared.state, codeVerifier: prepared.codeVerifier, nonce }
      }),
      complete: (callbackUrl, started) =>
        Effect.gen(function* () {
          const tokens = yield* flow.complete(
            yield* context(started.nonce),
            {
              url: callbackUrl,
              state: started.state,
              codeVerifier: started.codeVerifier,
              redirectUri: options.redirectUri
            },
            callbackUrl
          )
          if (tokens.id_token === undefined) {
            return yield* OAuthError.of("server.auth", "token", "the identity provider sent no ID token")
          }
          return yield* options.resourceServer.verifyIdToken(tokens.id_token, started.nonce)
        })
    }
  })
