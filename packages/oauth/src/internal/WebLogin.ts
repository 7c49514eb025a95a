/**
 * The web UI's login, the code flow split in two: `beginLogin` returns the URL
 * for the browser and keeps the pending login (`PendingLogins`, bound to its
 * `state`, 10 minutes); `completeLogin` takes the URL the browser came back to.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Clock, Effect, Option } from "effect"
import { OAuthError } from "../Errors.ts"
import type { BeginLoginOptions } from "../OAuthManager.ts"
import type { PendingLoginsUnavailable } from "../PendingLogins.ts"
import { grantTypes } from "../Registration.ts"
import * as Login from "./Login.ts"
import { grantContext, load, type ManagerContext } from "./ManagerContext.ts"

const pendingLoginMillis = 10 * 60 * 1000

/** `OAuthManagerShape.beginLogin`: discover, register (checking a stored client), prepare, keep. */
export const beginLogin = (ctx: ManagerContext, server: ServerConfig, begin: BeginLoginOptions) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const discovered = yield* ctx.discovery.discover(server, { wwwAuthenticate: begin.wwwAuthenticate })
    const authorizationServer = discovered.authorizationServer
    const registration = yield* Login.registrationFor(ctx, yield* load(ctx, server), {
      server,
      authorizationServer,
      redirectUri: begin.redirectUri,
      grantTypes: [grantTypes.authorizationCode]
    })
    const scopes = Login.scopesFor(server, discovered, begin.scopes, true)
    const context = yield* grantContext(ctx, server, authorizationServer, registration, {
      resource: discovered.resource,
      scope: scopes.join(" ")
    })
    const authorization = yield* ctx.flows.prepare(context, begin.redirectUri)
    yield* ctx.pendingLogins
      .put({
        server,
        discovered,
        registration,
        scopes,
        authorization,
        expiresAt: now + pendingLoginMillis
      })
      .pipe(Effect.mapError(pendingUnavailable(server.name)))
    return { authorizationUrl: authorization.url.href, state: authorization.state }
  })

/** The shared store of pending logins is out of reach: reason "store", retryable. */
const pendingUnavailable = (server: string) => (error: PendingLoginsUnavailable) =>
  OAuthError.of(server, "store", error.message, { retryable: true })

/** `OAuthManagerShape.completeLogin`: the pending login of the callback's `state`, redeemed and stored. */
export const completeLogin = (ctx: ManagerContext, callbackUrl: string) =>
  Effect.gen(function* () {
    const url = URL.parse(callbackUrl)
    const state = url?.searchParams.get("state") ?? undefined
    const entry =
      state === undefined
        ? Option.none()
        : yield* ctx.pendingLogins.take(state).pipe(Effect.mapError(pendingUnavailable("login")))
    if (url === null || Option.isNone(entry)) {
      return yield* OAuthError.of(
        "login",
        "state-mismatch",
        "this sign-in is unknown or expired (it is valid for 10 minutes); start it again"
      )
    }
    const { server, discovered, registration, scopes, authorization } = entry.value
    return yield* Effect.gen(function* () {
      const context = yield* grantContext(ctx, server, discovered.authorizationServer, registration, {
        resource: discovered.resource,
        scope: scopes.join(" ")
      })
      const response = yield* ctx.flows.complete(context, authorization, url)
      const credential = yield* Login.storeLogin(
        ctx,
        server,
        discovered,
        registration,
        response,
        undefined,
        scopes
      )
      return Login.toResult(server, credential)
    }).pipe(Login.counted(ctx, server.name))
  })
