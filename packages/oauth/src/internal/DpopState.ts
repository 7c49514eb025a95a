/**
 * The DPoP side of the manager (RFC 9449): which key a DPoP-bound token is
 * bound to, the nonces the MCP servers hand out, and the headers that present
 * a token to a server.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { TokenSet } from "@mcpgate/core/Credential"
import { Clock, Effect, Redacted } from "effect"
import type { AuthorizationHeaders } from "../OAuthManager.ts"
import * as Dpop from "./Dpop.ts"
import { deleteEntry, getEntry, keyString, type ManagerContext, setEntry } from "./ManagerContext.ts"

/** The key this process holds for the server's DPoP-bound tokens, if any. */
export const keyOf = (ctx: ManagerContext, server: ServerConfig) =>
  getEntry(ctx.state.dpopKeys, keyString(server))

/** Remembers the key the server's tokens are now bound to (or, without one, that they are not). */
export const bind = (ctx: ManagerContext, server: ServerConfig, key: Dpop.DpopKey | undefined) =>
  key === undefined
    ? deleteEntry(ctx.state.dpopKeys, keyString(server))
    : setEntry(ctx.state.dpopKeys, keyString(server), key)

/** A DPoP-bound token is only usable with the key this process holds for it. */
export const usable = (ctx: ManagerContext, server: ServerConfig, tokens: TokenSet) =>
  tokens.tokenType !== "DPoP"
    ? Effect.succeed(true)
    : Effect.map(keyOf(ctx, server), (key) => key !== undefined)

/** The key to refresh DPoP-bound tokens with: the one held, else a new one. */
export const keyForRefresh = (
  ctx: ManagerContext,
  server: ServerConfig,
  tokens: TokenSet,
  supported: ReadonlyArray<string> | undefined
) =>
  Effect.gen(function* () {
    if (tokens.tokenType !== "DPoP") return undefined
    return (yield* keyOf(ctx, server)) ?? (yield* Dpop.generate(supported))
  })

/** RFC 9449 §9: the nonce the server asked for, used in the next proofs to its origin. */
export const rememberNonce = (ctx: ManagerContext, server: ServerConfig, nonce: string) => {
  const origin = URL.parse(server.url ?? "")?.origin
  return origin === undefined ? Effect.void : setEntry(ctx.state.resourceNonces, origin, nonce)
}

/** `Authorization` (and a `DPoP` proof for DPoP-bound tokens) for one request to the server. */
export const headers = (
  ctx: ManagerContext,
  server: ServerConfig,
  tokens: TokenSet,
  request: { readonly method: string; readonly url: string }
) =>
  Effect.gen(function* () {
    const token = Redacted.value(tokens.accessToken)
    const key = yield* keyOf(ctx, server)
    if (tokens.tokenType !== "DPoP" || key === undefined) {
      return { authorization: Redacted.make(`Bearer ${token}`) } satisfies AuthorizationHeaders
    }
    const origin = URL.parse(request.url)?.origin ?? ""
    const dpop = yield* Dpop.proof(
      key,
      request,
      token,
      yield* Clock.currentTimeMillis,
      yield* getEntry(ctx.state.resourceNonces, origin)
    )
    return { authorization: Redacted.make(`DPoP ${token}`), dpop } satisfies AuthorizationHeaders
  })
