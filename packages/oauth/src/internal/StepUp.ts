/**
 * The 403 step-up (RFC 6750 §3.1, MCP "Scope Challenge Handling"): authorize
 * again for the union of the granted and the required scopes, never a plain
 * refresh; a few attempts at most, and one at a time per server (concurrent
 * callers share it rather than race for the browser and the callback port).
 * Without a user (the gateway) the scopes are reported as `NeedsScope` and
 * shown by `status` until the stored credential has them.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Cache, Clock, Effect, Equal, Hash, type Redacted } from "effect"
import { authOf } from "../Discovery.ts"
import { NeedsScope, OAuthError } from "../Errors.ts"
import { isScopeToken, resourceChallenge, splitScopes } from "../WwwAuthenticate.ts"
import * as Login from "./Login.ts"
import { getEntry, keyString, load, type ManagerContext, setEntry } from "./ManagerContext.ts"

const stepUpWindowMillis = 10 * 60 * 1000
const maxStepUps = 3

/** A step-up asked for; requests for the same credential are equal, so concurrent ones share a login. */
export class StepUpRequest implements Equal.Equal {
  readonly key: string
  readonly server: ServerConfig
  readonly wwwAuthenticate: string | null
  /** The scopes to authorize. */
  readonly wanted: ReadonlyArray<string>
  constructor(server: ServerConfig, wwwAuthenticate: string | null, wanted: ReadonlyArray<string>) {
    this.key = keyString(server)
    this.server = server
    this.wwwAuthenticate = wwwAuthenticate
    this.wanted = wanted
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof StepUpRequest && that.key === this.key
  }
  [Hash.symbol](): number {
    return Hash.string(this.key)
  }
}

/** The token a step-up obtained. */
export interface StepUpOutcome {
  readonly token: Redacted.Redacted<string>
  /** The request whose login ran (a caller that joined another one can tell). */
  readonly request: StepUpRequest
}

/** The lookup of `ManagerContext.stepUps`: one login for more scope, within the attempt limit. */
export const runStepUp = (ctx: ManagerContext, request: StepUpRequest) =>
  Effect.gen(function* () {
    const { server, wanted } = request
    const now = yield* Clock.currentTimeMillis
    const recent = ((yield* getEntry(ctx.state.stepUpTimes, request.key)) ?? []).filter(
      (time) => now - time < stepUpWindowMillis
    )
    if (recent.length >= maxStepUps) {
      return yield* OAuthError.of(
        server.name,
        "insufficient-scope",
        `gave up after ${maxStepUps} attempts to obtain ${wanted.join(" ")}`
      )
    }
    yield* setEntry(ctx.state.stepUpTimes, request.key, [...recent, now])
    yield* Effect.logInfo(`${server.name}: authorizing again for ${wanted.join(" ")}`)
    // The server has just accepted a token of the stored client (a 403, not a 401): it knows it.
    const result = yield* Login.login(
      ctx,
      server,
      {
        scopes: wanted,
        wwwAuthenticate: request.wwwAuthenticate,
        flow: authOf(server).flow === "client_credentials" ? "client_credentials" : undefined
      },
      false
    )
    return { token: result.tokens.accessToken, request } satisfies StepUpOutcome
  })

/** The scopes granted to the stored credential (only real scope tokens). */
const grantedScopes = (ctx: ManagerContext, server: ServerConfig) =>
  Effect.map(load(ctx, server), (credential) => ({
    hasTokens: credential?.tokens !== undefined,
    granted: splitScopes(credential?.tokens?.scope).filter(isScopeToken)
  }))

const union = (granted: ReadonlyArray<string>, required: ReadonlyArray<string>) => [
  ...new Set([...granted.filter((scope) => scope !== "offline_access"), ...required])
]

/** `OAuthManagerShape.onInsufficientScope` (see the header). */
export const onInsufficientScope = (
  ctx: ManagerContext,
  server: ServerConfig,
  wwwAuthenticate: string | null
) =>
  Effect.gen(function* () {
    const name = server.name
    const required = splitScopes(resourceChallenge(wwwAuthenticate)?.scope)
    // Only real scope tokens are asked for (and shown in a command to paste).
    if (!required.every(isScopeToken)) {
      return yield* OAuthError.of(
        name,
        "insufficient-scope",
        "the server refused the request for lack of scope, naming a scope that is not a valid scope token (RFC 6749 §3.3)"
      )
    }
    if (required.length === 0) {
      return yield* OAuthError.of(
        name,
        "insufficient-scope",
        "the server refused the request for lack of scope without saying which scope it needs"
      )
    }
    const { hasTokens, granted } = yield* grantedScopes(ctx, server)
    if (hasTokens && required.every((scope) => granted.includes(scope))) {
      return yield* OAuthError.of(
        name,
        "insufficient-scope",
        `the server still refuses although ${required.join(" ")} ${required.length === 1 ? "was" : "were"} granted; authorizing again would not help`
      )
    }
    const wanted = union(granted, required)
    if (!ctx.settings.interactive) {
      yield* setEntry(ctx.state.neededScopes, keyString(server), { wanted, required })
      return yield* NeedsScope.of(name, wanted)
    }
    yield* Effect.logInfo(`${name}: the server needs ${required.join(" ")}`)
    const request = new StepUpRequest(server, wwwAuthenticate, wanted)
    const outcome = yield* Cache.get(ctx.stepUps, request)
    if (outcome.request === request) return outcome.token
    // This caller joined a step-up for other scopes: enough if it obtained these too.
    const after = yield* grantedScopes(ctx, server)
    if (required.every((scope) => after.granted.includes(scope))) return outcome.token
    return (yield* Cache.get(
      ctx.stepUps,
      new StepUpRequest(server, wwwAuthenticate, union(after.granted, required))
    )).token
  })
