/**
 * The web UI's sign-in through `server.auth` (docs/teams.md#sign-in) against
 * a real oidc-provider: the code flow with PKCE, `state` and `nonce`; the
 * session cookie's flags; a signed-in user acts as themself on `/v1`, under
 * the cookie's Origin and CSRF rules; `/admin` is for admins only (by
 * `adminClaim` or `admin: true`); sign-out ends the session.
 */
import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import * as Principal from "@mcpgate/core/Principal"
import * as Configs from "@mcpgate/testing/Configs"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { Cookies, HttpServerResponse } from "effect/http"
import * as Security from "../src/security/Security.ts"
import { memoryStorage, UiRecords } from "../src/security/UiRecords.ts"
import { tempHome } from "./support/AdminGateway.ts"
import * as TeamsGateway from "./support/TeamsGateway.ts"
import * as WebSignIn from "./support/WebSignIn.ts"

const request = (url: string, init: RequestInit & { readonly cookie?: string } = {}) =>
  Effect.promise(async () => {
    const headers = new Headers(init.headers)
    if (init.cookie !== undefined) headers.set("cookie", init.cookie)
    const response = await fetch(url, { ...init, headers, redirect: "manual" })
    const text = await response.text()
    let json: Record<string, unknown> = {}
    try {
      json = JSON.parse(text) as Record<string, unknown>
    } catch {}
    return { status: response.status, text, json, headers: response.headers }
  })

/** UiRecords whose stores the test can look into. */
const ownRecords = Effect.gen(function* () {
  const signIns = yield* memoryStorage
  const sessions = yield* memoryStorage
  const layer = UiRecords.layerShared((kind) => Effect.succeed(kind === "ui-signin" ? signIns : sessions))
  return { signIns, sessions, layer: layer as Layer.Layer<UiRecords> }
})

const admins = {
  claims: (account: string) =>
    account === "root" ? { groups: ["staff", "mcpgate-admins"] } : { groups: ["staff"] },
  server: () => ({
    auth: { issuer: "", clientId: "", userClaim: "sub", adminClaim: "groups=mcpgate-admins" }
  })
}

describe("web sign-in through server.auth", () => {
  it.live(
    "Alice signs in: an HttpOnly SameSite=Lax cookie, back to the page that asked; /v1 and /connections as Alice",
    () =>
      Effect.gen(function* () {
        const records = yield* ownRecords
        const { url, as } = yield* TeamsGateway.start({ ...admins, uiRecords: records.layer })
        as.account = "alice"
        // /connections sends a visitor who is not signed in to the sign-in.
        const unsigned = yield* request(`${url}/connections`)
        assert.strictEqual(unsigned.status, 302)
        assert.strictEqual(unsigned.headers.get("location"), "/signin?return=/connections")

        // The authorization request: code flow with PKCE S256, state and nonce, back at /signin/callback.
        const started = yield* request(`${url}/signin?return=/connections`)
        assert.strictEqual(started.status, 302)
        const asked = new URL(started.headers.get("location") ?? "")
        assert.strictEqual(`${asked.origin}${asked.pathname}`, `${as.issuer}/auth`)
        assert.deepInclude(Object.fromEntries(asked.searchParams), {
          response_type: "code",
          client_id: TeamsGateway.gatewayClient.id,
          redirect_uri: `${url}/signin/callback`,
          code_challenge_method: "S256"
        })
        for (const parameter of ["state", "nonce", "code_challenge"]) {
          assert.isAtLeast(asked.searchParams.get(parameter)?.length ?? 0, 20, parameter)
        }
        assert.include(asked.searchParams.get("scope")?.split(" ") ?? [], "openid")
        const callbackUrl = yield* WebSignIn.toCallback(url, "/connections")
        assert.isNotNull(new URL(callbackUrl).searchParams.get("code"))
        const answer = yield* WebSignIn.openCallback(callbackUrl)
        assert.strictEqual(answer.status, 302, answer.body)
        assert.strictEqual(answer.location, "/connections")
        const setCookie = answer.setCookies.find((cookie) => cookie.startsWith("mcpgate_session=")) ?? ""
        assert.match(setCookie, /; HttpOnly/i)
        assert.match(setCookie, /; SameSite=Lax/i)
        assert.match(setCookie, /; Path=\/(;|$)/)
        assert.notMatch(setCookie, /; Secure/i)
        const cookie = WebSignIn.sessionCookieOf(answer)
        const id = cookie.slice("mcpgate_session=".length)
        // Only the id's digest is kept: the id itself names no record.
        assert.isTrue(Option.isNone(yield* records.sessions.get(id)))
        assert.isTrue(
          Option.isSome(yield* records.sessions.get(createHash("sha256").update(id).digest("hex")))
        )
        assert.strictEqual(as.countGrants("authorization_code"), 1)

        const session = yield* request(`${url}/signin/session`, { cookie })
        assert.deepStrictEqual(session.json, { signInAvailable: true, user: { id: "alice", admin: false } })
        const connections = yield* request(`${url}/v1/mcp/connections`, { cookie })
        assert.strictEqual(connections.status, 200, connections.text)
        assert.strictEqual(connections.json.user, "alice")
        assert.strictEqual((yield* request(`${url}/connections`, { cookie })).status, 200)
        assert.strictEqual((yield* request(`${url}/v1/mcp/tools`, { cookie })).status, 200)

        // The cookie's rules: no other site's page, and a write needs the CSRF header or a same-origin Origin.
        const crossSite = yield* request(`${url}/v1/mcp/tools`, {
          cookie,
          headers: { origin: "https://evil.example" }
        })
        assert.strictEqual(crossSite.status, 403)
        assert.strictEqual(
          (yield* request(`${url}/v1/mcp/tools`, { cookie, headers: { "sec-fetch-site": "cross-site" } }))
            .status,
          403
        )
        const write = {
          method: "POST",
          cookie,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ tool_name: "local__echo", arguments: { text: "hi" } })
        }
        const forged = yield* request(`${url}/v1/mcp/execute`, write)
        assert.strictEqual(forged.status, 403)
        assert.strictEqual((forged.json.error as { code?: string }).code, "csrf_check_failed")
        const fromPage = yield* request(`${url}/v1/mcp/execute`, {
          ...write,
          headers: { ...write.headers, origin: url }
        })
        assert.strictEqual(fromPage.status, 200, fromPage.text)
        const fromScript = yield* request(`${url}/v1/mcp/execute`, {
          ...write,
          headers: { ...write.headers, "x-mcpgate-csrf": "1" }
        })
        assert.strictEqual(fromScript.status, 200, fromScript.text)

        // Alice is no admin: the admin API and page say so, and point to her pages.
        const adminApi = yield* request(`${url}/admin/api/mcp/servers`, { cookie })
        assert.strictEqual(adminApi.status, 403)
        assert.strictEqual((adminApi.json.error as { code?: string }).code, "not_an_admin")
        const adminPage = yield* request(`${url}/admin`, { cookie })
        assert.strictEqual(adminPage.status, 403)
        assert.include(adminPage.text, "alice")
        assert.include(adminPage.text, 'href="/chat"')
        assert.include(adminPage.text, 'href="/connections"')
        // Her front door is the chat.
        assert.strictEqual((yield* request(`${url}/`, { cookie })).headers.get("location"), "/chat")
        // Without a session the admin page is the admin-token sign-in, as before.
        assert.strictEqual((yield* request(`${url}/admin`)).status, 200)

        // Signing out closes the session: the cookie opens nothing any more.
        const out = yield* request(`${url}/signout`, { method: "POST", cookie, headers: { origin: url } })
        assert.strictEqual(out.status, 303)
        assert.match(out.headers.getSetCookie().join("\n"), /mcpgate_session=;.*Max-Age=0/i)
        const after = yield* request(`${url}/v1/mcp/connections`, { cookie })
        assert.strictEqual(after.status, 401)
        assert.strictEqual((after.json.error as { code?: string }).code, "session_expired")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "an admin by adminClaim opens /admin and its API with the session alone",
    () =>
      Effect.gen(function* () {
        const { url, as, clockOffset } = yield* TeamsGateway.start(admins)
        as.account = "root"
        const cookie = yield* WebSignIn.signIn(url, "/admin")
        assert.deepStrictEqual((yield* request(`${url}/signin/session`, { cookie })).json, {
          signInAvailable: true,
          user: { id: "root", admin: true }
        })
        assert.strictEqual((yield* request(`${url}/admin`, { cookie })).status, 200)
        const users = yield* request(`${url}/admin/api/mcp/users`, { cookie })
        assert.strictEqual(users.status, 200, users.text)
        // A write still needs the CSRF header.
        const reload = yield* request(`${url}/admin/api/mcp/reload`, { method: "POST", cookie })
        assert.strictEqual(reload.status, 403)
        // A stale admin-token cookie (a restart forgot its session) does not hide the sign-in.
        const stale = yield* request(`${url}/admin/api/mcp/users`, {
          cookie: `mcpgate_admin=stale; ${cookie}`
        })
        assert.strictEqual(stale.status, 200, stale.text)
        // A session lasts 12 hours.
        clockOffset.ms += 12 * 60 * 60 * 1000 + 1000
        assert.strictEqual((yield* request(`${url}/admin/api/mcp/users`, { cookie })).status, 401)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "admin: true in server.users makes a signed-in user an admin too",
    () =>
      Effect.gen(function* () {
        const { url, as } = yield* TeamsGateway.start({
          server: () => ({ users: { dana: { apiKeys: [], admin: true } } })
        })
        as.account = "dana"
        const cookie = yield* WebSignIn.signIn(url, "/admin")
        assert.strictEqual((yield* request(`${url}/admin/api/mcp/users`, { cookie })).status, 200)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a forged, replayed or tampered callback opens no session",
    () =>
      Effect.gen(function* () {
        const records = yield* ownRecords
        const { url, as, clockOffset } = yield* TeamsGateway.start({ uiRecords: records.layer })
        as.account = "alice"
        const noCookie = (answer: WebSignIn.CallbackAnswer) =>
          assert.isUndefined(answer.setCookies.find((cookie) => cookie.startsWith("mcpgate_session=")))

        // A state the gateway never issued.
        const genuine = yield* WebSignIn.toCallback(url)
        const forgedUrl = new URL(genuine)
        forgedUrl.searchParams.set("state", "forged-state")
        const forged = yield* WebSignIn.openCallback(forgedUrl.href)
        assert.strictEqual(forged.status, 400)
        assert.include(forged.body, "unknown or has expired")
        noCookie(forged)
        // The genuine one still works once, and only once.
        assert.strictEqual((yield* WebSignIn.openCallback(genuine)).status, 302)
        const replayed = yield* WebSignIn.openCallback(genuine)
        assert.strictEqual(replayed.status, 400)
        noCookie(replayed)

        // The ID token must carry the nonce of this sign-in.
        const next = yield* WebSignIn.toCallback(url)
        const state = new URL(next).searchParams.get("state") ?? ""
        const pending = Option.getOrThrow(yield* records.signIns.take(state))
        const tampered = JSON.parse(pending) as Record<string, unknown>
        yield* records.signIns.put(
          state,
          JSON.stringify({ ...tampered, nonce: "another-nonce" }),
          Date.now() + 60_000
        )
        const wrongNonce = yield* WebSignIn.openCallback(next)
        assert.strictEqual(wrongNonce.status, 400)
        assert.include(wrongNonce.body, "nonce")
        noCookie(wrongNonce)

        // A sign-in waits 10 minutes at most.
        const late = yield* WebSignIn.toCallback(url)
        clockOffset.ms += 10 * 60 * 1000 + 1000
        const expired = yield* WebSignIn.openCallback(late)
        assert.strictEqual(expired.status, 400)
        assert.include(expired.body, "unknown or has expired")
        noCookie(expired)

        // The provider's own error answer is shown, not a session.
        const denied = yield* WebSignIn.openCallback(
          `${url}/signin/callback?error=access_denied&state=${state}`
        )
        assert.strictEqual(denied.status, 400)
        noCookie(denied)
      }).pipe(Effect.scoped),
    60_000
  )

  it.effect("behind an https publicUrl the session cookie is Secure", () =>
    Effect.gen(function* () {
      const home = yield* tempHome
      const security = yield* Effect.map(
        Layer.build(
          Security.Security.layer({
            config: Configs.gateway([], {
              server: {
                host: "127.0.0.1",
                port: 8808,
                publicUrl: "https://gateway.example",
                apiKeys: [Redacted.make("shared-key-0123456789")]
              }
            }),
            env: { MCPGATE_HOME: home }
          })
        ),
        (context) => Context.get(context, Security.Security)
      )
      const session = yield* security.openUserSession(Principal.user("alice", false, "session"))
      const response = security.setUserSessionCookie(HttpServerResponse.empty(), session)
      const [header] = Cookies.toSetCookieHeaders(response.cookies)
      assert.match(header ?? "", /^mcpgate_session=/)
      for (const flag of [/; HttpOnly/i, /; Secure/i, /; SameSite=Lax/i, /; Path=\/(;|$)/])
        assert.match(header ?? "", flag)
    }).pipe(Effect.scoped)
  )

  it.live(
    "a session opened on one gateway is valid on another sharing its records (two replicas)",
    () =>
      Effect.gen(function* () {
        const records = yield* ownRecords
        const first = yield* TeamsGateway.start({ uiRecords: records.layer })
        first.as.account = "alice"
        const cookie = yield* WebSignIn.signIn(first.url)
        const second = yield* TeamsGateway.start({ uiRecords: records.layer })
        const there = yield* request(`${second.url}/v1/mcp/connections`, { cookie })
        assert.strictEqual(there.status, 200, there.text)
        assert.strictEqual(there.json.user, "alice")
        // Signing out on the second closes the session on the first too.
        yield* request(`${second.url}/signout`, { method: "POST", cookie, headers: { origin: second.url } })
        assert.strictEqual((yield* request(`${first.url}/v1/mcp/connections`, { cookie })).status, 401)
      }).pipe(Effect.scoped),
    60_000
  )
})
