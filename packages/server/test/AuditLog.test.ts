/**
 * The audit log (docs/store.md#audit-log) over a whole life cycle: admin
 * sign-ins (refused and accepted), a web login, a refused refresh, a config
 * save, a logout; `GET /admin/api/audit` pages through them newest first, and
 * no secret (tokens, the client secret, the admin token, an API key) ever
 * reaches the log file or the API's answers.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { callbackPath } from "../src/admin/OAuthCallback.ts"
import * as AdminGateway from "./support/AdminGateway.ts"
import { allIssuedTokens, redirectFor, startServers } from "./support/AdminOAuth.ts"

const apiKey = "sk-audit-test-key-5d1e8b2c"
const clientSecret = "cs-audit-secret-9a7f41"

const configText = (protectedUrl: string, extra = "") => `{
  "mcpServers": {
    "notes": { "url": "${protectedUrl}", "auth": { "type": "oauth2" } },
    ${extra}
  },
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } },
  "server": { "apiKeys": ["${apiKey}"] }
}
`

interface Entry {
  readonly id: number
  readonly kind: string
  readonly server?: string
  readonly outcome?: string
  readonly address?: string
  readonly actor?: string
  readonly paths?: ReadonlyArray<string>
}

describe("the audit log", () => {
  it.live("records the life cycle, pages newest first and holds no secret", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers
      const offset = { ms: 0 }
      const clock = AdminGateway.shiftedClock(yield* Clock.Clock, offset)
      const gateway = yield* AdminGateway.start({ configText: configText(mcp.url), clock })
      yield* gateway.manager
        .awaitStatus((all) => all.some((status) => status.name === "notes" && status.state === "needs_auth"))
        .pipe(Effect.timeout("10 seconds"))

      const refused = yield* gateway.request("/admin/api/session", {
        method: "POST",
        body: { token: "not-the-admin-token" }
      })
      assert.strictEqual(refused.status, 401)
      const signedIn = yield* gateway.request("/admin/api/session", {
        method: "POST",
        body: { token: gateway.adminToken }
      })
      assert.strictEqual(signedIn.status, 200, signedIn.text)

      const begun = yield* gateway.request("/admin/api/mcp/servers/notes/authenticate", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(begun.status, 200, begun.text)
      const { authUrl } = begun.json as { authUrl: string }
      const callback = new URL(yield* redirectFor(authUrl, `${gateway.url}${callbackPath}`))
      assert.strictEqual((yield* gateway.request(callback.pathname + callback.search)).status, 200)
      yield* gateway.manager
        .awaitStatus((all) => all.some((status) => status.name === "notes" && status.state === "connected"))
        .pipe(Effect.timeout("10 seconds"))

      // Hours later the token has expired, and the authorization server refuses the refresh.
      as.rewriteToken = (request) =>
        request.grantType === "refresh_token"
          ? { status: 400, body: { error: "invalid_grant", error_description: "revoked" } }
          : undefined
      offset.ms = 3 * 60 * 60 * 1000
      const call = yield* gateway.request("/v1/mcp/execute", {
        method: "POST",
        token: apiKey,
        body: { tool_name: "notes__whoami" }
      })
      assert.notStrictEqual(call.status, 500, call.text)
      as.rewriteToken = undefined

      const saved = yield* gateway.request("/admin/api/mcp/config", {
        method: "PUT",
        token: gateway.adminToken,
        body: {
          text: configText(
            mcp.url,
            `"extra": { "command": "true", "enabled": false, "env": { "CLIENT_SECRET": "${clientSecret}" } }`
          )
        }
      })
      assert.strictEqual(saved.status, 200, saved.text)

      const logout = yield* gateway.request("/admin/api/mcp/servers/notes/logout", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.include([200, 409], logout.status, logout.text)

      const first = yield* gateway.request("/admin/api/audit?limit=3", { token: gateway.adminToken })
      assert.strictEqual(first.status, 200, first.text)
      const page = first.json as { entries: ReadonlyArray<Entry>; next?: number }
      assert.strictEqual(page.entries.length, 3)
      assert.isDefined(page.next)
      const rest = yield* gateway.request(`/admin/api/audit?before=${page.next}&limit=100`, {
        token: gateway.adminToken
      })
      assert.strictEqual(rest.status, 200, rest.text)
      const entries = [...page.entries, ...(rest.json as { entries: ReadonlyArray<Entry> }).entries]
      const ids = entries.map((entry) => entry.id)
      assert.deepStrictEqual(
        ids,
        [...ids].sort((a, b) => b - a),
        "newest first, no overlap"
      )
      const kinds = entries.map((entry) => `${entry.kind}:${entry.outcome ?? ""}`).toReversed()
      assert.deepStrictEqual(kinds.slice(0, 3), ["admin-sign-in:refused", "admin-sign-in:ok", "login:ok"])
      assert.include(kinds, "refresh-failure:NeedsLogin")
      assert.include(kinds, "config-change:")
      assert.include(kinds, "logout:ok")
      const signIn = entries.find((entry) => entry.kind === "admin-sign-in")
      assert.strictEqual(signIn?.address, "127.0.0.1")
      const change = entries.find((entry) => entry.kind === "config-change")
      assert.deepStrictEqual(change?.paths, ["mcpServers.extra"])
      assert.strictEqual(change?.actor, "admin")

      // No secret anywhere: the file on disk and every answer.
      const file = yield* Effect.promise(() => fs.readFile(path.join(gateway.home, "audit.jsonl"), "utf8"))
      assert.isAbove(allIssuedTokens.size, 0)
      const secrets = [...allIssuedTokens, clientSecret, gateway.adminToken, "not-the-admin-token", apiKey]
      for (const secret of secrets) {
        assert.notInclude(file, secret, "a secret reached the audit file")
        for (const body of gateway.bodies) assert.notInclude(body, secret, "a secret reached an answer")
      }
    }).pipe(Effect.scoped)
  )
})
