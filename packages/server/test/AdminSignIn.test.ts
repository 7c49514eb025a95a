/**
 * Failed admin sign-ins are rate limited per client address: after 10 wrong
 * tokens in a minute (on admin routes or `POST /admin/api/session`) the address
 * gets 429 with Retry-After, even for the right token, until the failures age out.
 */
import * as http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { errorOf } from "./support/AdminApiClient.ts"
import * as AdminGateway from "./support/AdminGateway.ts"

const configText = `{ "mcpServers": {}, "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } } }`

/** A request from another loopback address (Linux routes all of 127.0.0.0/8 to lo). */
const requestFrom = (localAddress: string, url: string, token: string) =>
  Effect.promise(
    () =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          `${url}/admin/api/mcp/servers`,
          { localAddress, headers: { authorization: `Bearer ${token}` } },
          (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          }
        )
        req.once("error", reject)
        req.end()
      })
  )

describe("admin sign-in rate limit", () => {
  it.live("10 failures a minute per address, then 429 with Retry-After until they age out", () =>
    Effect.gen(function* () {
      const offset = { ms: 0 }
      const clock = AdminGateway.shiftedClock(yield* Clock.Clock, offset)
      const gateway = yield* AdminGateway.start({ configText, clock })
      const wrongBearer = () => gateway.request("/admin/api/mcp/servers", { token: "wrong-token" })
      const wrongSession = () =>
        gateway.request("/admin/api/session", { method: "POST", body: { token: "wrong-token" } })
      for (let attempt = 0; attempt < 10; attempt++) {
        const response = yield* attempt % 2 === 0 ? wrongBearer() : wrongSession()
        assert.strictEqual(response.status, 401, `attempt ${attempt}: ${response.text}`)
      }
      for (const response of [yield* wrongBearer(), yield* wrongSession()]) {
        assert.strictEqual(response.status, 429, response.text)
        const retryAfter = Number(response.headers.get("retry-after"))
        assert.isTrue(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter))
        const error = yield* errorOf(response)
        assert.strictEqual(error.code, "too_many_failed_sign_ins")
        assert.include(error.message, "try again in")
      }
      // The right token is refused too while the address is blocked (else guessing goes on).
      const blocked = yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
      assert.strictEqual(blocked.status, 429)
      // Another client address is not affected.
      assert.strictEqual(yield* requestFrom("127.0.0.2", gateway.url, gateway.adminToken), 200)
      assert.strictEqual(yield* requestFrom("127.0.0.2", gateway.url, "wrong-token"), 401)

      // A minute later the failures have aged out: the right token works, a wrong one is a 401 again.
      offset.ms += 61_000
      const after = yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
      assert.strictEqual(after.status, 200, after.text)
      assert.strictEqual((yield* wrongBearer()).status, 401)
      const session = yield* gateway.request("/admin/api/session", {
        method: "POST",
        body: { token: gateway.adminToken }
      })
      assert.strictEqual(session.status, 200)
    }).pipe(Effect.scoped)
  )

  it.live("the counter decays: failures spread over more than a minute never block", () =>
    Effect.gen(function* () {
      const offset = { ms: 0 }
      const clock = AdminGateway.shiftedClock(yield* Clock.Clock, offset)
      const gateway = yield* AdminGateway.start({ configText, clock })
      for (let attempt = 0; attempt < 30; attempt++) {
        const response = yield* gateway.request("/admin/api/mcp/servers", { token: "wrong-token" })
        assert.strictEqual(response.status, 401, `attempt ${attempt}`)
        offset.ms += 7_000
      }
      // Cookies are not guesses at the token: a stale one is a 401 and never counts.
      for (let attempt = 0; attempt < 20; attempt++) {
        const stale = yield* gateway.request("/admin/api/mcp/servers", {
          headers: { cookie: "mcpgate_admin=stale-session-id" }
        })
        assert.strictEqual(stale.status, 401)
      }
      assert.strictEqual(
        (yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })).status,
        200
      )
    }).pipe(Effect.scoped)
  )
})
