/**
 * The gateway's OpenID Connect sign-in (docs/teams.md#the-web-uis-sign-in)
 * against a real oidc-provider: the code flow with PKCE, `state` and `nonce`
 * gives the ID token's claims; an ID token for another client, with another
 * nonce, or past its expiry is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import { Clock, Effect, Redacted } from "effect"
import * as OidcSignIn from "../src/OidcSignIn.ts"
import * as ResourceServer from "../src/ResourceServer.ts"

const redirectUri = "http://127.0.0.1:9/signin/callback"
const client = (id: string) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789abcdef`,
  grant_types: ["authorization_code"],
  response_types: ["code"],
  redirect_uris: [redirectUri],
  token_endpoint_auth_method: "client_secret_basic"
})

/** The browser: through the provider's redirects (its cookies kept) up to the redirect URI. */
const toCallback = (url: string) =>
  Effect.promise(async () => {
    const jar = new Map<string, string>()
    let current = url
    for (let hop = 0; hop < 20; hop++) {
      if (current.startsWith(redirectUri)) return new URL(current)
      const response = await fetch(current, {
        redirect: "manual",
        headers: jar.size === 0 ? {} : { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") }
      })
      for (const header of response.headers.getSetCookie()) {
        const [pair] = header.split(";")
        const at = pair?.indexOf("=") ?? -1
        if (pair !== undefined && at > 0) jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
      }
      await response.body?.cancel()
      current = new URL(response.headers.get("location") ?? "", current).href
    }
    throw new Error("too many redirects")
  })

const setup = Effect.gen(function* () {
  const as = yield* AuthServer.start({
    resource: () => "http://127.0.0.1:9/mcp",
    clients: [client("web"), client("other")]
  })
  as.account = "alice"
  const signInAs = (clientId: string, checkedFor: string) =>
    Effect.flatMap(
      ResourceServer.make({
        issuer: as.issuer,
        clientId: checkedFor,
        acceptsAudience: () => true,
        audienceDescription: "any",
        requiredScopes: []
      }),
      (resourceServer) =>
        OidcSignIn.make({
          issuer: as.issuer,
          clientId,
          clientSecret: Redacted.make(`${clientId}-secret-0123456789abcdef`),
          redirectUri,
          resourceServer
        })
    )
  return { as, signInAs }
})

describe("OpenID Connect sign-in", () => {
  it.live("the code flow gives the ID token's claims; the request carries PKCE S256, state and nonce", () =>
    Effect.gen(function* () {
      const { signInAs } = yield* setup
      const oidc = yield* signInAs("web", "web")
      const started = yield* oidc.begin
      const asked = new URL(started.url).searchParams
      assert.strictEqual(asked.get("code_challenge_method"), "S256")
      assert.strictEqual(asked.get("state"), started.state)
      assert.strictEqual(asked.get("nonce"), started.nonce)
      assert.include(asked.get("scope")?.split(" ") ?? [], "openid")
      const claims = yield* oidc.complete(yield* toCallback(started.url), started)
      assert.strictEqual(claims.sub, "alice")
      assert.strictEqual(claims.aud, "web")
      assert.strictEqual(claims.nonce, started.nonce)
    }).pipe(Effect.scoped)
  )

  it.live("an ID token of another client, of another sign-in (nonce) or expired is refused", () =>
    Effect.gen(function* () {
      const { signInAs } = yield* setup
      // The provider issues the token to "other"; the gateway is "web".
      const misconfigured = yield* signInAs("other", "web")
      const first = yield* misconfigured.begin
      const wrongClient = yield* Effect.flip(misconfigured.complete(yield* toCallback(first.url), first))
      assert.include(wrongClient.message, `not for this gateway's client "web"`)

      const oidc = yield* signInAs("web", "web")
      const second = yield* oidc.begin
      const wrongNonce = yield* Effect.flip(
        oidc.complete(yield* toCallback(second.url), { ...second, nonce: "the-nonce-of-another-sign-in" })
      )
      assert.include(wrongNonce.message, "nonce")

      // Two hours on (the test provider's ID tokens last one).
      const third = yield* oidc.begin
      const callback = yield* toCallback(third.url)
      const base = yield* Clock.Clock
      const later = 2 * 60 * 60 * 1000
      const shifted: Clock.Clock = {
        currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + later,
        currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + later),
        currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + BigInt(later) * 1_000_000n,
        currentTimeNanos: Effect.sync(() => base.currentTimeNanosUnsafe() + BigInt(later) * 1_000_000n),
        monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
        monotonicTimeNanos: base.monotonicTimeNanos,
        sleep: (duration) => base.sleep(duration)
      }
      const expired = yield* Effect.flip(
        oidc.complete(callback, third).pipe(Effect.provideService(Clock.Clock, shifted))
      )
      assert.include(expired.message, "expired")
    }).pipe(Effect.scoped)
  )
})
