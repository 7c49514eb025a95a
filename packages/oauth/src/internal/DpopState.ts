/**
 * The DPoP side of the manager (RFC 9449): the key DPoP-bound tokens are bound
 * to (stored with them, imported once per process), the nonces the MCP
 * servers hand out, and the headers that present a token to a server.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { TokenSet } from "@mcpgate/core/Credential"
import { Cache, Clock, Effect, Redacted } from "effect"
import { OAuthError } from "../Errors.ts"
import type { AuthorizationHeaders } from "../OAuthManager.ts"
import * as Dpop from "./Dpop.ts"
import { getEntry, type ManagerContext, setEntry } from "./ManagerContext.ts"

/** The key the tokens are bound to, if they are DPoP-bound and carry one. */
export const keyOf = (ctx: ManagerContext, server: ServerConfig, tokens: TokenSet) =>
  tokens.tokenType !== "DPoP" || tokens.dpopKey === undefined
    ? Effect.succeed(undefined)
    : Cache.get(ctx.dpopKeys, new Dpop.StoredKey(tokens.dpopKey)).pipe(
        Effect.mapError((error) => OAuthError.of(server.name, "configuration", error.message))
      )

/** DPoP-bound tokens are only usable with their key (credentials saved before keys were stored have none). */
export const usable = (tokens: TokenSet): boolean =>
  tokens.tokenType !== "DPoP" || tokens.dpopKey !== undefined

/** The key to refresh DPoP-bound tokens with: theirs, else a new one. */
export const keyForRefresh = (
  ctx: ManagerContext,
  server: ServerConfig,
  tokens: TokenSet,
  supported: ReadonlyArray<string> | undefined
) =>
  Effect.gen(function* () {
    if (tokens.tokenType !== "DPoP") return undefined
    return (yield* keyOf(ctx, server, tokens)) ?? (yield* Dpop.generate(supported))
  })

/** The tokens with the key they were issued for (only DPoP-bound tokens keep one). */
export const bound = (tokens: TokenSet, key: Dpop.DpopKey | undefined): TokenSet => {
  if (tokens.tokenType !== "DPoP" || key === undefined) {
    if (tokens.dpopKey === undefined) return tokens
    const { dpopKey: _, ...rest } = tokens
    return new TokenSet(rest)
  }
  return new TokenSet({ ...tokens, dpopKey: key.privateJwk })
}

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
    const key = yield* keyOf(ctx, server, tokens)
    if (key === undefined) {
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
