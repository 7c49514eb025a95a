/**
 * The 403 step-up (RFC 6750 §3.1, MCP "Scope Challenge Handling"): authorize
 * again for the union of the granted and the required scopes, never a plain
 * refresh; a few attempts at most. Without a user (the gateway) the scopes
 * are reported as `NeedsScope` and shown by `status`.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Clock, Effect } from "effect"
import { authOf } from "../Discovery.ts"
import { NeedsScope, OAuthError } from "../Errors.ts"
import { isScopeToken, resourceChallenge, splitScopes } from "../WwwAuthenticate.ts"
import * as Login from "./Login.ts"
import { getEntry, keyString, load, type ManagerContext, setEntry } from "./ManagerContext.ts"

const stepUpWindowMillis = 10 * 60 * 1000
const maxStepUps = 3

export const onInsufficientScope = (
  ctx: ManagerContext,
  server: ServerConfig,
  wwwAuthenticate: string | null
) =>
  Effect.gen(function* () {
    const name = server.name
    const key = keyString(server)
    const challenge = resourceChallenge(wwwAuthenticate)
    const required = splitScopes(challenge?.scope)
    const credential = yield* load(ctx, server)
    // Only real scope tokens are asked for (and shown in a command to paste).
    const granted = splitScopes(credential?.tokens?.scope).filter(isScopeToken)
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
    if (credential?.tokens !== undefined && required.every((scope) => granted.includes(scope))) {
      return yield* OAuthError.of(
        name,
        "insufficient-scope",
        `the server still refuses although ${required.join(" ")} ${required.length === 1 ? "was" : "were"} granted; authorizing again would not help`
      )
    }
    const wanted = [...new Set([...granted.filter((scope) => scope !== "offline_access"), ...required])]
    if (!ctx.settings.interactive) {
      yield* setEntry(ctx.state.neededScopes, key, wanted)
      return yield* NeedsScope.of(name, wanted)
    }
    const now = yield* Clock.currentTimeMillis
    const recent = ((yield* getEntry(ctx.state.stepUps, key)) ?? []).filter(
      (time) => now - time < stepUpWindowMillis
    )
    if (recent.length >= maxStepUps) {
      return yield* OAuthError.of(
        name,
        "insufficient-scope",
        `gave up after ${maxStepUps} attempts to obtain ${wanted.join(" ")}`
      )
    }
    yield* setEntry(ctx.state.stepUps, key, [...recent, now])
    yield* Effect.logInfo(
      `${name}: the server needs ${required.join(" ")}; authorizing again for ${wanted.join(" ")}`
    )
    const result = yield* Login.login(ctx, server, {
      scopes: wanted,
      wwwAuthenticate,
      ...(authOf(server).flow === "client_credentials" ? { flow: "client_credentials" as const } : {})
    })
    return result.tokens.accessToken
  })
