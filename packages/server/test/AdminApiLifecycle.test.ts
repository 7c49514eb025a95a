/**
 * What the admin API does to a server's connection: a logout of a server that
 * has no credential changes nothing and says so, and a reload or a config save
 * leaves every enabled server connected or retrying, including one that was
 * disconnected by hand.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import type { ServerState } from "@mcpgate/transport/ConnectionState"
import { Effect } from "effect"
import { ServersAnswer } from "../src/api/AdminSchemas.ts"
import { decode, errorOf } from "./support/AdminApiClient.ts"
import * as AdminGateway from "./support/AdminGateway.ts"

const configText = `{
  "mcpServers": {
    "everything": { "command": ${JSON.stringify(process.execPath)}, "args": [${JSON.stringify(Configs.everythingPath)}, "stdio"] },
    "idle": { "command": ${JSON.stringify(process.execPath)}, "args": [${JSON.stringify(Configs.stdioTestServerPath)}], "enabled": false }
  },
  "defaultTimeout": 10,
  "builtins": { "fetch": { "enabled": false }, "webSearch": { "enabled": false } }
}
`

const live: ReadonlyArray<ServerState> = ["connected", "connecting", "error"]

const setup = Effect.gen(function* () {
  const gateway = yield* AdminGateway.start({ configText })
  yield* connected(gateway)
  return gateway
})

const connected = (gateway: AdminGateway.AdminGateway) =>
  gateway.manager
    .awaitStatus((all) => all.some((status) => status.name === "everything" && status.state === "connected"))
    .pipe(Effect.timeout("20 seconds"))

const stateOf = (gateway: AdminGateway.AdminGateway, name: string) =>
  Effect.map(gateway.manager.serverStatus(name), (status) => status.state)

describe("admin API: server lifecycle", () => {
  it.live("logout of a server without a credential is a 409 that says so, and keeps it connected", () =>
    Effect.gen(function* () {
      const gateway = yield* setup
      const response = yield* gateway.request("/admin/api/mcp/servers/everything/logout", {
        method: "POST",
        token: gateway.adminToken
      })
      assert.strictEqual(response.status, 409, response.text)
      const error = yield* errorOf(response)
      assert.strictEqual(error.code, "no_credential")
      assert.include(error.message, '"everything"')
      assert.include(error.message, "no credential")
      assert.strictEqual(yield* stateOf(gateway, "everything"), "connected")
      const tools = yield* decode(ServersAnswer)(
        yield* gateway.request("/admin/api/mcp/servers", { token: gateway.adminToken })
      )
      const everything = tools.servers.find((server) => server.name === "everything")
      assert.strictEqual(everything?.state, "connected")
      assert.isAbove(everything?.tools.length ?? 0, 0)
    }).pipe(Effect.scoped)
  )

  for (const how of ["POST reload", "PUT config"] as const) {
    it.live(`${how} brings back a server that was disconnected, and leaves disabled ones alone`, () =>
      Effect.gen(function* () {
        const gateway = yield* setup
        yield* gateway.manager.disconnect("everything")
        assert.strictEqual(yield* stateOf(gateway, "everything"), "disconnected")
        const response =
          how === "POST reload"
            ? yield* gateway.request("/admin/api/mcp/reload", { method: "POST", token: gateway.adminToken })
            : yield* gateway.request("/admin/api/mcp/config", {
                method: "PUT",
                token: gateway.adminToken,
                body: { text: configText }
              })
        assert.strictEqual(response.status, 200, response.text)
        assert.include(live, yield* stateOf(gateway, "everything"))
        yield* connected(gateway)
        assert.strictEqual(yield* stateOf(gateway, "idle"), "disabled")
      }).pipe(Effect.scoped)
    )
  }
})
