/**
 * The authorization code grant with PKCE (OAuth 2.1 §4.1, RFC 7636): the
 * authorization request (S256 challenge, `state`, RFC 8707 `resource`,
 * `scope`, `audience`, RFC 9449 §10 `dpop_jkt`), the checks of the response
 * (RFC 6749 §10.12 `state`, RFC 9207 §2.4 `iss`, RFC 6749 §4.1.2.1 `error`)
 * and the code's redemption; and the CLI's whole login through a loopback
 * redirect listener (RFC 8252 §7.3), the browser, or a pasted redirect URL
 * (docs/oauth.md#authorization-code-with-pkce, #cli-redirect).
 */
import { isLoopbackUrl } from "@mcpgate/core/Address"
import { Duration, Effect, Fiber, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { GrantContext, Interaction, PendingAuthorization } from "../AuthorizationFlow.ts"
import type { BrowserShape } from "../Browser.ts"
import { OAuthError } from "../Errors.ts"
import { supportsS256 } from "./AuthorizationServerMetadata.ts"
import { listen } from "./CallbackServer.ts"
import { request, toOAuthError } from "./Http.ts"
import {
  audienceParameter,
  endpoint,
  resourceParameter,
  scopeParameter,
  withDpopRetry
} from "./TokenRequest.ts"

/** Turns an authorization error response (RFC 6749 §4.1.2.1) into a reason. */
const authorizationFailure = (server: string, error: OAuthError): OAuthError =>
  error.oauthError === "access_denied"
    ? OAuthError.of(server, "access-denied", error.message, { oauthError: "access_denied" })
    : error

const defaultTimeout = Duration.minutes(5)

/**
 * The authorization request for the browser (OAuth 2.1 §4.1.1). Fails with
 * reason "pkce-unsupported" when the server's metadata does not list S256
 * (MCP "Authorization Code Protection"), and "discovery" or
 * "insecure-endpoint" for an unusable authorization endpoint.
 */
export const prepare = Effect.fn("AuthorizationFlow.prepare")(function* (
  context: GrantContext,
  redirectUri: string
) {
  const { server, authorizationServer } = context
  const name = server.name
  // MCP "Authorization Code Protection": no S256 in the metadata, no code flow. Without
  // any metadata (2025-03-26 defaults, configured endpoints) there is nothing to check.
  if (authorizationServer.source === "metadata" && !supportsS256(authorizationServer.metadata)) {
    return yield* OAuthError.of(
      name,
      "pkce-unsupported",
      `the authorization server ${authorizationServer.issuer} does not advertise PKCE S256 (code_challenge_methods_supported); refusing the authorization code flow`
    )
  }
  const authorizationEndpoint = yield* endpoint(context, "authorization_endpoint", "authorization endpoint")
  const codeVerifier = oauth.generateRandomCodeVerifier()
  const codeChallenge = yield* Effect.promise(() => oauth.calculatePKCECodeChallenge(codeVerifier))
  const state = oauth.generateRandomState()
  const url = new URL(authorizationEndpoint.href)
  url.searchParams.set("response_type", "code")
  url.searchParams.set("client_id", context.session.client.client_id)
  url.searchParams.set("redirect_uri", redirectUri)
  url.searchParams.set("code_challenge", codeChallenge)
  url.searchParams.set("code_challenge_method", "S256")
  url.searchParams.set("state", state)
  if (context.nonce !== undefined) url.searchParams.set("nonce", context.nonce)
  for (const [key, value] of Object.entries({
    ...scopeParameter(context),
    ...resourceParameter(context),
    ...audienceParameter(context)
  })) {
    url.searchParams.set(key, value)
  }
  if (context.dpop !== undefined) {
    // RFC 9449 §10: bind the code to our DPoP key.
    url.searchParams.set(
      "dpop_jkt",
      yield* Effect.promise(() => context.dpop?.calculateThumbprint() ?? Promise.resolve(""))
    )
  }
  return { url, state, codeVerifier: Redacted.make(codeVerifier), redirectUri }
})

/**
 * Checks the authorization response at `callbackUrl` and redeems its code
 * (OAuth 2.1 §4.1.3). Fails with reason "state-mismatch", "iss-mismatch",
 * "access-denied" or "authorization" for the response, then "token" or,
 * retryable, "network" for the token request.
 */
export const complete = Effect.fn("AuthorizationFlow.complete")(function* (
  context: GrantContext,
  pending: PendingAuthorization,
  callbackUrl: URL
) {
  const { server, authorizationServer, session } = context
  const name = server.name
  const as = authorizationServer.metadata
  const parameters = callbackUrl.searchParams
  // RFC 6749 §10.12: the response must answer our request.
  if (parameters.get("state") !== pending.state) {
    return yield* OAuthError.of(
      name,
      "state-mismatch",
      "the authorization response does not carry the state of this login (a stale or forged redirect); start the login again"
    )
  }
  // RFC 9207 §2.4: compare a present `iss` by simple string comparison, and require
  // it when the server says it sends one (mix-up defence).
  const iss = parameters.get("iss")
  if (iss !== null && iss !== as.issuer) {
    return yield* OAuthError.of(
      name,
      "iss-mismatch",
      `the authorization response comes from the issuer "${iss}", not from "${as.issuer}"; refusing it (RFC 9207)`
    )
  }
  if (iss === null && as.authorization_response_iss_parameter_supported === true) {
    return yield* OAuthError.of(
      name,
      "iss-mismatch",
      `the authorization server ${as.issuer} promises an "iss" in its responses and this one has none; refusing it (RFC 9207)`
    )
  }
  // The `error` response (RFC 6749 §4.1.2.1) and the remaining checks.
  const validated = yield* Effect.try({
    try: () => oauth.validateAuthResponse(as, session.client, parameters, pending.state),
    catch: (error) =>
      authorizationFailure(name, toOAuthError(name, "authorization", "the authorization", error))
  })
  const tokenEndpoint = yield* endpoint(context, "token_endpoint", "token endpoint")
  yield* Effect.logDebug(`${name}: redeeming the authorization code at ${tokenEndpoint.href}`)
  return yield* request(
    name,
    "token",
    `redeeming the authorization code at ${tokenEndpoint.origin}${tokenEndpoint.pathname}`,
    withDpopRetry(context.dpop, async (http) => {
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        session.client,
        session.auth,
        validated,
        pending.redirectUri,
        Redacted.value(pending.codeVerifier),
        {
          ...http,
          additionalParameters: { ...resourceParameter(context), ...audienceParameter(context) },
          ...(context.dpop === undefined ? {} : { DPoP: context.dpop })
        }
      )
      return oauth.processAuthorizationCodeResponse(
        as,
        session.client,
        response,
        context.nonce === undefined ? undefined : { expectedNonce: context.nonce, requireIdToken: true }
      )
    })
  )
})

/**
 * The whole code flow for a person at this machine: a listener on the
 * loopback `redirectUri` (or a pasted redirect URL with `noBrowser`), the
 * browser, the wait (5 minutes by default), then `complete`; the browser's
 * page says how it ended. Fails as `prepare` and `complete` do, and with
 * reason "configuration" (no way to receive the callback), "callback-port",
 * "browser" or "timeout".
 */
export const authorizationCode = Effect.fn("AuthorizationFlow.authorizationCode")(function* (
  browser: BrowserShape,
  context: GrantContext,
  redirectUri: string,
  interaction: Interaction
) {
  const name = context.server.name
  const pending = yield* prepare(context, redirectUri)
  const redirect = new URL(redirectUri)
  const listener =
    redirect.protocol === "http:" && isLoopbackUrl(redirect)
      ? yield* listen(name, {
          host: redirect.hostname === "localhost" ? "127.0.0.1" : redirect.hostname.replace(/^\[|\]$/g, ""),
          port: Number(redirect.port === "" ? 80 : redirect.port),
          path: redirect.pathname,
          redirectUri,
          state: pending.state
        }).pipe(
          // With a pasted URL a busy port is no obstacle: the user pastes instead.
          Effect.catchIf(
            () => interaction.noBrowser === true && interaction.readRedirectUrl !== undefined,
            (error) => Effect.as(Effect.logWarning(error.message), undefined)
          )
        )
      : undefined
  if (listener === undefined && interaction.readRedirectUrl === undefined) {
    return yield* OAuthError.of(
      name,
      "configuration",
      `the redirect URI ${redirectUri} is not a loopback http:// URI this process can listen on, and no pasted redirect URL can be read`
    )
  }
  if (interaction.onAuthorizationUrl !== undefined) yield* interaction.onAuthorizationUrl(pending.url.href)

  // The browser runs beside the wait: a headless one only returns after the callback page.
  const opened =
    interaction.noBrowser === true ? undefined : yield* Effect.forkChild(browser.open(name, pending.url.href))
  const fromListener =
    listener === undefined
      ? Effect.never
      : Effect.map(listener.request, (request) => ({ request, pasted: false }))
  const fromPaste =
    interaction.noBrowser === true && interaction.readRedirectUrl !== undefined
      ? Effect.flatMap(interaction.readRedirectUrl, (text) => {
          const url = URL.parse(text.trim())
          return url === null
            ? Effect.fail(
                OAuthError.of(name, "authorization", "the pasted text is not a URL; paste the whole address")
              )
            : Effect.succeed({ request: { url, reply: () => Effect.void }, pasted: true })
        })
      : Effect.never
  const browserFailure =
    opened === undefined ? Effect.never : Effect.andThen(Fiber.join(opened), Effect.never)
  const timeout = interaction.timeout ?? defaultTimeout
  const { request } = yield* Effect.raceFirst(Effect.raceFirst(fromListener, fromPaste), browserFailure).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          OAuthError.of(
            name,
            "timeout",
            `no authorization arrived within ${Duration.format(Duration.fromInputUnsafe(timeout))}; run the login again (with --no-browser to paste the redirect URL)`
          )
        )
    })
  )
  return yield* complete(context, pending, request.url).pipe(
    Effect.tap(() => request.reply({ ok: true, message: `mcpgate is signed in to ${name}.` })),
    Effect.tapError((error) => request.reply({ ok: false, message: error.message }))
  )
}, Effect.scoped)
