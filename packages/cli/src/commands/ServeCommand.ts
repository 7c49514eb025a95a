/**
 * `mcpgate serve`: launches the gateway's HTTP server until SIGINT/SIGTERM.
 */
import module from "node:module"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import type { ListeningInfo } from "@mcpgate/server/Gateway"
import { Effect, Layer, Option, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import { configFileLayer, credentialStoreLayer } from "../Layers.ts"
import * as Logging from "../Logging.ts"
import * as Output from "../Output.ts"
import { startingConfig, storeLayers } from "../StoreLayers.ts"

export const serve = Command.make(
  "serve",
  {
    host: Flag.String("host").pipe(
      Flag.withDescription("Address to bind (default: server.host or 127.0.0.1)"),
      Flag.optional
    ),
    port: Flag.Int("port").pipe(
      Flag.withDescription("Port to bind (default: server.port or 8808)"),
      Flag.optional
    ),
    logFormat: Logging.logFormatFlag,
    logLevel: Logging.logLevelFlag
  },
  Effect.fn(
    function* (flags) {
      // What binding needs first; the gateway itself (most of the code) is loaded once the port is bound.
      const [NodeListener, ConfigChecks] = yield* Effect.promise(() =>
        Promise.all([
          import("@mcpgate/server/http/NodeListener"),
          import("@mcpgate/server/security/ConfigChecks")
        ])
      )
      const file = yield* ConfigFile
      const loaded = yield* file.load
      const { path, exists } = loaded
      // The file's `store` says where shared state lives; with Postgres, the newest config saved
      // through the admin API wins over the file.
      const stored = storeLayers(loaded.config.store)
      const config = yield* startingConfig(loaded.config, stored.configVersions)
      const host = Option.getOrElse(flags.host, () => config.server.host)
      const port = Option.getOrElse(flags.port, () => config.server.port)
      // Refused before binding: an insecure gateway never listens, not even for a moment.
      yield* ConfigChecks.checkBind(config, host)
      // Bound before the gateway is loaded and built: a client that connects meanwhile is accepted and
      // answered once the gateway can (server http/NodeListener.ts), not refused.
      const server = yield* NodeListener.bound({ host, port })
      const [Gateway, UpstreamClient, Telemetry] = yield* Effect.promise(() =>
        Promise.all([
          import("@mcpgate/server/Gateway"),
          import("../UpstreamClient.ts"),
          import("@mcpgate/server/http/Telemetry")
        ])
      )
      const onListening = (info: ListeningInfo) =>
        Effect.gen(function* () {
          yield* Output.errorLine(`mcpgate listening on ${info.url} (config: ${exists ? path : "defaults"})`)
          yield* Output.errorLine(`  admin UI   ${info.url}/admin    chat ${info.url}/chat`)
          if (info.adminToken.generated) {
            // Printed this once; it stays in the state directory for later starts.
            yield* Output.errorLine(
              `  admin token (saved in ${info.adminToken.path ?? "the state directory"}; shown only now):`
            )
            yield* Output.errorLine(`  ${Redacted.value(info.adminToken.value)}`)
          }
          // Node writes its compile cache (enabled by bin/mcpgate.js) at exit, which a gateway stopped with
          // SIGKILL never reaches: written now, the next start finds the code of this one compiled.
          module.flushCompileCache?.()
        })
      yield* Layer.launch(
        Gateway.layer({
          config,
          host,
          onListening,
          ...stored
        }).pipe(
          // In-flight requests get 5 s to finish on SIGINT/SIGTERM, then they are cancelled.
          Layer.provide(NodeListener.layer({ host, port, gracefulShutdownTimeout: "5 seconds" }, server)),
          Layer.provide(Logging.layer(flags.logFormat, flags.logLevel)),
          // OTLP traces and metrics when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/observability.md#traces).
          Layer.provide(Telemetry.layerFromEnv),
          // The HTTP client of the upstream and of the OTLP exporters.
          Layer.provide(UpstreamClient.layer)
        )
      )
    },
    Effect.scoped,
    Effect.provide([configFileLayer, credentialStoreLayer])
  )
).pipe(Command.withDescription("Run the gateway: OpenAI-compatible API, /mcp, admin API and web UI"))
