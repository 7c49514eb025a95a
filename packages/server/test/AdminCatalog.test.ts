/**
 * `GET /admin/api/mcp/servers/{name}/catalog`: what the admin UI shows of a
 * server besides its tools (resources, templates, prompts, with the names the
 * aggregated `/mcp` gives them).
 */
import { assert, describe, it } from "@effect/vitest"
import { conformanceServer } from "@mcpgate/testing/ConformanceServer"
import { Effect } from "effect"
import { CatalogAnswer } from "../src/api/AdminSchemas.ts"
import { decode } from "./support/AdminApiClient.ts"
import * as AdminGateway from "./support/AdminGateway.ts"

describe("admin catalog", () => {
  it.live(
    "lists a server's resources, templates and prompts, needs the admin token and names unknown servers",
    () =>
      Effect.gen(function* () {
        const upstream = yield* conformanceServer({ pageSize: 2 })
        const gateway = yield* AdminGateway.start({
          configText: JSON.stringify({
            mcpServers: { conf: { url: upstream.url, transport: "streamable-http" } },
            builtins: { fetch: { enabled: false }, webSearch: { enabled: false } }
          })
        })
        yield* gateway.manager.awaitSettled
        const refused = yield* gateway.request("/admin/api/mcp/servers/conf/catalog")
        assert.strictEqual(refused.status, 401)
        const response = yield* gateway.request("/admin/api/mcp/servers/conf/catalog", {
          token: gateway.adminToken
        })
        assert.strictEqual(response.status, 200)
        const catalog = yield* decode(CatalogAnswer)(response)
        assert.deepStrictEqual(
          catalog.resources.map((resource) => [resource.uri, resource.publicUri]),
          [
            ["test://static-text", "mcpgate://conf/test://static-text"],
            ["test://static-binary", "mcpgate://conf/test://static-binary"],
            ["test://watched-resource", "mcpgate://conf/test://watched-resource"]
          ]
        )
        assert.deepStrictEqual(
          catalog.resourceTemplates.map((template) => template.publicUriTemplate),
          ["mcpgate://conf/test://template/{id}/data"]
        )
        const withArgs = catalog.prompts.find((prompt) => prompt.name === "test_prompt_with_arguments")
        assert.strictEqual(withArgs?.publicName, "conf__test_prompt_with_arguments")
        assert.deepStrictEqual(
          withArgs?.arguments.map((arg) => arg.name),
          ["arg1", "arg2"]
        )
        const unknown = yield* gateway.request("/admin/api/mcp/servers/nope/catalog", {
          token: gateway.adminToken
        })
        assert.strictEqual(unknown.status, 404)
      }),
    60_000
  )
})
