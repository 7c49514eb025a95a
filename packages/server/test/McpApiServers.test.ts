/**
 * What a stdio server writes to stderr is a detail of the host: admins see its
 * last lines (the admin API), API-key holders do not (`/v1/mcp/servers`), and the
 * gateway logs every line at debug level under the server's name.
 */
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Configs from "@mcpgate/testing/Configs"
import { Cause, Context, Effect, Layer, Logger, Redacted, References } from "effect"
import { HttpServer } from "effect/http"
import * as Gateway from "../src/Gateway.ts"

const apiKey = "key-of-a-client"
const adminToken = "admin-token-of-this-test"

const logLines: Array<string> = []
const captureLogger = Logger.make((options) => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  logLines.push(
    [
      options.logLevel,
      ...parts.map((part) => (typeof part === "string" ? part : JSON.stringify(part))),
      JSON.stringify(
        Object.fromEntries(Object.entries(options.fiber.getRef(References.CurrentLogAnnotations)))
      ),
      options.cause.reasons.length === 0 ? "" : Cause.pretty(options.cause)
    ].join(" ")
  )
})

const start = Effect.gen(function* () {
  const home = mkdtempSync(join(tmpdir(), "mcpgate-servers-"))
  const config = Configs.gateway([Configs.stdioServer("crasher", ["--crash-on-start"])], {
    server: {
      host: "127.0.0.1",
      port: 0,
      apiKeys: [Redacted.make(apiKey)],
      adminToken: Redacted.make(adminToken)
    }
  })
  const context = yield* Layer.build(
    Gateway.layer({ config, host: "127.0.0.1" }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 })),
      Layer.provide(NodeHttpClient.layerUndici),
      Layer.provide(CredentialStore.layerMemory),
      Layer.provide(ConfigFile.layerWith({ path: join(home, "mcpgate.json"), env: { MCPGATE_HOME: home } })),
      Layer.provide(Logger.layer([captureLogger])),
      Layer.provide(Layer.succeed(References.MinimumLogLevel, "Debug"))
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "InetAddressV4") return yield* Effect.die("expected an IPv4 address")
  const url = `http://127.0.0.1:${address.port}`
  // Until the crasher's first attempt has failed.
  yield* Effect.promise(async () => {
    for (let attempt = 0; attempt < 400; attempt++) {
      const response = await fetch(`${url}/v1/mcp/servers`, {
        headers: { authorization: `Bearer ${apiKey}` }
      })
      const body = (await response.json()) as { servers: ReadonlyArray<{ state: string }> }
      if (body.servers[0]?.state === "error") return
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    throw new Error("the crasher never failed")
  })
  return url
})

const getJson = (url: string, token: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    return { status: response.status, text: await response.text() }
  })

describe("stdio stderr", () => {
  it.live("is shown to admins only, and logged at debug level with the server's name", () =>
    Effect.gen(function* () {
      const url = yield* start

      const forClients = yield* getJson(`${url}/v1/mcp/servers`, apiKey)
      assert.strictEqual(forClients.status, 200)
      const { servers } = JSON.parse(forClients.text) as {
        servers: ReadonlyArray<{ name: string; state: string; lastError?: string }>
      }
      assert.strictEqual(servers[0]?.state, "error")
      assert.include(servers[0]?.lastError ?? "", "exited with code 3")
      assert.notInclude(forClients.text, "told to crash")
      assert.notInclude(forClients.text, "stderr")

      const forAdmins = yield* getJson(`${url}/admin/api/mcp/servers`, adminToken)
      assert.strictEqual(forAdmins.status, 200)
      const admin = JSON.parse(forAdmins.text) as {
        servers: ReadonlyArray<{ name: string; lastError?: string; stderr?: string }>
      }
      assert.include(admin.servers[0]?.stderr ?? "", "fatal: the test server was told to crash")

      const logged = logLines.filter((line) => line.includes("told to crash"))
      assert.isAbove(logged.length, 0, "the stderr line was logged")
      for (const line of logged) {
        assert.match(line, /^Debug /)
        assert.include(line, "crasher")
      }
    }).pipe(Effect.scoped)
  )
})
