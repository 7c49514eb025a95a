/**
 * The web UI's sign-in through `server.auth` (docs/teams.md#sign-in): the
 * OpenID Connect code flow of `@mcpgate/oauth/OidcSignIn`, back at
 * `<publicUrl>/signin/callback`; the ID token's claims name the user by the
 * same rules as access tokens. A pending sign-in waits in `UiRecords` (kind
 * "ui-signin", sealed in the shared store) for 10 minutes and is taken once.
 */
import type { GatewayAuthConfig } from "@mcpgate/core/Config"
import type * as Principal from "@mcpgate/core/Principal"
import * as OidcSignIn from "@mcpgate/oauth/OidcSignIn"
import type { ResourceServerShape } from "@mcpgate/oauth/ResourceServer"
import { Clock, Effect, Option, Redacted, Schema } from "effect"
import type { RecordStorage } from "./UiRecords.ts"

export const callbackPath = "/signin/callback"

/** How long a started sign-in may take. */
export const signInTtlMs = 10 * 60 * 1000

/** Why a sign-in did not complete, in words for the page (never a token). */
export class SignInFailed extends Schema.TaggedError<SignInFailed>()("SignInFailed", {
  status: Schema.Number,
  message: Schema.String
}) {}

const PendingSignIn = Schema.Struct({
  state: Schema.String,
  codeVerifier: Schema.String,
  nonce: Schema.String,
  returnTo: Schema.String
})
type PendingSignIn = typeof PendingSignIn.Type
const decodePending = Schema.decodeUnknownOption(Schema.fromJsonString(PendingSignIn))
const encodePending = Schema.encodeSync(Schema.fromJsonString(PendingSignIn))

/** Where a sign-in may return: one of the UI's own pages (no open redirect). */
export const safeReturnTo = (value: string | null | undefined): string =>
  value !== null && value !== undefined && /^\/(chat|connections|admin)(\?[^#\\]*)?$/.test(value)
    ? value
    : "/chat"

export interface SignInOptions {
  readonly auth: GatewayAuthConfig
  /** The gateway's base URL (`server.publicUrl`, else the bound origin). */
  readonly base: string
  readonly resourceServer: ResourceServerShape
  readonly pending: RecordStorage
  readonly userOfClaims: (
    claims: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Principal.User | undefined>
}

export interface SignIn {
  /** The provider's authorization URL for a new sign-in that comes back to `returnTo`. */
  readonly begin: (returnTo: string) => Effect.Effect<string, SignInFailed>
  /** Completes the sign-in the callback URL answers: the user, and where they go next. */
  readonly complete: (
    callbackUrl: URL
  ) => Effect.Effect<{ readonly user: Principal.User; readonly returnTo: string }, SignInFailed>
}

const failed = (status: number, message: string) => new SignInFailed({ status, message })
const storeFailed = (error: { readonly message: string }) =>
  failed(503, `the sign-in could not be kept or read: ${error.message}`)

export const make = (options: SignInOptions): Effect.Effect<SignIn> =>
  Effect.map(
    OidcSignIn.make({
      issuer: options.auth.issuer,
      clientId: options.auth.clientId,
      clientSecret: options.auth.clientSecret,
      redirectUri: `${options.base}${callbackPath}`,
      resourceServer: options.resourceServer
    }),
    (oidc) => ({
      begin: (returnTo) =>
        Effect.gen(function* () {
          const started = yield* oidc.begin.pipe(
            Effect.mapError((error) => failed(error.retryable ? 502 : 400, error.message))
          )
          const now = yield* Clock.currentTimeMillis
          const pending: PendingSignIn = {
            state: started.state,
            codeVerifier: Redacted.value(started.codeVerifier),
            nonce: started.nonce,
            returnTo: safeReturnTo(returnTo)
          }
          yield* options.pending
            .put(started.state, encodePending(pending), now + signInTtlMs)
            .pipe(Effect.mapError(storeFailed))
          return started.url
        }),
      complete: (callbackUrl) =>
        Effect.gen(function* () {
          const state = callbackUrl.searchParams.get("state") ?? ""
          const document =
            state === ""
              ? Option.none()
              : yield* options.pending.take(state).pipe(Effect.mapError(storeFailed))
          const pending = Option.flatMap(document, decodePending)
          if (Option.isNone(pending)) {
            return yield* failed(
              400,
              "this sign-in is unknown or has expired (a sign-in is valid for 10 minutes); sign in again"
            )
          }
          const claims = yield* oidc
            .complete(callbackUrl, {
              state: pending.value.state,
              codeVerifier: Redacted.make(pending.value.codeVerifier),
              nonce: pending.value.nonce
            })
            .pipe(
              Effect.mapError((error) =>
                error._tag === "TokenRejected"
                  ? failed(error.reason === "unavailable" ? 503 : 400, error.message)
                  : failed(error.retryable ? 502 : 400, error.message)
              )
            )
          const user = yield* options.userOfClaims(claims)
          if (user === undefined) {
            return yield* failed(
              403,
              `the ID token has no "${options.auth.userClaim}" claim (server.auth.userClaim) to name its user`
            )
          }
          return { user, returnTo: pending.value.returnTo }
        })
    })
  )
