/**
 * Valid access tokens: the stored one while it has time left, else a refresh.
 *
 * A refresh runs once per credential at a time: in this process (concurrent
 * callers share one, `ManagerContext.refreshes`) and across processes
 * (`CredentialStore.withLock`, re-reading the credential inside the lock so a
 * token another process just refreshed is used instead). A rotated refresh
 * token is stored before the new access token is handed out.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { ClientRegistration, Credential, TokenSet } from "@mcpgate/core/Credential"
import * as Metrics from "@mcpgate/core/Metrics"
import { Cache, Clock, Effect, Equal, Fiber, FiberSet, Hash, Option, Random, type Redacted } from "effect"
import { authOf } from "../Discovery.ts"
import { NeedsLogin, OAuthError } from "../Errors.ts"
import type { UnauthorizedResponse } from "../OAuthManager.ts"
import { grantTypes } from "../Registration.ts"
import { resourceChallenge } from "../WwwAuthenticate.ts"
import * as DpopState from "./DpopState.ts"
import * as Login from "./Login.ts"
import {
  authorizationServerOf,
  grantContext,
  keepUnsaved,
  keyString,
  load,
  locked,
  type ManagerContext,
  sameIssuer,
  sameSecret,
  sameTokens,
  save,
  withFields,
  withinLockBudget
} from "./ManagerContext.ts"
import { toTokenSet } from "./TokenRequest.ts"

/**
 * A refresh asked for: the server, and the token the caller found expiring or
 * was refused with. Requests for the same credential are equal, so callers
 * arriving while one runs share it (`Cache` single-flight).
 */
export class RefreshRequest implements Equal.Equal {
  readonly key: string
  readonly server: ServerConfig
  readonly seen: Redacted.Redacted<string> | undefined
  constructor(server: ServerConfig, seen: Redacted.Redacted<string> | undefined) {
    this.key = keyString(server)
    this.server = server
    this.seen = seen
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof RefreshRequest && that.key === this.key
  }
  [Hash.symbol](): number {
    return Hash.string(this.key)
  }
}

/**
 * True when the token should be renewed now: expiry within the margin plus
 * jitter, but never more than half the token's life (`obtainedAt` is when the
 * credential was saved), or a token shorter-lived than the margin would be
 * refreshed on every use (the soak saw one refresh per request at 5 s tokens).
 */
const expiring = (ctx: ManagerContext, tokens: TokenSet, obtainedAt: number) =>
  Effect.gen(function* () {
    if (tokens.expiresAt === undefined) return false
    const { marginMillis, jitterMillis } = ctx.settings
    const now = yield* Clock.currentTimeMillis
    const jitter = jitterMillis <= 0 ? 0 : yield* Random.nextIntBetween(0, jitterMillis)
    const halfLife = Math.max(0, (tokens.expiresAt - obtainedAt) / 2)
    return tokens.expiresAt - now <= Math.min(marginMillis + jitter, halfLife)
  })

/** Usable now: not about to expire, and (DPoP-bound tokens) stored with their key. */
const fresh = (ctx: ManagerContext, credential: Credential, tokens: TokenSet) =>
  DpopState.usable(tokens)
    ? Effect.map(expiring(ctx, tokens, credential.updatedAt), (soon) => !soon)
    : Effect.succeed(false)

/**
 * Runs `replace` only while the store still holds what `failed` held (the same
 * client and tokens): the authorization server refused those, not whatever
 * another process (or an installation the lock does not cover) stored since.
 * When something newer is stored, its tokens are used if they are fresh, and
 * nothing is deleted.
 */
const unlessReplaced = <A, E>(
  ctx: ManagerContext,
  server: ServerConfig,
  failed: Credential,
  replace: (current: Credential) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const current = yield* load(ctx, server)
    if (
      current !== undefined &&
      current.registration?.clientId === failed.registration?.clientId &&
      sameTokens(current.tokens, failed.tokens)
    ) {
      return yield* replace(current)
    }
    if (current?.tokens === undefined) return yield* NeedsLogin.of(server.name, "not logged in")
    if (yield* fresh(ctx, current, current.tokens)) {
      yield* Effect.logInfo(`${server.name}: another process stored new tokens meanwhile; using those`)
      return current.tokens
    }
    return yield* OAuthError.of(
      server.name,
      "token",
      "the credential was replaced while it was being refreshed; try again",
      { retryable: true }
    )
  })

/** The client credentials grant with the stored registration (machine clients have no refresh token). */
const renewMachineToken = (
  ctx: ManagerContext,
  server: ServerConfig,
  credential: Credential,
  registration: ClientRegistration
) =>
  Effect.gen(function* () {
    const authorizationServer = yield* authorizationServerOf(ctx, server, credential)
    const scope = credential.tokens?.scope ?? authOf(server).scopes?.join(" ")
    const context = yield* grantContext(ctx, server, authorizationServer, registration, {
      resource: credential.resource,
      scope
    })
    const response = yield* ctx.flows.clientCredentials(context)
    const tokens = toTokenSet(response, yield* Clock.currentTimeMillis)
    yield* save(ctx, server, withFields(credential, { tokens }, yield* Clock.currentTimeMillis))
    return tokens
  })

/** A machine client's renewal, registering a forgotten dynamic client again (no user needed). */
const renewMachine = (
  ctx: ManagerContext,
  server: ServerConfig,
  credential: Credential,
  registration: ClientRegistration
) =>
  renewMachineToken(ctx, server, credential, registration).pipe(
    Effect.catchIf(
      (error) => error.oauthError === "invalid_client" && registration.method === "dcr",
      () =>
        unlessReplaced(ctx, server, credential, (current) =>
          Effect.gen(function* () {
            yield* Effect.logWarning(
              `${server.name}: the authorization server no longer knows the client; registering again`
            )
            const replaced = yield* ctx.registrations.register({
              server,
              authorizationServer: yield* authorizationServerOf(ctx, server, current),
              grantTypes: [grantTypes.clientCredentials]
            })
            const updated = withFields(
              current,
              { registration: replaced, tokens: undefined },
              yield* Clock.currentTimeMillis
            )
            yield* save(ctx, server, updated)
            return yield* renewMachineToken(ctx, server, updated, replaced)
          })
        )
    )
  )

/**
 * The refresh itself, inside the credential lock. `seen` is the token the
 * caller found expiring or was refused with: a different, still-valid
 * stored token means another fiber or process refreshed meanwhile.
 */
const refreshLocked = (
  ctx: ManagerContext,
  server: ServerConfig,
  seen: Redacted.Redacted<string> | undefined
) =>
  Effect.gen(function* () {
    const name = server.name
    const credential = yield* load(ctx, server)
    const auth = authOf(server)
    if (credential === undefined || credential.registration === undefined) {
      if (auth.flow === "client_credentials") {
        const result = yield* Login.login(ctx, server, { flow: "client_credentials" })
        return result.tokens
      }
      return yield* NeedsLogin.of(name, "not logged in")
    }
    const registration = credential.registration
    const tokens = credential.tokens
    if (
      tokens !== undefined &&
      (seen === undefined || !sameSecret(tokens.accessToken, seen)) &&
      (yield* fresh(ctx, credential, tokens))
    ) {
      yield* Effect.logDebug(`${name}: using the token another process or fiber refreshed`)
      return tokens
    }
    if (tokens?.refreshToken === undefined) {
      if (auth.flow === "client_credentials")
        return yield* renewMachine(ctx, server, credential, registration)
      return yield* NeedsLogin.of(
        name,
        tokens === undefined ? "not logged in" : "the access token expired and there is no refresh token"
      )
    }
    const refreshToken = tokens.refreshToken
    const authorizationServer = yield* authorizationServerOf(ctx, server, credential)
    const dpop = yield* DpopState.keyForRefresh(
      ctx,
      server,
      tokens,
      authorizationServer.metadata.dpop_signing_alg_values_supported
    )
    const context = yield* grantContext(ctx, server, authorizationServer, registration, {
      resource: credential.resource,
      dpop
    })
    yield* Effect.logInfo(`${name}: refreshing the access token`)
    // Once the answer is in, storing it is not interrupted (by the lock budget or a
    // caller): the authorization server has rotated the refresh token by then.
    const refreshed = yield* Effect.uninterruptibleMask((restore) =>
      restore(ctx.flows.refresh(context, refreshToken)).pipe(
        Effect.flatMap((response) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const next = DpopState.bound(toTokenSet(response, now, tokens), dpop)
            const updated = withFields(credential, { tokens: next }, now)
            // The rotated refresh token is saved before anyone gets the new access token;
            // when the save fails it is kept in memory rather than lost (see `unsaved`).
            yield* save(ctx, server, updated).pipe(
              Effect.catch((error) =>
                Effect.andThen(
                  keepUnsaved(ctx, server, updated, tokens),
                  Effect.logWarning(
                    `${error.message}; keeping the refreshed tokens in memory and saving them again on next use`
                  )
                )
              )
            )
            return next
          })
        ),
        Effect.result
      )
    )
    if (refreshed._tag === "Success") return refreshed.success
    const now = yield* Clock.currentTimeMillis
    const error = refreshed.failure
    if (error.retryable) {
      yield* Effect.logWarning(`${error.message}; keeping the credential for a later retry`)
      return yield* error
    }
    if (error.oauthError === "invalid_grant") {
      return yield* unlessReplaced(ctx, server, credential, (current) =>
        Effect.andThen(
          save(ctx, server, withFields(current, { tokens: undefined }, now)),
          NeedsLogin.of(name, "the authorization server no longer accepts the refresh token")
        )
      )
    }
    if (error.oauthError === "invalid_client" || error.status === 401) {
      if (registration.method === "dcr") {
        // The server forgot our client: register again now; the grant belonged to the old client.
        return yield* unlessReplaced(ctx, server, credential, (current) =>
          Effect.gen(function* () {
            const replaced = yield* ctx.registrations
              .register({
                server,
                authorizationServer,
                redirectUri: registration.redirectUris[0],
                grantTypes: Login.grantsFor(auth.flow)
              })
              .pipe(Effect.option)
            yield* save(
              ctx,
              server,
              withFields(
                current,
                { tokens: undefined, ...(Option.isSome(replaced) ? { registration: replaced.value } : {}) },
                now
              )
            )
            return yield* NeedsLogin.of(
              name,
              `the authorization server no longer knows the client ${registration.clientId}${Option.isSome(replaced) ? " (a new one is registered)" : ""}`
            )
          })
        )
      }
      return yield* OAuthError.of(
        name,
        "token",
        `the authorization server refused the configured client ${registration.clientId} (${error.oauthError ?? `HTTP ${error.status}`}); check auth.clientId and auth.clientSecret`,
        { oauthError: error.oauthError }
      )
    }
    return yield* error
  })

/**
 * The lookup of `ManagerContext.refreshes`: the refresh runs in the service's
 * own fiber set, so a caller that gives up (interrupted) does not cancel it
 * for the others.
 */
export const runRefresh = (ctx: ManagerContext, request: RefreshRequest) =>
  FiberSet.run(
    ctx.fibers,
    locked(
      ctx,
      request.server,
      withinLockBudget(ctx, request.server, refreshLocked(ctx, request.server, request.seen))
    ).pipe(
      Effect.onExit((exit) => {
        const outcome = Metrics.outcomeOf(exit, (error) => error._tag)
        const server = request.server.name
        return Effect.andThen(
          Metrics.increment(Metrics.oauthRefreshes, { server, outcome }),
          outcome === "ok" ? Effect.void : ctx.audit({ kind: "refresh-failure", server, outcome })
        )
      }),
      Effect.withSpan("oauth.refresh", { attributes: { "mcpgate.mcp_server": request.server.name } })
    )
  ).pipe(Effect.flatMap(Fiber.join))

/** One refresh per credential in this process; concurrent callers wait for it. */
const refresh = (ctx: ManagerContext, server: ServerConfig, seen: Redacted.Redacted<string> | undefined) =>
  Cache.get(ctx.refreshes, new RefreshRequest(server, seen))

/** The stored tokens while they are fresh, else refreshed ones. */
export const currentTokens = (ctx: ManagerContext, server: ServerConfig) =>
  Effect.gen(function* () {
    const credential = yield* load(ctx, server)
    const tokens = credential?.tokens
    if (credential === undefined || tokens === undefined) {
      if (authOf(server).flow === "client_credentials") return yield* refresh(ctx, server, undefined)
      return yield* NeedsLogin.of(server.name, "not logged in")
    }
    if (yield* fresh(ctx, credential, tokens)) return tokens
    return yield* refresh(ctx, server, tokens.accessToken)
  })

/** After a 401: the token to retry with (a newer stored one, or a refreshed one). */
export const onUnauthorized = (ctx: ManagerContext, server: ServerConfig, response: UnauthorizedResponse) =>
  Effect.gen(function* () {
    const name = server.name
    const challenge = resourceChallenge(response.wwwAuthenticate)
    const credential = yield* load(ctx, server)
    const tokens = credential?.tokens
    // RFC 9449 §9: not a token problem; retry with the server's nonce.
    if (challenge?.error === "use_dpop_nonce" && response.dpopNonce && tokens !== undefined) {
      yield* DpopState.rememberNonce(ctx, server, response.dpopNonce)
      return tokens.accessToken
    }
    if (credential === undefined || tokens === undefined) {
      if (authOf(server).flow === "client_credentials")
        return (yield* refresh(ctx, server, undefined)).accessToken
      return yield* NeedsLogin.of(name, "not logged in")
    }
    if (
      response.rejectedToken !== undefined &&
      !sameSecret(tokens.accessToken, response.rejectedToken) &&
      (yield* fresh(ctx, credential, tokens))
    ) {
      return tokens.accessToken
    }
    // SEP-2352: the resource may now name another authorization server; its
    // credentials are never presented elsewhere, so the old ones go.
    if (challenge?.resourceMetadata !== undefined && credential.issuer !== undefined) {
      const rediscovered = yield* Effect.result(
        ctx.discovery.discover(server, { wwwAuthenticate: response.wwwAuthenticate, probe: false })
      )
      if (
        rediscovered._tag === "Success" &&
        !sameIssuer(credential.issuer, rediscovered.success.authorizationServer.issuer)
      ) {
        const issuer = rediscovered.success.authorizationServer.issuer
        const tokens = yield* locked(
          ctx,
          server,
          unlessReplaced(ctx, server, credential, (current) =>
            Effect.gen(function* () {
              const now = yield* Clock.currentTimeMillis
              yield* save(
                ctx,
                server,
                withFields(current, { issuer: undefined, registration: undefined, tokens: undefined }, now)
              )
              return yield* NeedsLogin.of(
                name,
                `the server now uses the authorization server ${issuer} instead of ${credential.issuer}`
              )
            })
          )
        )
        return tokens.accessToken
      }
      if (rediscovered._tag === "Failure") yield* Effect.logDebug(rediscovered.failure.message)
    }
    return (yield* refresh(ctx, server, response.rejectedToken ?? tokens.accessToken)).accessToken
  })
