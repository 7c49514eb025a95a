/**
 * The grants, each one Effect with typed errors, on top of oauth4webapi:
 *
 * - authorization code with PKCE S256 (OAuth 2.1 §4.1, RFC 7636), `state`,
 *   RFC 9207 `iss`, RFC 8707 `resource`; a loopback redirect listener, the
 *   browser (`Browser`), and a pasted redirect URL for machines without one;
 *   split into `prepare`/`complete` for the web UI, whose callback arrives
 *   on another request;
 * - device authorization (RFC 8628) with `authorization_pending`, `slow_down`,
 *   `expired_token` and `access_denied`;
 * - client credentials (OAuth 2.1 §4.2; secret or private_key_jwt);
 * - JWT bearer (RFC 7523 §2.1) and token exchange (RFC 8693), used together by
 *   enterprise-managed authorization (ID-JAG);
 * - refresh (OAuth 2.1 §4.3) and revocation (RFC 7009).
 *
 * Every token request can carry DPoP proofs (RFC 9449 §5) and is retried once
 * with the server's nonce when it asks for one (RFC 9449 §8). A configured
 * `audience` goes with the authorization, code, device and client credentials
 * requests (the parameter Auth0 and similar servers expect).
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { TokenSet } from "@mcpgate/core/Credential"
import { Clock, Context, Duration, Effect, Fiber, Layer, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import { Browser } from "./Browser.ts"
import { type AuthorizationServerInfo, authOf, supportsS256 } from "./Discovery.ts"
import { OAuthError } from "./Errors.ts"
import { listen } from "./internal/CallbackServer.ts"
import { checkEndpoint, type HttpOptions, isLoopbackUrl, request, toOAuthError } from "./internal/Http.ts"
import { type ClientSession, clientSecretBasic, grantTypes } from "./Registration.ts"

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/** What every grant needs: the server, its authorization server, and our client there. */
export interface GrantContext {
  readonly server: ServerConfig
  readonly authorizationServer: AuthorizationServerInfo
  readonly session: ClientSession
  /** RFC 8707 resource indicator; absent when omitted (`auth.resource: "omit"`). */
  readonly resource?: string
  /** Space-separated scopes; absent to let the server decide. */
  readonly scope?: string
  /** `auth.audience`: the API the tokens are for, as Auth0 and similar servers ask for it. */
  readonly audience?: string | undefined
  /** Sender-constrains the tokens (RFC 9449). */
  readonly dpop?: oauth.DPoPHandle
}

/** A code-flow request ready to be sent to the browser. Holds the PKCE verifier: never log it. */
export interface PendingAuthorization {
  readonly url: URL
  readonly state: string
  readonly codeVerifier: Redacted.Redacted<string>
  readonly redirectUri: string
}

/** How the user is reached during an interactive login. */
export interface Interaction {
  /** Print the URL and read the pasted redirect URL instead of opening a browser. */
  readonly noBrowser?: boolean
  /** Told the authorization URL (before the browser opens, or instead of it). */
  readonly onAuthorizationUrl?: (url: string) => Effect.Effect<void>
  /** With `noBrowser`: reads the redirect URL the user pastes (the CLI reads stdin). */
  readonly readRedirectUrl?: Effect.Effect<string>
  /** How long to wait for the callback; default 5 minutes. */
  readonly timeout?: Duration.Input
}

export interface DeviceCodeInfo {
  readonly userCode: string
  readonly verificationUri: string
  readonly verificationUriComplete?: string
  /** Seconds until the code expires. */
  readonly expiresIn: number
}

export interface TokenExchangeRequest {
  /** Names the server in errors. */
  readonly server: string
  /** The identity provider's token endpoint. */
  readonly tokenEndpoint: string
  readonly issuer?: string
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string>
  readonly subjectToken: Redacted.Redacted<string>
  /** e.g. `urn:ietf:params:oauth:token-type:id_token`. */
  readonly subjectTokenType: string
  /** e.g. `urn:ietf:params:oauth:token-type:id-jag`. */
  readonly requestedTokenType?: string
  readonly audience?: string
  readonly resource?: string
  readonly scope?: string
  readonly allowHttp?: boolean
}

export interface ExchangedToken {
  readonly token: Redacted.Redacted<string>
  readonly issuedTokenType?: string
  readonly expiresIn?: number
}

export interface AuthorizationFlowShape {
  /** Builds the authorization request (PKCE S256, `state`, `resource`, `scope`). */
  readonly prepare: (
    context: GrantContext,
    redirectUri: string
  ) => Effect.Effect<PendingAuthorization, OAuthError>
  /** Checks the callback (`state`, `iss`, `error`) and redeems the code. */
  readonly complete: (
    context: GrantContext,
    pending: PendingAuthorization,
    callbackUrl: URL
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /** The whole code flow through a loopback listener on `redirectUri` (or a pasted URL). */
  readonly authorizationCode: (
    context: GrantContext,
    redirectUri: string,
    interaction: Interaction
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  readonly device: (
    context: GrantContext,
    onDeviceCode: (info: DeviceCodeInfo) => Effect.Effect<void>
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  readonly clientCredentials: (
    context: GrantContext
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /** RFC 7523 §2.1: an assertion (e.g. an ID-JAG or a workload JWT) for an access token. */
  readonly jwtBearer: (
    context: GrantContext,
    assertion: Redacted.Redacted<string>
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /** RFC 8693 at an identity provider (not an MCP authorization server). */
  readonly tokenExchange: (request: TokenExchangeRequest) => Effect.Effect<ExchangedToken, OAuthError>
  readonly refresh: (
    context: GrantContext,
    refreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<oauth.TokenEndpointResponse, OAuthError>
  /** RFC 7009; fails with reason "revocation" when the server has no revocation endpoint. */
  readonly revoke: (
    context: GrantContext,
    token: Redacted.Redacted<string>,
    hint: "access_token" | "refresh_token"
  ) => Effect.Effect<void, OAuthError>
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The stored form of a token response; a refresh that returns no refresh token keeps the old one (OAuth 2.1 §4.3.3). */
export const toTokenSet = (
  response: oauth.TokenEndpointResponse,
  now: number,
  previous?: { readonly refreshToken?: Redacted.Redacted<string>; readonly scope?: string }
): TokenSet => {
  const refreshToken =
    response.refresh_token === undefined ? previous?.refreshToken : Redacted.make(response.refresh_token)
  const scope = response.scope ?? previous?.scope
  return new TokenSet({
    accessToken: Redacted.make(response.access_token),
    ...(refreshToken === undefined ? {} : { refreshToken }),
    tokenType: response.token_type.toLowerCase() === "dpop" ? "DPoP" : "Bearer",
    ...(typeof response.expires_in === "number" ? { expiresAt: now + response.expires_in * 1000 } : {}),
    ...(scope === undefined ? {} : { scope })
  })
}

const resourceParameter = (context: GrantContext): Record<string, string> =>
  context.resource === undefined ? {} : { resource: context.resource }

const scopeParameter = (context: GrantContext): Record<string, string> =>
  context.scope === undefined || context.scope === "" ? {} : { scope: context.scope }

const audienceParameter = (context: GrantContext): Record<string, string> =>
  context.audience === undefined ? {} : { audience: context.audience }

/** Runs a token request; once more when the server hands out a DPoP nonce (RFC 9449 §8). */
const withDpopRetry =
  <A>(dpop: oauth.DPoPHandle | undefined, run: (http: HttpOptions) => Promise<A>) =>
  async (http: HttpOptions): Promise<A> => {
    try {
      return await run(http)
    } catch (error) {
      if (dpop !== undefined && oauth.isDPoPNonceError(error)) return run(http)
      throw error
    }
  }

const endpoint = (
  context: GrantContext,
  field:
    | "authorization_endpoint"
    | "token_endpoint"
    | "device_authorization_endpoint"
    | "revocation_endpoint",
  what: string
): Effect.Effect<URL, OAuthError> => {
  const value = context.authorizationServer.metadata[field]
  if (typeof value !== "string") {
    return Effect.fail(
      OAuthError.of(
        context.server.name,
        field === "revocation_endpoint" ? "revocation" : "discovery",
        `the authorization server ${context.authorizationServer.issuer} has no ${what}`
      )
    )
  }
  return checkEndpoint(context.server.name, value, what, authOf(context.server).allowHttp)
}

/** Turns an authorization error response (RFC 6749 §4.1.2.1) into a reason. */
const authorizationFailure = (server: string, error: OAuthError): OAuthError =>
  error.oauthError === "access_denied"
    ? OAuthError.of(server, "access-denied", error.message, { oauthError: "access_denied" })
    : error

const defaultTimeout = Duration.minutes(5)

/** Seconds; the device flow's polling interval never grows past this after network errors. */
const maxDeviceInterval = 60

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

export const make = Effect.gen(function* () {
  const browser = yield* Browser

  const prepare = Effect.fn("AuthorizationFlow.prepare")(function* (
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

  const complete = Effect.fn("AuthorizationFlow.complete")(function* (
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
        return oauth.processAuthorizationCodeResponse(as, session.client, response)
      })
    )
  })

  const authorizationCode = Effect.fn("AuthorizationFlow.authorizationCode")(function* (
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
      interaction.noBrowser === true
        ? undefined
        : yield* Effect.forkChild(browser.open(name, pending.url.href))
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
                  OAuthError.of(
                    name,
                    "authorization",
                    "the pasted text is not a URL; paste the whole address"
                  )
                )
              : Effect.succeed({ request: { url, reply: () => Effect.void }, pasted: true })
          })
        : Effect.never
    const browserFailure =
      opened === undefined ? Effect.never : Effect.andThen(Fiber.join(opened), Effect.never)
    const timeout = interaction.timeout ?? defaultTimeout
    const { request } = yield* Effect.raceFirst(
      Effect.raceFirst(fromListener, fromPaste),
      browserFailure
    ).pipe(
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

  const device = Effect.fn("AuthorizationFlow.device")(function* (
    context: GrantContext,
    onDeviceCode: (info: DeviceCodeInfo) => Effect.Effect<void>
  ) {
    const { server, authorizationServer, session } = context
    const name = server.name
    const as = authorizationServer.metadata
    const deviceEndpoint = yield* endpoint(
      context,
      "device_authorization_endpoint",
      "device authorization endpoint"
    )
    const started = yield* request(
      name,
      "authorization",
      `starting the device authorization at ${deviceEndpoint.origin}${deviceEndpoint.pathname}`,
      async (http) => {
        const response = await oauth.deviceAuthorizationRequest(
          as,
          session.client,
          session.auth,
          { ...scopeParameter(context), ...resourceParameter(context), ...audienceParameter(context) },
          http
        )
        return oauth.processDeviceAuthorizationResponse(as, session.client, response)
      }
    )
    yield* onDeviceCode({
      userCode: started.user_code,
      verificationUri: started.verification_uri,
      ...(started.verification_uri_complete === undefined
        ? {}
        : { verificationUriComplete: started.verification_uri_complete }),
      expiresIn: started.expires_in
    })
    const deadline = (yield* Clock.currentTimeMillis) + started.expires_in * 1000
    const deviceCode = Redacted.make(started.device_code)
    // RFC 8628 §3.5: 5 s unless told otherwise; `slow_down` adds 5 s for good.
    let interval = typeof started.interval === "number" && started.interval > 0 ? started.interval : 5
    for (;;) {
      yield* Effect.sleep(Duration.seconds(interval))
      if ((yield* Clock.currentTimeMillis) >= deadline) {
        return yield* OAuthError.of(
          name,
          "timeout",
          "the device code expired before the login was approved; start again"
        )
      }
      const polled = yield* request(
        name,
        "token",
        "polling the token endpoint",
        withDpopRetry(context.dpop, async (http) => {
          const response = await oauth.deviceCodeGrantRequest(
            as,
            session.client,
            session.auth,
            Redacted.value(deviceCode),
            {
              ...http,
              additionalParameters: resourceParameter(context),
              ...(context.dpop === undefined ? {} : { DPoP: context.dpop })
            }
          )
          return oauth.processDeviceCodeResponse(as, session.client, response)
        })
      ).pipe(Effect.result)
      if (polled._tag === "Success") return polled.success
      const error = polled.failure
      switch (error.oauthError) {
        case "authorization_pending":
          continue
        case "slow_down":
          interval += 5
          yield* Effect.logDebug(`${name}: the server asked to poll more slowly (every ${interval} s)`)
          continue
        case "expired_token":
          return yield* OAuthError.of(
            name,
            "timeout",
            "the device code expired before the login was approved; start again",
            {
              oauthError: "expired_token"
            }
          )
        case "access_denied":
          return yield* OAuthError.of(name, "access-denied", "the login was denied on the device page", {
            oauthError: "access_denied"
          })
      }
      if (error.retryable) {
        // RFC 8628 §3.5: poll less often after a failed request (doubling, as it recommends).
        interval = Math.min(interval * 2, maxDeviceInterval)
        yield* Effect.logWarning(`${error.message}; polling again in ${interval} s`)
        continue
      }
      return yield* error
    }
  })

  const tokenRequest = (
    context: GrantContext,
    what: string,
    run: (http: HttpOptions, dpop: { DPoP?: oauth.DPoPHandle }) => Promise<oauth.TokenEndpointResponse>
  ) =>
    Effect.gen(function* () {
      const tokenEndpoint = yield* endpoint(context, "token_endpoint", "token endpoint")
      return yield* request(
        context.server.name,
        "token",
        `${what} at ${tokenEndpoint.origin}${tokenEndpoint.pathname}`,
        withDpopRetry(context.dpop, (http) =>
          run(http, context.dpop === undefined ? {} : { DPoP: context.dpop })
        )
      )
    })

  const clientCredentials = Effect.fn("AuthorizationFlow.clientCredentials")(function* (
    context: GrantContext
  ) {
    const { session } = context
    const as = context.authorizationServer.metadata
    return yield* tokenRequest(context, "the client credentials grant", async (http, dpop) => {
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        session.client,
        session.auth,
        { ...scopeParameter(context), ...resourceParameter(context), ...audienceParameter(context) },
        { ...http, ...dpop }
      )
      return oauth.processClientCredentialsResponse(as, session.client, response)
    })
  })

  const jwtBearer = Effect.fn("AuthorizationFlow.jwtBearer")(function* (
    context: GrantContext,
    assertion: Redacted.Redacted<string>
  ) {
    const { session } = context
    const as = context.authorizationServer.metadata
    return yield* tokenRequest(context, "the JWT bearer grant", async (http, dpop) => {
      const response = await oauth.genericTokenEndpointRequest(
        as,
        session.client,
        session.auth,
        grantTypes.jwtBearer,
        { assertion: Redacted.value(assertion), ...scopeParameter(context), ...resourceParameter(context) },
        { ...http, ...dpop }
      )
      return oauth.processGenericTokenEndpointResponse(as, session.client, response)
    })
  })

  const tokenExchange = Effect.fn("AuthorizationFlow.tokenExchange")(function* (
    exchange: TokenExchangeRequest
  ) {
    const target = yield* checkEndpoint(
      exchange.server,
      exchange.tokenEndpoint,
      "identity provider token endpoint",
      exchange.allowHttp ?? false
    )
    const as: oauth.AuthorizationServer = {
      issuer: exchange.issuer ?? target.origin,
      token_endpoint: target.href
    }
    const client: oauth.Client = { client_id: exchange.clientId }
    const auth =
      exchange.clientSecret === undefined
        ? oauth.None()
        : clientSecretBasic(Redacted.value(exchange.clientSecret))
    const response = yield* request(
      exchange.server,
      "token",
      `the token exchange at ${target.origin}${target.pathname}`,
      async (http) => {
        const answer = await oauth.genericTokenEndpointRequest(
          as,
          client,
          auth,
          grantTypes.tokenExchange,
          {
            subject_token: Redacted.value(exchange.subjectToken),
            subject_token_type: exchange.subjectTokenType,
            ...(exchange.requestedTokenType === undefined
              ? {}
              : { requested_token_type: exchange.requestedTokenType }),
            ...(exchange.audience === undefined ? {} : { audience: exchange.audience }),
            ...(exchange.resource === undefined ? {} : { resource: exchange.resource }),
            ...(exchange.scope === undefined ? {} : { scope: exchange.scope })
          },
          http
        )
        // RFC 8693 §2.2.1: an issued token that is not an access token has token_type "N_A".
        return oauth.processGenericTokenEndpointResponse(as, client, answer, {
          recognizedTokenTypes: { n_a: () => undefined }
        })
      }
    )
    return {
      token: Redacted.make(response.access_token),
      ...(typeof response.issued_token_type === "string"
        ? { issuedTokenType: response.issued_token_type }
        : {}),
      ...(typeof response.expires_in === "number" ? { expiresIn: response.expires_in } : {})
    }
  })

  const refresh = Effect.fn("AuthorizationFlow.refresh")(function* (
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

  const revoke = Effect.fn("AuthorizationFlow.revoke")(function* (
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

  return {
    prepare,
    complete,
    authorizationCode,
    device,
    clientCredentials,
    jwtBearer,
    tokenExchange,
    refresh,
    revoke
  } satisfies AuthorizationFlowShape
})

export class AuthorizationFlow extends Context.Service<AuthorizationFlow, AuthorizationFlowShape>()(
  "@mcpgate/oauth/AuthorizationFlow"
) {
  /** Needs a `Browser` (`Browser.layer` for people, `Browser.layerFollowRedirects` for robots). */
  static readonly layer: Layer.Layer<AuthorizationFlow, never, Browser> = Layer.effect(
    AuthorizationFlow,
    make
  )
}
