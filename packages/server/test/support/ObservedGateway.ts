/**
 * A gateway for the observability tests: the stdio test server as `t`, a
 * scripted upstream, API keys, a metrics token and an upstream key, so that
 * the tests can look for every one of those secrets in what is exported.
 */
import { mkdtempSync } from "node:fs"
import { createServer } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Configs from "@mcpgate/testing/Configs"
import { ConfigProvider, Context, Effect, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import * as Gateway from "../../src/Gateway.ts"
import * as Telemetry from "../../src/http/Telemetry.ts"

export const secrets = {
  apiKey: "sk-observed-api-key-0123456789",
  metricsToken: "metrics-scraper-token-0123456789",
  upstreamKey: "sk-upstream-key-0123456789",
  adminToken: "admin-token-observed-0123456789"
} as const

export interface ObservedGatewayOptions {
  readonly upstreamBaseUrl: string
  readonly servers?: ReadonlyArray<ServerConfig> | undefined
  /** The environment the OTLP exporters read (`OTEL_*`); without it nothing is exported. */
  readonly otelEnv?: Record<string, string> | undefined
}

/** Starts the gateway in the current scope; resolves once every server connected. */
export const start = (options: ObservedGatewayOptions) =>
  Effect.gen(function* () {
    const home = mkdtempSync(join(tmpdir(), "mcpgate-observed-"))
    const servers = options.servers ?? [Configs.stdioServer("t")]
    const config = Configs.gateway(servers, {
      server: {
        host: "127.0.0.1",
        port: 0,
        adminToken: Redacted.make(secrets.adminToken),
        apiKeys: [Redacted.make(secrets.apiKey)],
        metricsToken: Redacted.make(secrets.metricsToken),
        upstream: { baseUrl: options.upstreamBaseUrl, apiKey: Redacted.make(secrets.upstreamKey) }
      }
    })
    const telemetry = Telemetry.layerFromEnv.pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(options.otelEnv ?? {}))),
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const context = yield* Layer.build(
      Gateway.layer({ config, host: "127.0.0.1" }).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 })),
        Layer.provide(telemetry),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(CredentialStore.layerMemory),
        Layer.provide(ConfigFile.layerWith({ path: join(home, "mcpgate.json"), env: { MCPGATE_HOME: home } }))
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "InetAddressV4") return yield* Effect.die("expected an IPv4 address")
    const url = `http://127.0.0.1:${address.port}`
    yield* Effect.promise(async () => {
      for (let attempt = 0; attempt < 400; attempt++) {
        const health = (await (await fetch(`${url}/health`)).json()) as {
          mcp: { serversConnected: number; serversTotal: number }
        }
        if (health.mcp.serversConnected === health.mcp.serversTotal) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error("the MCP servers did not connect")
    })
    return { url, port: address.port }
  })
