/**
 * `mcpgate serve`: launches the gateway's HTTP server until SIGINT/SIGTERM.
 */

import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { Gateway } from "@mcpgate/server"
import { Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpServer } from "effect/http"
import * as NetAddress from "effect/net/NetAddress"
import { configFileLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

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
    )
  },
  Effect.fn(function* (flags) {
    const file = yield* ConfigFile
    const { config, path, exists } = yield* file.load
    const host = Option.getOrElse(flags.host, () => config.server.host)
    const port = Option.getOrElse(flags.port, () => config.server.port)
    const announce = Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const where = NetAddress.formatUrlUnsafe(server.address, "http")
      yield* Output.errorLine(`mcpgate listening on ${where} (config: ${exists ? path : "defaults"})`)
    })
    yield* Layer.launch(
      Gateway.layer({ config }).pipe(
        Layer.merge(Layer.effectDiscard(announce)),
        Layer.provide(NodeHttpServer.layer(createServer, { host, port }))
      )
    )
  }, Effect.provide(configFileLayer))
).pipe(Command.withDescription("Run the gateway: OpenAI-compatible API, /mcp, admin API and web UI"))
