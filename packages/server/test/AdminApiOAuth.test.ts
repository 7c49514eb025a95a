import * as http from "node:http"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { callbackPath } from "../src/admin/OAuthCallback.ts"
import { AuthenticateAnswer, ServersAnswer } from "../src/api/AdminSchemas.ts"
import { adminEvent, decode, errorOf, statusEvent } from "./support/AdminApiClient.ts"
import * as AdminEvents from "./support/AdminEvents.ts"
import * as AdminGateway from "./support/AdminGateway.ts"
import { allIssuedTokens, redirectFor, startServers } from "./support/AdminOAuth.ts"

const adminTokens: Array<string> = []

afterAll(() => {
  // Tokens were issued, and not one of them (nor an admin token) reached a response body.
  assert.isAbove(allIssuedTokens.size, 0)
  for (const secret of [...allIssuedTokens, ...adminTokens]) {
    for (const body of AdminGateway.allBodies)
      assert.notInclude(body, secret, "a secret appeared in a response body")
  }
})

const configText = (protectedUrl: string, server = "") => `{
  "mcpServers": {
    "notes": { "url": "${protectedUrl}", "auth": { "type": "oauth2" } },
    "plain": { "command": "true", "enabled": false },
  },
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  ${server}
}
`

const setup = (options: { readonly server?: string; readonly clock?: Clock.Clock } = {}) =>
  Effect.gen(function* () {
    const servers = yield* startServers
    const gateway = yield* AdminGateway.start({
      configText: configText(servers.mcp.url, options.server),
      ...(options.clock === undefined ? {} : { clock: options.clock })
    })
    adminTokens.push(gateway.adminToken)
    yield* gateway.manager
      .awaitStatus((all) => all.some((status) => status.name === "notes" && status.state === "needs_auth"))
      .pipe(Effect.timeout("10 seconds"))
    return { ...servers, gateway }
  })

const authenticate = (gateway: AdminGateway.AdminGateway, server = "notes") =>
  Effect.gen(function* () {
    const response = yield* gateway.request(`/admin/api/mcp/servers/${server}/authenticate`, {
      method: "POST",
      token: gateway.adminToken
    })
    assert.strictEqual(response.status, 200, response.text)
    const { authUrl } = yield* decode(AuthenticateAnswer)(response)
    return authUrl
  })

const serverNamed = (gateway: AdminGateway.AdminGateway, name: string) =>
  Effect.gen(function* () {
    const response = yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
    const server = (yield* decode(ServersAnswer)(response)).servers.find((entry) => entry.name === name)
    if (server === undefined) return yield* Effect.die(`no server ${name} in ${response.text}`)
    return server
  })

/** The nonce of the page's CSP; every script and style element must carry it. */
const assertSafePage = (page: AdminGateway.Response, origin: string) => {
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/)
  const csp = page.headers.get("content-security-policy") ?? ""
  const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1]
  assert.isDefined(nonce, csp)
  assert.include(csp, "default-src 'none'")
  assert.notInclude(csp, "unsafe-inline")
  assert.strictEqual(page.headers.get("x-content-type-options"), "nosniff")
  // The callback URL carries the code: it must not leak through Referer.
  assert.strictEqual(page.headers.get("referrer-policy"), "no-referrer")
  const scripts = page.text.match(/<script\b[^>]*>/gi) ?? []
  assert.deepStrictEqual(scripts, [`<script nonce="${nonce}">`])
  assert.strictEqual(page.text.split("</script>").length, 2)
  // Every real tag is one of the page's own, and none has an event handler attribute.
  const tags = (page.text.match(/<\/?[a-z][^>]*>/gi) ?? []).map((tag) =>
    /^<\/?([a-z0-9]+)/i.exec(tag)?.[1]?.toLowerCase()
  )
  assert.deepStrictEqual([...new Set(tags)].sort(), [
    "body",
    "h1",
    "head",
    "html",
    "meta",
    "p",
    "script",
    "style",
    "title"
  ])
  for (const tag of page.text.match(/<[a-z][^>]*>/gi) ?? []) assert.notMatch(tag, /\son[a-z]+\s*=/i)
  // postMessage goes to the gateway's own origin only.
  assert.include(page.text, `window.opener.postMessage(message, ${JSON.stringify(origin)})`)
  assert.notInclude(page.text, '"*"')
  assert.include(page.text, '"type":"mcpgate:oauth"')
}

describe("the web OAuth flow", () => {
  it.live(
    "authenticate → authorization server → callback → connected, seen through events and GET servers",
    () =>
      Effect.gen(function* () {
        const { as, mcp, gateway } = yield* setup()
        const stream = yield* AdminEvents.open(`${gateway.url}/admin/api/mcp/events`, {
          authorization: `Bearer ${gateway.adminToken}`
        })
        yield* stream.next((event) => event.event === "snapshot", "the snapshot")

        const authUrl = yield* authenticate(gateway)
        const redirectUri = `${gateway.url}${callbackPath}`
        const authorization = new URL(authUrl)
        assert.strictEqual(authorization.origin, as.issuer)
        assert.strictEqual(authorization.searchParams.get("redirect_uri"), redirectUri)
        assert.strictEqual(authorization.searchParams.get("code_challenge_method"), "S256")
        assert.strictEqual(authorization.searchParams.get("resource"), mcp.url)

        const callback = yield* redirectFor(authUrl, redirectUri)
        // The callback is public: the browser has no admin token.
        const page = yield* gateway.request(new URL(callback).pathname + new URL(callback).search)
        assert.strictEqual(page.status, 200, page.text)
        assertSafePage(page, gateway.url)
        assert.include(page.text, '"server":"notes","ok":true')
        assert.include(page.text, "Signed in")

        const completion = yield* stream.next((event) => event.event === "oauth", "the login event")
        assert.deepStrictEqual(completion.data, { server: "notes", ok: true })
        yield* stream.next(statusEvent("notes", "connected"), "notes connected")
        AdminGateway.allBodies.push(stream.raw())

        const notes = yield* serverNamed(gateway, "notes")
        assert.strictEqual(notes.state, "connected")
        assert.deepStrictEqual(notes.tools.map((tool) => tool.publicName).sort(), [
          "notes__admin",
          "notes__whoami"
        ])
        assert.strictEqual(notes.auth.state, "authenticated")
        assert.strictEqual(notes.auth.registrationMethod, "dcr")
        assert.strictEqual(notes.auth.issuer, as.issuer)
        assert.isAbove(mcp.accepted, 0)

        // The same callback again: the login is spent.
        const replay = yield* gateway.request(new URL(callback).pathname + new URL(callback).search)
        assert.strictEqual(replay.status, 400)
        assert.include(replay.text, "unknown or has expired")
        assertSafePage(replay, gateway.url)
      }).pipe(Effect.scoped)
  )

  it.live("logout revokes, deletes the credential and disconnects", () =>
    Effect.gen(function* () {
      const { as, gateway } = yield* setup()
      const authUrl = yield* authenticate(gateway)
      const callback = yield* redirectFor(authUrl, `${gateway.url}${callbackPath}`)
      assert.strictEqual(
        (yield* gateway.request(new URL(callback).pathname + new URL(callback).search)).status,
        200
      )
      yield* gateway.manager
        .awaitStatus((all) => all.some((status) => status.name === "notes" && status.state === "connected"))
        .pipe(Effect.timeout("10 seconds"))
      const response = yield* gateway.request("/admin/api/mcp/servers/notes/logout", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.deepStrictEqual(response.json, { ok: true, removed: true, revoked: true })
      assert.isAbove(as.revocations.filter((revocation) => revocation.status === 200).length, 0)
      const notes = yield* serverNamed(gateway, "notes")
      assert.strictEqual(notes.state, "disconnected")
      assert.strictEqual(notes.auth.state, "needs-login")
      assert.deepStrictEqual(notes.tools, [])
      // Nothing left to log out.
      const again = yield* gateway.request("/admin/api/mcp/servers/notes/logout", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(again.status, 409, again.text)
      assert.strictEqual((yield* errorOf(again)).code, "no_credential")
    })
  )

  it.live("the redirect URI comes from the configuration, never from the Host header", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers
      const port = yield* AdminGateway.freePort
      const publicUrl = `http://localhost:${port}`
      // publicUrl is where the gateway is reached; here another loopback name of the same port.
      const gateway = yield* AdminGateway.start({
        configText: configText(mcp.url, `"server": { "publicUrl": "${publicUrl}", "port": ${port} }`)
      })
      adminTokens.push(gateway.adminToken)
      const gatewayPort = Number(new URL(gateway.url).port)
      const answer = yield* Effect.promise(
        () =>
          new Promise<AdminGateway.Response>((resolve, reject) => {
            const request = http.request(
              {
                host: "127.0.0.1",
                port: gatewayPort,
                method: "POST",
                path: "/admin/api/mcp/servers/notes/authenticate",
                headers: {
                  host: "evil.example",
                  authorization: `Bearer ${gateway.adminToken}`,
                  "x-forwarded-host": "evil.example"
                }
              },
              (response) => {
                let body = ""
                response.on("data", (chunk: Buffer) => {
                  body += chunk.toString("utf8")
                })
                response.on("end", () => {
                  AdminGateway.allBodies.push(body)
                  resolve({
                    status: response.statusCode ?? 0,
                    headers: new Headers(),
                    text: body,
                    json: JSON.parse(body)
                  })
                })
              }
            )
            request.on("error", reject)
            request.end()
          })
      )
      const { authUrl } = yield* decode(AuthenticateAnswer)(answer)
      assert.strictEqual(
        new URL(authUrl).searchParams.get("redirect_uri"),
        `${publicUrl}/admin/api/mcp/oauth/callback`
      )
      // The page posts to the public origin.
      const page = yield* gateway.request(`${callbackPath}?state=unknown`)
      assert.include(page.text, `postMessage(message, "${publicUrl}")`)
    })
  )

  it.live("listening everywhere without publicUrl, there is no redirect URI to give", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers
      const gateway = yield* AdminGateway.start({
        configText: configText(mcp.url, `"server": { "apiKeys": ["k-${adminTokens.length}"] }`),
        securityHost: "0.0.0.0"
      })
      adminTokens.push(gateway.adminToken)
      const response = yield* gateway.request("/admin/api/mcp/servers/notes/authenticate", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(response.status, 400)
      const error = yield* errorOf(response)
      assert.strictEqual(error.code, "public_url_required")
      assert.include(error.message, "server.publicUrl")
    })
  )

  it.live("an https publicUrl makes the session cookie Secure", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers
      const gateway = yield* AdminGateway.start({
        // Reached through a proxy, so it needs API keys to start.
        configText: configText(
          mcp.url,
          `"server": { "publicUrl": "https://gateway.example", "apiKeys": ["k-${adminTokens.length}"] }`
        )
      })
      adminTokens.push(gateway.adminToken)
      const response = yield* gateway.request("/admin/api/session", {
        method: "POST",
        headers: { origin: "https://gateway.example" },
        body: { token: gateway.adminToken }
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.match(response.headers.get("set-cookie") ?? "", /;\s*Secure/i)
    })
  )

  it.live("a server without OAuth cannot be authenticated", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      const response = yield* gateway.request("/admin/api/mcp/servers/plain/authenticate", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(response.status, 400)
      assert.strictEqual((yield* errorOf(response)).code, "oauth_not_configured")
    })
  )
})

describe("the OAuth callback page", () => {
  it.live("escapes state, error and error_description (no reflected XSS)", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      const attacks = {
        state: `"><script>alert("state")</script>`,
        error: `<img src=x onerror=alert('error')>`,
        error_description: `'"><svg onload=alert(1)></svg><script>alert(document.cookie)</script></script>\u2028`,
        iss: `javascript:alert(1)`
      }
      const page = yield* gateway.request(`${callbackPath}?${new URLSearchParams(attacks).toString()}`)
      assert.strictEqual(page.status, 400)
      assertSafePage(page, gateway.url)
      assert.include(page.text, "&lt;img src=x onerror=alert(&#39;error&#39;)&gt;")
      assert.include(
        page.text,
        "&lt;svg onload=alert(1)&gt;&lt;/svg&gt;&lt;script&gt;alert(document.cookie)&lt;/script&gt;"
      )
      assert.notInclude(page.text, 'alert("state")</script>')
      assert.include(page.text, "unknown or has expired")
      // Quotes in the error the opener gets stay inside the JSON string.
      assert.notInclude(page.text, "javascript:")
    })
  )

  it.live(
    "an error from the authorization server for a real sign-in is shown escaped and reported as failed",
    () =>
      Effect.gen(function* () {
        const { as, gateway } = yield* setup()
        const stream = yield* AdminEvents.open(`${gateway.url}/admin/api/mcp/events`, {
          authorization: `Bearer ${gateway.adminToken}`
        })
        as.denyLogins = true
        const authUrl = yield* authenticate(gateway)
        const callback = new URL(yield* redirectFor(authUrl, `${gateway.url}${callbackPath}`))
        assert.strictEqual(callback.searchParams.get("error"), "access_denied")
        const page = yield* gateway.request(callback.pathname + callback.search)
        assert.strictEqual(page.status, 400)
        assertSafePage(page, gateway.url)
        assert.include(page.text, "access_denied")
        assert.include(page.text, '"server":"notes","ok":false')
        const failed = yield* adminEvent(
          yield* stream.next((event) => event.event === "oauth", "the failed login event")
        )
        assert.strictEqual(failed.event, "oauth")
        assert.strictEqual(failed.event === "oauth" ? failed.data.server : undefined, "notes")
        assert.isFalse(failed.event === "oauth" && failed.data.ok)
        AdminGateway.allBodies.push(stream.raw())
        assert.strictEqual((yield* serverNamed(gateway, "notes")).state, "needs_auth")
      }).pipe(Effect.scoped)
  )

  it.live("an unknown, missing or expired state is refused", () =>
    Effect.gen(function* () {
      const offset = { ms: 0 }
      const clock = AdminGateway.shiftedClock(yield* Clock.Clock, offset)
      const { gateway } = yield* setup({ clock })
      const unknown = yield* gateway.request(`${callbackPath}?code=abc&state=not-a-state-we-sent`)
      assert.strictEqual(unknown.status, 400)
      assert.include(unknown.text, "unknown or has expired")
      const missing = yield* gateway.request(`${callbackPath}?code=abc`)
      assert.strictEqual(missing.status, 400)
      assert.include(missing.text, "without the state of a sign-in")

      const authUrl = yield* authenticate(gateway)
      const callback = new URL(yield* redirectFor(authUrl, `${gateway.url}${callbackPath}`))
      // Eleven minutes later the pending sign-in is gone (it lives for ten).
      offset.ms = 11 * 60 * 1000
      const expired = yield* gateway.request(callback.pathname + callback.search)
      assert.strictEqual(expired.status, 400, expired.text)
      assert.include(expired.text, "unknown or has expired")
      assert.strictEqual((yield* serverNamed(gateway, "notes")).auth.state, "needs-login")
      // A fresh one still works at the new time.
      const fresh = new URL(yield* redirectFor(yield* authenticate(gateway), `${gateway.url}${callbackPath}`))
      assert.strictEqual((yield* gateway.request(fresh.pathname + fresh.search)).status, 200)
    })
  )
})
