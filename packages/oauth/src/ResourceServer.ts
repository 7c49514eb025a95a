/**
 * The gateway as an OAuth protected resource (docs/teams.md#access-tokens):
 * checks the access tokens an organisation's provider issued for it. A JWT
 * (RFC 9068, or any signed JWT as Keycloak and Entra issue them) is verified
 * against the issuer's JWKS (`jwks_uri` of its metadata): signature, `iss`,
 * `exp`/`nbf`, `aud`; anything else is asked about by RFC 7662 introspection.
 * Then the required scopes (RFC 6750 §3.1 `insufficient_scope`).
 *
 * The issuer's metadata comes from `Discovery` (cached for an hour), the keys
 * from jose's remote key set (cached, refetched for an unknown `kid`).
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { Clock, Effect, Redacted, Ref, Schema } from "effect"
import * as jose from "jose"
import * as oauth from "oauth4webapi"
import * as Discovery from "./Discovery.ts"
import type { OAuthError } from "./Errors.ts"
import { request } from "./internal/Http.ts"

/** Why a token was refused, as RFC 6750 §3.1 names it (`unavailable`: the provider could not be asked). */
export const TokenRejectedReason = Schema.Literals(["invalid_token", "insufficient_scope", "unavailable"])
export type TokenRejectedReason = typeof TokenRejectedReason.Type

/** An access token the gateway does not accept; `message` says why, never the token. */
export class TokenRejected extends Schema.TaggedError<TokenRejected>()("TokenRejected", {
  reason: TokenRejectedReason,
  message: Schema.String,
  /** For `insufficient_scope`: the scopes the token lacks. */
  missingScopes: Schema.optionalKey(Schema.Array(Schema.String))
}) {}

export interface ResourceServerOptions {
  /** The provider's issuer (`server.auth.issuer`). */
  readonly issuer: string
  /** The gateway's client at the provider (RFC 7662 §2.1 authenticates the caller). */
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** Whether an `aud` value names this resource: a token must carry at least one such value. */
  readonly acceptsAudience: (audience: string) => boolean
  /** The accepted audience in words, for the refusal. */
  readonly audienceDescription: string
  /** Scopes every token must hold. */
  readonly requiredScopes: ReadonlyArray<string>
}

/** A token the gateway accepts: its claims (from the JWT or the introspection answer). */
export interface VerifiedToken {
  readonly claims: Readonly<Record<string, unknown>>
  readonly scopes: ReadonlyArray<string>
}

export interface ResourceServerShape {
  readonly verify: (token: string) => Effect.Effect<VerifiedToken, TokenRejected>
  /**
   * An ID token of the web sign-in (OpenID Connect Core §3.1.3.7): signed by
   * the issuer's keys, `iss`, `aud` = the gateway's client id, `exp`, and the
   * `nonce` of the sign-in. Its claims.
   */
  readonly verifyIdToken: (
    idToken: string,
    nonce: string
  ) => Effect.Effect<Readonly<Record<string, unknown>>, TokenRejected>
}

const invalid = (message: string) => new TokenRejected({ reason: "invalid_token", message })

/** The issuer as discovery reads any authorization server: a stand-in server entry named after the setting. */
export const issuerEntry = (issuer: string): ServerConfig => ({
  name: "server.auth",
  transport: "streamable-http",
  url: issuer,
  args: [],
  env: {},
  headers: {},
  enabled: true
})

const unavailable = (error: OAuthError) =>
  new TokenRejected({
    reason: "unavailable",
    message: `the identity provider could not be asked about the token: ${error.message}`
  })

const looksLikeJwt = (token: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)

const audiencesOf = (aud: unknown): ReadonlyArray<string> =>
  typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a) => typeof a === "string") : []

/** `scope` (RFC 9068 §2.2.3, RFC 7662) or `scp` (Entra, Okta) as a list. */
const scopesOf = (claims: Readonly<Record<string, unknown>>): ReadonlyArray<string> => {
  const value = claims.scope ?? claims.scp
  if (typeof value === "string") return value.split(" ").filter((scope) => scope !== "")
  return Array.isArray(value) ? value.filter((scope) => typeof scope === "string") : []
}

/** What jose says, in words (its messages name claims, never the token). */
const describeJose = (error: unknown): TokenRejected => {
  if (error instanceof jose.errors.JWTExpired) return invalid("the access token has expired")
  if (error instanceof jose.errors.JWTClaimValidationFailed) {
    return invalid(`the access token's "${error.claim}" claim is not accepted: ${error.reason}`)
  }
  if (error instanceof jose.errors.JWKSNoMatchingKey)
    return invalid("the access token is signed by an unknown key")
  if (error instanceof jose.errors.JWSSignatureVerificationFailed) {
    return invalid("the access token's signature is not valid")
  }
  if (error instanceof jose.errors.JWKSTimeout || !(error instanceof jose.errors.JOSEError)) {
    return new TokenRejected({
      reason: "unavailable",
      message: `the identity provider's keys could not be read: ${error instanceof Error ? error.message : String(error)}`
    })
  }
  return invalid(`the access token is not valid (${error.code})`)
}

const checkClaims = (
  options: ResourceServerOptions,
  claims: Readonly<Record<string, unknown>>
): Effect.Effect<VerifiedToken, TokenRejected> => {
  const audiences = audiencesOf(claims.aud)
  if (!audiences.some(options.acceptsAudience)) {
    return Effect.fail(
      invalid(
        `the access token is for ${audiences.length === 0 ? "no audience" : audiences.map((a) => `"${a}"`).join(", ")}, not for ${options.audienceDescription}`
      )
    )
  }
  const scopes = scopesOf(claims)
  const missing = options.requiredScopes.filter((scope) => !scopes.includes(scope))
  if (missing.length > 0) {
    return Effect.fail(
      new TokenRejected({
        reason: "insufficient_scope",
        message: `the access token lacks the scope${missing.length === 1 ? "" : "s"} ${missing.join(" ")}`,
        missingScopes: missing
      })
    )
  }
  return Effect.succeed({ claims, scopes })
}

/** RFC 9068 / OpenID Connect JWT: signature by the issuer's keys, `iss`, `exp`, `nbf`. */
const verifyJwt = (
  options: ResourceServerOptions,
  keys: jose.JWTVerifyGetKey,
  token: string
): Effect.Effect<Readonly<Record<string, unknown>>, TokenRejected> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.tryPromise({
      try: () =>
        jose.jwtVerify(token, keys, {
          issuer: options.issuer,
          currentDate: new Date(now),
          clockTolerance: 30
        }),
      catch: describeJose
    }).pipe(Effect.map((verified): Readonly<Record<string, unknown>> => verified.payload))
  )

/** RFC 7662 §2: the provider says whether the token is active, and its claims. */
const introspect = (
  options: ResourceServerOptions,
  as: oauth.AuthorizationServer,
  token: string
): Effect.Effect<Readonly<Record<string, unknown>>, TokenRejected> =>
  Effect.gen(function* () {
    if (as.introspection_endpoint === undefined) {
      return yield* invalid(
        "the access token is not a JWT and the identity provider offers no introspection endpoint (RFC 7662)"
      )
    }
    const client: oauth.Client = { client_id: options.clientId }
    const auth =
      options.clientSecret === undefined
        ? oauth.None()
        : oauth.ClientSecretBasic(Redacted.value(options.clientSecret))
    const answer = yield* request("server.auth", "token", "introspecting an access token", async (http) =>
      oauth.processIntrospectionResponse(
        as,
        client,
        await oauth.introspectionRequest(as, client, auth, token, http)
      )
    ).pipe(Effect.mapError(unavailable))
    if (answer.active !== true) return yield* invalid("the access token is not active (expired or revoked)")
    if (answer.iss !== undefined && answer.iss !== options.issuer) {
      return yield* invalid(`the access token was issued by "${answer.iss}", not by "${options.issuer}"`)
    }
    return answer
  })

/** A checker for one provider, with its key set made once the metadata is known. */
export const make = (options: ResourceServerOptions): Effect.Effect<ResourceServerShape> =>
  Effect.gen(function* () {
    const discovery = yield* Discovery.make
    const keySets = yield* Ref.make(new Map<string, jose.JWTVerifyGetKey>())
    const metadata = discovery
      .authorizationServer(issuerEntry(options.issuer), options.issuer)
      .pipe(Effect.mapError(unavailable))
    const keysOf = (jwksUri: string) =>
      Ref.modify(keySets, (sets) => {
        const known = sets.get(jwksUri)
        if (known !== undefined) return [known, sets]
        const created = jose.createRemoteJWKSet(new URL(jwksUri))
        return [created, new Map([...sets, [jwksUri, created]])]
      })
    const verify = Effect.fn("ResourceServer.verify")(function* (token: string) {
      const as = (yield* metadata).metadata
      let claims: Readonly<Record<string, unknown>>
      if (looksLikeJwt(token)) {
        if (as.jwks_uri === undefined) {
          return yield* invalid("the identity provider publishes no keys (jwks_uri) to check a JWT with")
        }
        claims = yield* verifyJwt(options, yield* keysOf(as.jwks_uri), token)
      } else {
        claims = yield* introspect(options, as, token)
      }
      return yield* checkClaims(options, claims)
    })
    const verifyIdToken = Effect.fn("ResourceServer.verifyIdToken")(function* (
      idToken: string,
      nonce: string
    ) {
      const as = (yield* metadata).metadata
      if (as.jwks_uri === undefined) {
        return yield* invalid("the identity provider publishes no keys (jwks_uri) to check an ID token with")
      }
      const claims = yield* verifyJwt(options, yield* keysOf(as.jwks_uri), idToken)
      if (!audiencesOf(claims.aud).includes(options.clientId)) {
        return yield* invalid(`the ID token is not for this gateway's client "${options.clientId}"`)
      }
      if (claims.nonce !== nonce)
        return yield* invalid("the ID token does not carry the nonce of this sign-in")
      return claims
    })
    return { verify, verifyIdToken }
  })
