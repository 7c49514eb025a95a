import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { httpTestServer } from "@mcpgate/testing/HttpTestServer"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { ConfigAnswer, ServersAnswer } from "../src/api/AdminSchemas.ts"
import { adminEvent, decode, errorOf, statusEvent } from "./support/AdminApiClient.ts"
import * as AdminEvents from "./support/AdminEvents.ts"
import * as AdminGateway from "./support/AdminGateway.ts"
import { allIssuedTokens, eventually, startServers } from "./support/AdminOAuth.ts"

const apiKey = `sk-test-${randomBytes(12).toString("hex")}`
/** Every admin token of the suite, for the leak check. */
const adminTokens: Array<string> = []

afterAll(() => {
  const secrets = [apiKey, ...adminTokens, ...allIssuedTokens]
  assert.isAbove(AdminGateway.allBodies.length, 50)
  for (const secret of secrets) {
    for (const body of AdminGateway.allBodies)
      assert.notInclude(body, secret, "a secret appeared in a response body")
  }
})

const configText = (mcpBase: string, protectedUrl: string) => `// The admin API test config.
{
  "mcpServers": {
    "alpha": { "url": "${mcpBase}/mcp", "transport": "streamable-http" },
    "notes": { "url": "${protectedUrl}", "auth": { "type": "oauth2" } },
  },
  "defaultTimeout": 5,
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  "server": { "apiKeys": ["\${env:TEST_API_KEY}"] },
}
`

const setup = (options: { readonly heartbeatMs?: number } = {}) =>
  Effect.gen(function* () {
    const mcp = yield* httpTestServer({ prefixes: ["", "/s1"] })
    const { mcp: protectedServer } = yield* startServers
    const text = configText(mcp.base(""), protectedServer.url)
    const gateway = yield* AdminGateway.start({
      configText: text,
      env: { TEST_API_KEY: apiKey },
      // The matrices below try many wrong tokens; the limit has its own tests (AdminSignIn.test.ts).
      signInFailures: 1000,
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs })
    })
    adminTokens.push(gateway.adminToken)
    yield* gateway.manager
      .awaitStatus((all) => all.some((status) => status.name === "alpha" && status.state === "connected"))
      .pipe(Effect.timeout("10 seconds"))
    return { gateway, mcp, text }
  })

interface Route {
  readonly method: string
  readonly path: string
  readonly body?: unknown
  readonly stream?: boolean
  /** The admin token's answer when it is not a 2xx (alpha has no credential to log out of). */
  readonly accepted?: number
}

const adminRoutes = (text: string): ReadonlyArray<Route> => [
  { method: "GET", path: "/admin/api/mcp/servers" },
  { method: "POST", path: "/admin/api/mcp/servers/alpha/reconnect" },
  { method: "POST", path: "/admin/api/mcp/servers/notes/authenticate" },
  { method: "POST", path: "/admin/api/mcp/servers/alpha/logout", accepted: 409 },
  { method: "GET", path: "/admin/api/mcp/config" },
  { method: "PUT", path: "/admin/api/mcp/config", body: { text } },
  { method: "POST", path: "/admin/api/mcp/reload" },
  { method: "GET", path: "/admin/api/mcp/events", stream: true }
]

/** Calls a route; the events stream is opened, its status read, and closed. */
const hit = (gateway: AdminGateway.AdminGateway, route: Route, options: AdminGateway.RequestOptions) =>
  route.stream === true
    ? Effect.gen(function* () {
        const headers: Record<string, string> = { ...options.headers }
        if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
        const stream = yield* AdminEvents.open(`${gateway.url}${route.path}`, headers)
        if (stream.status >= 400) yield* Effect.promise(() => stream.ended)
        stream.close()
        const text = stream.raw()
        AdminGateway.allBodies.push(text)
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        return { status: stream.status, headers: stream.headers, text, json } satisfies AdminGateway.Response
      }).pipe(Effect.scoped)
    : gateway.request(route.path, {
        ...options,
        method: route.method,
        ...(route.body === undefined ? {} : { body: route.body })
      })

const isWrite = (route: Route) => route.method !== "GET"

const acceptedBy = (route: Route, status: number) =>
  route.accepted === undefined ? status >= 200 && status < 300 : status === route.accepted

const assertAdminHeaders = (response: AdminGateway.Response) => {
  assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
  assert.strictEqual(response.headers.get("referrer-policy"), "no-referrer")
  assert.strictEqual(response.headers.get("cache-control"), "no-store")
}

const login = (gateway: AdminGateway.AdminGateway) =>
  Effect.gen(function* () {
    const response = yield* gateway.request("/admin/api/session", {
      method: "POST",
      body: { token: gateway.adminToken }
    })
    assert.strictEqual(response.status, 200, response.text)
    const setCookie = response.headers.get("set-cookie") ?? ""
    assert.match(setCookie, /^mcpgate_admin=[A-Za-z0-9_-]{43};/)
    assert.match(setCookie, /HttpOnly/i)
    assert.match(setCookie, /SameSite=Strict/i)
    assert.match(setCookie, /Path=\/admin/)
    // Plain http: no Secure (the browser would drop the cookie).
    assert.notMatch(setCookie, /Secure/i)
    return setCookie.split(";")[0] ?? ""
  })

describe("the admin auth matrix", () => {
  it.live("every admin route refuses no token, a wrong one and an API key, and accepts the admin token", () =>
    Effect.gen(function* () {
      const { gateway, text } = yield* setup()
      for (const route of adminRoutes(text)) {
        const what = `${route.method} ${route.path}`
        for (const [label, token] of [
          ["no token", undefined],
          ["a wrong token", "wrong-token"],
          ["an API key", apiKey],
          ["the admin token with a suffix", `${gateway.adminToken}x`]
        ] as const) {
          const response = yield* hit(gateway, route, token === undefined ? {} : { token })
          assert.strictEqual(response.status, 401, `${what} with ${label}: ${response.text}`)
          const error = yield* errorOf(response)
          assert.strictEqual(error.type, "authentication_error")
          assert.strictEqual(error.code, "invalid_admin_token")
          assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer /)
          assertAdminHeaders(response)
        }
        const ok = yield* hit(gateway, route, { token: gateway.adminToken })
        assert.isTrue(acceptedBy(route, ok.status), `${what} with the admin token: ${ok.status} ${ok.text}`)
        assertAdminHeaders(ok)
      }
    })
  )

  it.live(
    "the session cookie opens every route; cookie writes need the CSRF header or a same-origin Origin",
    () =>
      Effect.gen(function* () {
        const { gateway, text } = yield* setup()
        const cookie = yield* login(gateway)
        for (const route of adminRoutes(text)) {
          const what = `${route.method} ${route.path}`
          const headers = { cookie, ...(isWrite(route) ? { "x-mcpgate-csrf": "1" } : {}) }
          const ok = yield* hit(gateway, route, { headers })
          assert.isTrue(acceptedBy(route, ok.status), `${what} with the cookie: ${ok.status} ${ok.text}`)
          if (!isWrite(route)) continue
          const bare = yield* hit(gateway, route, { headers: { cookie } })
          assert.strictEqual(bare.status, 403, `${what} with the cookie and no CSRF header`)
          assert.strictEqual((yield* errorOf(bare)).code, "csrf_check_failed")
          const sameOrigin = yield* hit(gateway, route, { headers: { cookie, origin: gateway.url } })
          assert.isTrue(
            acceptedBy(route, sameOrigin.status),
            `${what} with the cookie and a same-origin Origin: ${sameOrigin.text}`
          )
        }
        // A forged or closed session is no session.
        const forged = yield* gateway.request("/admin/api/mcp/servers", {
          headers: { cookie: `mcpgate_admin=${randomBytes(32).toString("base64url")}` }
        })
        assert.strictEqual(forged.status, 401)
        const closed = yield* gateway.request("/admin/api/session", {
          method: "DELETE",
          headers: { cookie, "x-mcpgate-csrf": "1" }
        })
        assert.strictEqual(closed.status, 200)
        assert.match(
          closed.headers.get("set-cookie") ?? "",
          /^mcpgate_admin=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i
        )
        const after = yield* gateway.request("/admin/api/mcp/servers", { headers: { cookie } })
        assert.strictEqual(after.status, 401)
        // A session is only ever opened with the admin token.
        for (const token of ["wrong", apiKey]) {
          const refused = yield* gateway.request("/admin/api/session", { method: "POST", body: { token } })
          assert.strictEqual(refused.status, 401)
          assert.isNull(refused.headers.get("set-cookie"))
        }
      })
  )

  it.live(
    "a cross-origin write is refused with 403, a same-origin one (or a loopback alias) is accepted",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const port = new URL(gateway.url).port
        const reconnect = (origin: string | undefined, extra: Record<string, string> = {}) =>
          gateway.request("/admin/api/mcp/servers/alpha/reconnect", {
            method: "POST",
            token: gateway.adminToken,
            headers: { ...(origin === undefined ? {} : { origin }), ...extra }
          })
        for (const origin of [
          "https://evil.example",
          "null",
          `http://127.0.0.1:${Number(port) + 1}`,
          `http://evil.localhost.example:${port}`
        ]) {
          const refused = yield* reconnect(origin)
          assert.strictEqual(refused.status, 403, origin)
          const error = yield* errorOf(refused)
          assert.strictEqual(error.type, "permission_error")
          assert.strictEqual(error.code, "cross_origin")
        }
        const fetchMetadata = yield* reconnect(undefined, { "sec-fetch-site": "cross-site" })
        assert.strictEqual(fetchMetadata.status, 403)
        for (const origin of [gateway.url, `http://localhost:${port}`, `http://[::1]:${port}`, undefined]) {
          const accepted = yield* reconnect(origin)
          assert.strictEqual(accepted.status, 200, `${origin}: ${accepted.text}`)
        }
        // A session cannot be opened from another origin either.
        const session = yield* gateway.request("/admin/api/session", {
          method: "POST",
          headers: { origin: "https://evil.example" },
          body: { token: gateway.adminToken }
        })
        assert.strictEqual(session.status, 403)
        assert.isNull(session.headers.get("set-cookie"))
      })
  )

  it.live("unknown admin paths need the token, then answer 404 JSON", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      const anonymous = yield* gateway.request("/admin/api/mcp/nothing-here")
      assert.strictEqual(anonymous.status, 401)
      const missing = yield* gateway.request("/admin/api/mcp/nothing-here", { token: gateway.adminToken })
      assert.strictEqual(missing.status, 404)
      assert.strictEqual((yield* errorOf(missing)).type, "not_found_error")
      const wrongMethod = yield* gateway.request("/admin/api/mcp/config", {
        method: "DELETE",
        token: gateway.adminToken
      })
      assert.strictEqual(wrongMethod.status, 404)
      for (const action of ["reconnect", "authenticate", "logout"]) {
        const unknown = yield* gateway.request(`/admin/api/mcp/servers/ghost/${action}`, {
          method: "POST",
          token: gateway.adminToken
        })
        assert.strictEqual(unknown.status, 404, action)
        assert.deepStrictEqual(yield* errorOf(unknown), {
          message: 'no server named "ghost" in the config',
          type: "not_found_error",
          code: "server_not_found"
        })
      }
    })
  )
})

describe("the admin token across starts", () => {
  it.live("is generated on the first start (said once), stored 0600, and the same on the next start", () =>
    Effect.gen(function* () {
      const home = yield* AdminGateway.tempHome
      const configText = `{ "mcpServers": {} }`
      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          const gateway = yield* AdminGateway.start({ configText, home })
          assert.isTrue(gateway.security.adminToken.generated)
          assert.strictEqual(gateway.security.adminToken.source, "generated")
          const ok = yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
          assert.strictEqual(ok.status, 200)
          return gateway.adminToken
        })
      )
      adminTokens.push(first)
      const file = path.join(home, "admin-token")
      assert.strictEqual((yield* Effect.promise(() => fs.stat(file))).mode & 0o777, 0o600)
      assert.strictEqual((yield* Effect.promise(() => fs.readFile(file, "utf8"))).trim(), first)
      const second = yield* AdminGateway.start({ configText, home })
      assert.isFalse(second.security.adminToken.generated)
      assert.strictEqual(second.security.adminToken.source, "file")
      assert.strictEqual(second.adminToken, first)
      assert.strictEqual((yield* second.request("/admin/api/mcp/servers", { token: first })).status, 200)
    })
  )
})

describe("API keys on /v1 and /mcp", () => {
  it.live(
    "without a key, with a wrong one or the admin token: 401 invalid_api_key; with a key: through",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const calls = [
          { method: "GET", path: "/v1/models" },
          { method: "POST", path: "/mcp", body: { jsonrpc: "2.0", id: 1, method: "ping" } },
          { method: "GET", path: "/mcp" },
          { method: "DELETE", path: "/mcp" }
        ]
        for (const call of calls) {
          const what = `${call.method} ${call.path}`
          for (const token of [
            undefined,
            "wrong-key",
            gateway.adminToken,
            `${apiKey}x`,
            apiKey.slice(0, -1)
          ]) {
            const response = yield* gateway.request(call.path, {
              method: call.method,
              ...(call.body === undefined ? {} : { body: call.body }),
              ...(token === undefined ? {} : { token })
            })
            assert.strictEqual(
              response.status,
              401,
              `${what} with ${token === undefined ? "no key" : "a wrong key"}`
            )
            const error = yield* errorOf(response)
            assert.strictEqual(error.type, "authentication_error")
            assert.strictEqual(error.code, "invalid_api_key")
            assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer\b/)
          }
          const basic = yield* gateway.request(call.path, {
            method: call.method,
            headers: { authorization: `Basic ${Buffer.from(`user:${apiKey}`).toString("base64")}` }
          })
          assert.strictEqual(basic.status, 401, `${what} with Basic`)
          const ok = yield* gateway.request(call.path, {
            method: call.method,
            token: apiKey,
            ...(call.body === undefined ? {} : { body: call.body })
          })
          assert.strictEqual(ok.status, 200, `${what} with the key: ${ok.text}`)
        }
        // The OpenAI route answered for real, from the scripted upstream.
        const models = yield* gateway.request("/v1/models", { token: apiKey })
        assert.deepStrictEqual(Object.keys(models.json as object).sort(), ["data", "object"])
      })
  )

  it.live("open on loopback without keys, but not to a foreign Origin or Host (DNS rebinding)", () =>
    Effect.gen(function* () {
      const mcp = yield* httpTestServer()
      const gateway = yield* AdminGateway.start({
        configText: `{ "mcpServers": { "alpha": { "url": "${mcp.base("")}/mcp" } } }`
      })
      adminTokens.push(gateway.adminToken)
      const open = yield* gateway.request("/v1/models")
      assert.strictEqual(open.status, 200)
      const sameOrigin = yield* gateway.request("/mcp", { method: "GET", headers: { origin: gateway.url } })
      assert.strictEqual(sameOrigin.status, 200)
      const foreign = yield* gateway.request("/mcp", {
        method: "POST",
        headers: { origin: "https://evil.example" },
        body: { jsonrpc: "2.0", id: 1, method: "ping" }
      })
      assert.strictEqual(foreign.status, 403)
      assert.strictEqual((yield* errorOf(foreign)).code, "forbidden_origin")
      // fetch cannot set Host: a raw request can, as a rebound browser would.
      const port = Number(new URL(gateway.url).port)
      const withHost = (host: string) =>
        Effect.promise(
          () =>
            new Promise<{ status: number; body: string }>((resolve, reject) => {
              const request = http.request(
                { host: "127.0.0.1", port, path: "/v1/models", method: "GET", headers: { host } },
                (response) => {
                  let body = ""
                  response.on("data", (chunk: Buffer) => {
                    body += chunk.toString("utf8")
                  })
                  response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
                }
              )
              request.on("error", reject)
              request.end()
            })
        )
      const rebound = yield* withHost(`attacker.example:${port}`)
      assert.strictEqual(rebound.status, 403)
      assert.include(rebound.body, "forbidden_host")
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
        assert.strictEqual((yield* withHost(host)).status, 200, host)
      }
    })
  )
})

describe("request bodies", () => {
  it.live(
    "malformed, mistyped and oversized bodies on every admin write route are 4xx JSON, and the gateway keeps serving",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup()
        const writes = [
          { method: "POST", path: "/admin/api/mcp/servers/alpha/reconnect" },
          { method: "POST", path: "/admin/api/mcp/servers/notes/authenticate" },
          { method: "POST", path: "/admin/api/mcp/servers/alpha/logout" },
          { method: "PUT", path: "/admin/api/mcp/config" },
          { method: "POST", path: "/admin/api/mcp/reload" },
          { method: "POST", path: "/admin/api/session" },
          { method: "DELETE", path: "/admin/api/session" }
        ]
        const big = `{"text": "${"x".repeat(1024 * 1024)}"}`
        for (const route of writes) {
          const what = `${route.method} ${route.path}`
          const send = (body: string, contentType = "application/json") =>
            gateway.request(route.path, {
              method: route.method,
              token: gateway.adminToken,
              headers: { "content-type": contentType },
              body
            })
          const malformed = yield* send('{"text": ')
          assert.strictEqual(malformed.status, 400, what)
          assert.strictEqual((yield* errorOf(malformed)).code, "invalid_json")
          const mistyped = yield* send('{"text": "x"}', "text/plain")
          assert.strictEqual(mistyped.status, 415, what)
          assert.strictEqual((yield* errorOf(mistyped)).code, "unsupported_media_type")
          const oversized = yield* send(big)
          assert.strictEqual(oversized.status, 413, what)
          assert.strictEqual((yield* errorOf(oversized)).code, "body_too_large")
          assertAdminHeaders(oversized)
          // Invalid UTF-8 is malformed too.
          const binary = yield* gateway.request(route.path, {
            method: route.method,
            token: gateway.adminToken,
            headers: { "content-type": "application/json" },
            body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("latin1")
          })
          assert.isTrue(binary.status === 400, `${what}: ${binary.status}`)
        }
        // Chunked (no Content-Length) and over the limit: refused while reading.
        const chunked = yield* Effect.promise(async () => {
          const encoder = new TextEncoder()
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              for (let i = 0; i < 20; i++) controller.enqueue(encoder.encode("x".repeat(64 * 1024)))
              controller.close()
            }
          })
          const response = await fetch(`${gateway.url}/admin/api/mcp/config`, {
            method: "PUT",
            headers: { authorization: `Bearer ${gateway.adminToken}`, "content-type": "application/json" },
            body,
            duplex: "half"
          } as RequestInit)
          return { status: response.status, text: await response.text() }
        })
        AdminGateway.allBodies.push(chunked.text)
        assert.strictEqual(chunked.status, 413)
        // Wrong shapes.
        for (const body of [{}, { text: 42 }, [], "just a string", { text: "{}", baseHash: 7 }]) {
          const response = yield* gateway.request("/admin/api/mcp/config", {
            method: "PUT",
            token: gateway.adminToken,
            body: JSON.stringify(body),
            headers: { "content-type": "application/json" }
          })
          assert.strictEqual(response.status, 400, JSON.stringify(body))
          assert.strictEqual((yield* errorOf(response)).code, "invalid_body")
        }
        const still = yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
        assert.strictEqual(still.status, 200)
        assert.strictEqual((yield* gateway.request("/v1/models", { token: apiKey })).status, 200)
      })
  )
})

describe("GET servers", () => {
  it.live("lists every configured server with state, tools and auth metadata", () =>
    Effect.gen(function* () {
      const { gateway } = yield* setup()
      yield* gateway.manager
        .awaitStatus((all) => all.some((status) => status.name === "notes" && status.state === "needs_auth"))
        .pipe(Effect.timeout("10 seconds"))
      const response = yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
      assert.strictEqual(response.status, 200)
      assert.match(response.headers.get("content-type") ?? "", /^application\/json/)
      const body = yield* decode(ServersAnswer)(response)
      assert.deepStrictEqual(
        body.servers.map((server) => server.name),
        ["alpha", "notes"]
      )
      const [alpha, notes] = body.servers
      assert.strictEqual(alpha?.state, "connected")
      assert.strictEqual(alpha?.transport, "streamable-http")
      assert.isTrue(alpha?.enabled)
      assert.strictEqual(alpha?.toolCount, 3)
      assert.isNumber(alpha?.lastConnectedAt)
      assert.deepStrictEqual(
        alpha?.tools.map((tool) => tool.publicName),
        ["alpha__echo", "alpha__slow", "alpha__whoami"]
      )
      const echo = alpha?.tools[0]
      assert.strictEqual(echo?.name, "echo")
      assert.strictEqual(echo?.description, "Echoes its text")
      assert.deepStrictEqual(echo?.inputSchema, {
        type: "object",
        properties: { text: { type: "string" } },
        required: ["text"]
      })
      assert.strictEqual(alpha?.auth.state, "not-required")
      assert.strictEqual(notes?.state, "needs_auth")
      assert.strictEqual(notes?.auth.state, "needs-login")
      assert.deepStrictEqual(notes?.tools, [])
    })
  )
})

describe("the config editor", () => {
  it.live("GET config returns the file as on disk, ${env:…} references unexpanded", () =>
    Effect.gen(function* () {
      const { gateway, text } = yield* setup()
      const response = yield* gateway.request("/admin/api/mcp/config", { token: gateway.adminToken })
      assert.strictEqual(response.status, 200)
      const body = yield* decode(ConfigAnswer)(response)
      assert.strictEqual(body.text, text)
      assert.strictEqual(body.path, gateway.configPath)
      assert.isTrue(body.exists)
      assert.include(body.text, "${env:TEST_API_KEY}")
      assert.notInclude(response.text, apiKey)
    })
  )

  it.live("a broken config is refused with issues at their lines and the file is left byte for byte", () =>
    Effect.gen(function* () {
      const { gateway, text } = yield* setup()
      const before = yield* Effect.promise(() => fs.readFile(gateway.configPath))
      const broken = text.replace(
        '"transport": "streamable-http"',
        '"transport": "streamable-http", "comand": "x"'
      )
      const brokenLine = broken.split("\n").findIndex((line) => line.includes('"comand"')) + 1
      const response = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: broken }
      })
      assert.strictEqual(response.status, 400, response.text)
      const error = yield* errorOf(response)
      assert.strictEqual(error.type, "invalid_request_error")
      assert.strictEqual(error.code, "invalid_config")
      assert.include(error.message, "mcpServers.alpha.comand")
      const issue = error.issues?.[0]
      assert.strictEqual(issue?.path, "mcpServers.alpha.comand")
      assert.strictEqual(issue?.line, brokenLine)
      assert.strictEqual(issue?.column, (broken.split("\n")[brokenLine - 1]?.indexOf('"comand"') ?? -2) + 1)
      // A syntax error is located too.
      const syntax = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: '{\n  "mcpServers": {\n    "a": { "url": \n  }\n}' }
      })
      assert.strictEqual(syntax.status, 400)
      const syntaxIssue = (yield* errorOf(syntax)).issues?.[0]
      assert.strictEqual(syntaxIssue?.line, 4)
      // A missing variable is an issue naming it.
      const missingVariable = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: text.replace("TEST_API_KEY", "NOT_SET_ANYWHERE") }
      })
      assert.strictEqual(missingVariable.status, 400)
      assert.include(missingVariable.text, "NOT_SET_ANYWHERE")
      const after = yield* Effect.promise(() => fs.readFile(gateway.configPath))
      assert.isTrue(before.equals(after))
      const backups = yield* Effect.promise(() =>
        fs.readdir(path.join(gateway.home, "backups")).catch(() => [])
      )
      assert.deepStrictEqual(backups, [])
    })
  )

  it.live("a config whose admin token is an API key is refused", () =>
    Effect.gen(function* () {
      const { gateway, text } = yield* setup()
      const clashing = text.replace('"apiKeys"', '"adminToken": "${env:TEST_API_KEY}", "apiKeys"')
      const response = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: clashing }
      })
      assert.strictEqual(response.status, 400)
      assert.strictEqual((yield* errorOf(response)).code, "invalid_config")
      assert.include(response.text, "server.apiKeys")
      assert.strictEqual(yield* Effect.promise(() => fs.readFile(gateway.configPath, "utf8")), text)
    })
  )

  it.live("a valid config is saved with a backup and applied: the new server appears", () =>
    Effect.gen(function* () {
      const { gateway, text, mcp } = yield* setup()
      const current = yield* decode(ConfigAnswer)(
        yield* gateway.request("/admin/api/mcp/config", { token: gateway.adminToken })
      )
      const next = text.replace(
        '"mcpServers": {',
        `"mcpServers": {\n    // added from the editor\n    "gamma": { "url": "${mcp.base("/s1")}/mcp", "transport": "streamable-http" },`
      )
      const response = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: next, baseHash: current.hash }
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.deepStrictEqual(response.json, { ok: true, path: gateway.configPath, restartRequired: false })
      assert.strictEqual(yield* Effect.promise(() => fs.readFile(gateway.configPath, "utf8")), next)
      const backups = yield* Effect.promise(() => fs.readdir(path.join(gateway.home, "backups")))
      assert.strictEqual(backups.length, 1)
      assert.strictEqual(
        yield* Effect.promise(() =>
          fs.readFile(path.join(gateway.home, "backups", backups[0] ?? ""), "utf8")
        ),
        text
      )
      yield* gateway.manager
        .awaitStatus((all) => all.some((status) => status.name === "gamma" && status.state === "connected"))
        .pipe(Effect.timeout("10 seconds"))
      const servers = yield* decode(ServersAnswer)(
        yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
      )
      const gamma = servers.servers.find((server) => server.name === "gamma")
      assert.strictEqual(gamma?.state, "connected")
      assert.deepStrictEqual(
        gamma?.tools.map((tool) => tool.publicName),
        ["gamma__echo", "gamma__slow", "gamma__whoami"]
      )
      // The old hash is stale now: a second editor's save is refused, not lost.
      const stale = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text, baseHash: current.hash }
      })
      assert.strictEqual(stale.status, 409)
      assert.strictEqual((yield* errorOf(stale)).code, "config_changed")
      assert.strictEqual(yield* Effect.promise(() => fs.readFile(gateway.configPath, "utf8")), next)
      // A setting that only a restart applies says so.
      const moved = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: next.replace('"server": {', '"server": { "port": 9999,') }
      })
      assert.strictEqual(moved.status, 200, moved.text)
      assert.deepStrictEqual(moved.json, { ok: true, path: gateway.configPath, restartRequired: true })
      // So does a secret of those settings, though the config holds it `Redacted`.
      const withUpstreamKey = (key: string) =>
        next.replace(
          '"server": {',
          `"server": { "upstream": { "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "${key}" },`
        )
      const keyed = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: withUpstreamKey("upstream-key-one") }
      })
      assert.strictEqual(keyed.status, 200, keyed.text)
      const rekeyed = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: withUpstreamKey("upstream-key-two") }
      })
      assert.deepStrictEqual(rekeyed.json, { ok: true, path: gateway.configPath, restartRequired: true })
    })
  )

  it.live("POST reload re-reads the file and applies it; a broken file is a 400 with issues", () =>
    Effect.gen(function* () {
      const { gateway, text, mcp } = yield* setup()
      const next = text.replace(
        '"mcpServers": {',
        `"mcpServers": {\n    "delta": { "url": "${mcp.base("/s1")}/mcp", "transport": "streamable-http" },`
      )
      yield* Effect.promise(() => fs.writeFile(gateway.configPath, next))
      const response = yield* gateway.request("/admin/api/mcp/reload", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(response.status, 200, response.text)
      yield* gateway.manager
        .awaitStatus((all) => all.some((status) => status.name === "delta" && status.state === "connected"))
        .pipe(Effect.timeout("10 seconds"))
      yield* Effect.promise(() => fs.writeFile(gateway.configPath, `${next}\n{`))
      const broken = yield* gateway.request("/admin/api/mcp/reload", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(broken.status, 400)
      const issues = (yield* errorOf(broken)).issues ?? []
      assert.isAbove(issues.length, 0)
      assert.isNumber(issues[0]?.line)
      // The running servers are untouched by the refused reload.
      const servers = yield* decode(ServersAnswer)(
        yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
      )
      assert.deepStrictEqual(
        servers.servers.map((server) => server.name),
        ["delta", "alpha", "notes"]
      )
    })
  )

  it.live("API keys changed in the editor apply at once", () =>
    Effect.gen(function* () {
      const { gateway, text } = yield* setup()
      const rotated = text.replace('"${env:TEST_API_KEY}"', '"${env:TEST_API_KEY}-rotated"')
      const response = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: { text: rotated }
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.strictEqual((yield* gateway.request("/v1/models", { token: apiKey })).status, 401)
      assert.strictEqual((yield* gateway.request("/v1/models", { token: `${apiKey}-rotated` })).status, 200)
    })
  )
})

describe("GET events", () => {
  it.effect("starts with a snapshot, then reports a reconnect, with heartbeats in between", () =>
    Effect.gen(function* () {
      // The default heartbeat (every 15 seconds), on the test clock.
      const { gateway } = yield* setup()
      const stream = yield* AdminEvents.open(`${gateway.url}/admin/api/mcp/events`, {
        authorization: `Bearer ${gateway.adminToken}`
      })
      assert.strictEqual(stream.status, 200)
      assert.match(stream.headers.get("content-type") ?? "", /^text\/event-stream/)
      assert.strictEqual(stream.headers.get("cache-control"), "no-store")
      const first = yield* adminEvent(yield* stream.next(() => true, "the first event"))
      assert.strictEqual(first.event, "snapshot")
      const snapshot = first.event === "snapshot" ? first.data : undefined
      assert.deepStrictEqual(
        snapshot?.servers.map((server) => server.name),
        ["alpha", "notes"]
      )
      assert.strictEqual(snapshot?.servers[0]?.state, "connected")
      const reconnect = yield* gateway.request("/admin/api/mcp/servers/alpha/reconnect", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(reconnect.status, 200)
      const isStatus = (state: "connecting" | "connected") => statusEvent("alpha", state)
      yield* stream.next(isStatus("connecting"), "alpha connecting")
      const connected = yield* stream.next(isStatus("connected"), "alpha connected again")
      const status = yield* adminEvent(connected)
      assert.strictEqual(status.event === "status" ? status.data.toolCount : undefined, 3)
      const connectingAt = stream.events.findIndex(isStatus("connecting"))
      assert.isTrue(connectingAt > 0 && connectingAt < stream.events.indexOf(connected))
      yield* TestClock.adjust("15 seconds")
      assert.strictEqual(yield* stream.waitForComment("a heartbeat"), "heartbeat")
      AdminGateway.allBodies.push(stream.raw())
    }).pipe(Effect.scoped)
  )

  it.live(
    "works with the session cookie (EventSource cannot send headers) and ends when the client goes away",
    () =>
      Effect.gen(function* () {
        const { gateway } = yield* setup({ heartbeatMs: 20 })
        const cookie = yield* login(gateway)
        for (let round = 1; round <= 3; round++) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const stream = yield* AdminEvents.open(`${gateway.url}/admin/api/mcp/events`, { cookie })
              assert.strictEqual(stream.status, 200)
              yield* stream.next((event) => event.event === "snapshot", "the snapshot")
              // Heartbeats are being written when the client leaves.
              yield* stream.waitForComment("a heartbeat")
              assert.strictEqual(gateway.eventStreams.opened, round)
              AdminGateway.allBodies.push(stream.raw())
            })
          )
          yield* eventually(
            () => gateway.eventStreams.closed === round,
            `stream ${round} to end on the server`
          )
        }
        const response = yield* gateway.request("/admin/api/mcp/servers/alpha/reconnect", {
          method: "POST",
          token: gateway.adminToken
        })
        assert.strictEqual(response.status, 200)
        yield* gateway.manager
          .awaitStatus((all) => all.some((status) => status.name === "alpha" && status.state === "connected"))
          .pipe(Effect.timeout("10 seconds"))
      })
  )
})
