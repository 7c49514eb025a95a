/**
 * The web UI's logins between `OAuthManager.beginLogin` and `completeLogin`:
 * the browser is at the authorization server meanwhile, and the login is
 * found again by the `state` it comes back with (RFC 6749 §10.12), for 10
 * minutes at most.
 *
 * A service of its own so that a shared store can hold pending logins later
 * (one replica begins a login, another completes it). A `PendingLogin` is
 * plain data (no functions, no key handles) for that reason; it holds the PKCE
 * verifier, so it is as secret as a token and never logged.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { ClientRegistration } from "@mcpgate/core/Credential"
import { Clock, Context, Effect, Layer, Option, Ref } from "effect"
import type { PendingAuthorization } from "./AuthorizationFlow.ts"
import type { Discovered } from "./Discovery.ts"

/** A login between `beginLogin` and `completeLogin`: plain data, as secret as a token. */
export interface PendingLogin {
  readonly server: ServerConfig
  readonly discovered: Discovered
  readonly registration: ClientRegistration
  /** The scopes asked for (stored as granted when the response names none). */
  readonly scopes: ReadonlyArray<string>
  /** The authorization request: its `state`, PKCE verifier and redirect URI. */
  readonly authorization: PendingAuthorization
  /** Epoch ms. */
  readonly expiresAt: number
}

/** Where pending logins wait for their callback. */
export interface PendingLoginsShape {
  /** Keeps a login under its `authorization.state` until `expiresAt`. */
  readonly put: (login: PendingLogin) => Effect.Effect<void>
  /** Removes and returns the login of `state`; none when it is unknown or expired. */
  readonly take: (state: string) => Effect.Effect<Option.Option<PendingLogin>>
}

/** Pending logins in this process's memory; expired ones are dropped as new ones arrive. */
export const makeMemory: Effect.Effect<PendingLoginsShape> = Effect.gen(function* () {
  const logins = yield* Ref.make<ReadonlyMap<string, PendingLogin>>(new Map())
  return {
    put: (login) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(logins, (current) => {
          const next = new Map([...current].filter(([, entry]) => entry.expiresAt > now))
          return next.set(login.authorization.state, login)
        })
      ),
    take: (state) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(logins, (current) => {
          const login = current.get(state)
          if (login === undefined) return [Option.none(), current]
          const next = new Map(current)
          next.delete(state)
          return [login.expiresAt > now ? Option.some(login) : Option.none(), next]
        })
      )
  } satisfies PendingLoginsShape
})

/** The web UI's pending logins, found again by their `state`. */
export class PendingLogins extends Context.Service<PendingLogins, PendingLoginsShape>()(
  "@mcpgate/oauth/PendingLogins"
) {
  /** In this process only: a login must complete in the process that began it. */
  static readonly layerMemory: Layer.Layer<PendingLogins> = Layer.effect(PendingLogins, makeMemory)
}
