/**
 * docs/http-api.md is generated from the http-api groups in src/api/
 * (`pnpm run docs`); these tests fail when it is stale, misses a route, or
 * when a route's documented error codes and its declared errors disagree.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { AdminHttpApi } from "../src/api/AdminHttpApi.ts"
import * as ApiErrors from "../src/api/ApiErrors.ts"
import { documentedCodes, renderHttpApiReference } from "../src/api/HttpApiReference.ts"
import { McpJsonHttpApi } from "../src/api/McpJsonHttpApi.ts"

const committed = path.join(import.meta.dirname, "..", "..", "..", "docs", "http-api.md")

describe("the HTTP API reference", () => {
  it.effect("docs/http-api.md is what the groups render (run `pnpm run docs` when this fails)", () =>
    Effect.gen(function* () {
      const text = yield* Effect.promise(() => fs.readFile(committed, "utf8"))
      assert.strictEqual(text, renderHttpApiReference(), "docs/http-api.md is stale: run `pnpm run docs`")
    })
  )

  it("names every route and every code it answers", () => {
    const reference = renderHttpApiReference()
    const routes = [...documentedCodes(McpJsonHttpApi), ...documentedCodes(AdminHttpApi)]
    assert.deepStrictEqual(
      routes.map(({ route }) => route),
      [
        "GET /v1/mcp/tools",
        "GET /v1/mcp/servers",
        "POST /v1/mcp/execute",
        "POST /admin/api/session",
        "DELETE /admin/api/session",
        "GET /admin/api/mcp/servers",
        "GET /admin/api/mcp/servers/{name}/catalog",
        "POST /admin/api/mcp/servers/{name}/reconnect",
        "POST /admin/api/mcp/servers/{name}/authenticate",
        "POST /admin/api/mcp/servers/{name}/logout",
        "GET /admin/api/mcp/users",
        "DELETE /admin/api/mcp/users/{user}/connections/{server}",
        "GET /admin/api/mcp/oauth/callback",
        "GET /admin/api/mcp/config",
        "PUT /admin/api/mcp/config",
        "POST /admin/api/mcp/reload",
        "GET /admin/api/mcp/events",
        "GET /admin/api/audit",
        "GET /admin/api/config/history",
        "GET /admin/api/activity"
      ]
    )
    for (const { route, codes } of routes) {
      assert.include(reference, `#### \`${route}\``)
      for (const code of codes) assert.include(reference, code.code, route)
    }
  })

  it("refuses a route whose documented codes and declared errors disagree", () => {
    const undeclared = HttpApi.make("undeclared").add(
      HttpApiGroup.make("group").add(
        HttpApiEndpoint.get("get", "/thing").annotate(ApiErrors.ErrorCodes, [
          ApiErrors.errorCode(ApiErrors.NotFound, "not_found_error", "no_thing", "no thing")
        ])
      )
    )
    assert.throws(
      () => documentedCodes(undeclared),
      /GET \/thing documents no_thing \(404\) but declares no 404 error/
    )
    const undocumented = HttpApi.make("undocumented").add(
      HttpApiGroup.make("group").add(HttpApiEndpoint.get("get", "/thing", { error: ApiErrors.ConflictJson }))
    )
    assert.throws(
      () => documentedCodes(undocumented),
      /GET \/thing declares a 409 error but documents no code/
    )
  })
})
