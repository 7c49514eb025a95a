/**
 * What `status` shows about a server's authorization (never a secret), and
 * `logout`: revoke what the authorization server can revoke (RFC 7009), then
 * delete the credential.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { Credential } from "@mcpgate/core/Credential"
import { Clock, Effect } from "effect"
import { authOf } from "../Discovery.ts"
import { loginCommand } from "../Errors.ts"
import type { AuthStatus, LogoutResult } from "../OAuthManager.ts"
import { splitScopes } from "../WwwAuthenticate.ts"
import {
  authorizationServerOf,
  deleteEntry,
  getEntry,
  grantContext,
  keyFor,
  keyString,
  load,
  locked,
  type ManagerContext,
  storeError
} from "./ManagerContext.ts"

const formatIn = (millis: number): string => {
  if (millis < 60_000) return `${Math.max(0, Math.round(millis / 1000))} s`
  if (millis < 2 * 60 * 60_000) return `${Math.round(millis / 60_000)} min`
  if (millis < 2 * 24 * 60 * 60_000) return `${Math.round(millis / (60 * 60_000))} h`
  return `${Math.round(millis / (24 * 60 * 60_000))} days`
}

/** `OAuthManagerShape.status`: from the stored credential and the scopes a step-up could not get. */
export const status = (ctx: ManagerContext, server: ServerConfig) =>
  Effect.gen(function* () {
    const name = server.name
    const credential = yield* load(ctx, server)
    const now = yield* Clock.currentTimeMillis
    const registration = credential?.registration
    const tokens = credential?.tokens
    const machine = authOf(server).flow === "client_credentials"
    const refreshable = tokens?.refreshToken !== undefined || (machine && registration !== undefined)
    const common = {
      server: name,
      refreshable,
      issuer: credential?.issuer,
      registrationMethod: registration?.method,
      clientId: registration?.clientId,
      tokenType: tokens?.tokenType,
      expiresAt: tokens?.expiresAt,
      scopes: splitScopes(tokens?.scope)
    }
    // A scope the server asked for counts as needed until the stored credential has it
    // (a login in another process may have granted it meanwhile).
    const needed = yield* getEntry(ctx.state.neededScopes, keyString(server))
    if (
      needed !== undefined &&
      tokens !== undefined &&
      !needed.required.every((s) => common.scopes.includes(s))
    ) {
      return {
        ...common,
        state: "needs-scope",
        neededScopes: needed.wanted,
        summary: `needs scope ${needed.wanted.join(" ")}`
      } satisfies AuthStatus
    }
    if (needed !== undefined) yield* deleteEntry(ctx.state.neededScopes, keyString(server))
    if (tokens === undefined) {
      if (server.auth === undefined && credential === undefined) {
        return { ...common, state: "not-required", summary: "not required" } satisfies AuthStatus
      }
      return {
        ...common,
        state: "needs-login",
        summary: `needs login (${loginCommand(name)})`
      } satisfies AuthStatus
    }
    if (tokens.expiresAt !== undefined && tokens.expiresAt <= now) {
      return refreshable
        ? ({ ...common, state: "expired", summary: "expired, refreshable" } satisfies AuthStatus)
        : ({
            ...common,
            state: "needs-login",
            summary: `expired; needs login (${loginCommand(name)})`
          } satisfies AuthStatus)
    }
    return {
      ...common,
      state: "authenticated",
      summary:
        tokens.expiresAt === undefined
          ? "authenticated"
          : `authenticated, expires in ${formatIn(tokens.expiresAt - now)}`
    } satisfies AuthStatus
  })

/** RFC 7009: the refresh token first (revoking it usually ends the whole grant, §2.1), then the access token. */
const revoke = (ctx: ManagerContext, server: ServerConfig, credential: Credential) =>
  Effect.gen(function* () {
    const { tokens, registration } = credential
    if (tokens === undefined || registration === undefined) return false
    const authorizationServer = yield* authorizationServerOf(ctx, server, credential)
    if (authorizationServer.metadata.revocation_endpoint === undefined) {
      yield* Effect.logInfo(
        `${server.name}: the authorization server offers no revocation; deleting the credential only`
      )
      return false
    }
    const context = yield* grantContext(ctx, server, authorizationServer, registration, {})
    let revoked = false
    for (const [token, hint] of [
      [tokens.refreshToken, "refresh_token"],
      [tokens.accessToken, "access_token"]
    ] as const) {
      if (token === undefined) continue
      const result = yield* Effect.result(ctx.flows.revoke(context, token, hint))
      if (result._tag === "Success") revoked = true
      else yield* Effect.logWarning(result.failure.message)
    }
    return revoked
  })

/** `OAuthManagerShape.logout`: revoke, then delete under the lock, then forget the per-process state. */
export const logout = (ctx: ManagerContext, server: ServerConfig) =>
  Effect.gen(function* () {
    const key = keyString(server)
    const credential = yield* load(ctx, server)
    if (credential === undefined) return { removed: false, revoked: false } satisfies LogoutResult
    const revoked = yield* revoke(ctx, server, credential).pipe(
      Effect.catch((error) => Effect.as(Effect.logWarning(error.message), false))
    )
    const removed = yield* locked(
      ctx,
      server,
      ctx.store.delete(keyFor(server)).pipe(Effect.mapError(storeError(server.name)))
    )
    yield* deleteEntry(ctx.state.neededScopes, key)
    yield* deleteEntry(ctx.state.stepUpTimes, key)
    yield* deleteEntry(ctx.state.unsaved, key)
    if (removed) yield* ctx.audit({ kind: "logout", server: server.name, outcome: "ok" })
    return { removed, revoked } satisfies LogoutResult
  })
