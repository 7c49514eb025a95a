/**
 * The floor for `mcpgate serve` → first `/health` on the gateway's own stack
 * (bench/startup.ts): an effect/cli `serve --config <file>` command on the same Node
 * layers and runtime as packages/cli/src/bin.ts, which reads the JSON config with
 * effect's FileSystem, decodes `server.host` and `server.port` with Schema, and serves
 * one `GET /health` route on effect's HTTP server as the gateway composes it. What any
 * `serve` built this way pays before its own code. Bundled at bench time exactly as
 * the CLI is (scripts/build/NodeBundle.ts).
 */
import { createServer } from "node:http"
import { Effect, FileSystem, Layer, Logger, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as NodeHttpServer from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeHttpServer.js"
import * as NodeRuntime from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeRuntime.js"
import * as NodeServices from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeServices.js"

const ConfigText = Schema.fromJsonString(
  Schema.Struct({ server: Schema.Struct({ host: Schema.String, port: Schema.Int }) })
)

const health = HttpRouter.add(
  "GET",
  "/health",
  Effect.succeed(HttpServerResponse.jsonUnsafe({ status: "ok" }))
)

const serve = Command.make("serve", { config: Flag.String("config") }, ({ config }) =>
  Effect.gen(function* () {
    const text = yield* FileSystem.FileSystem.use((fs) => fs.readFileString(config))
    const { server } = yield* Schema.decodeUnknownEffect(ConfigText)(text)
    return yield* HttpRouter.serve(health, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, server)),
      Layer.launch
    )
  })
)

Command.run(Command.make("floor").pipe(Command.withSubcommands([serve])), { version: "0.0.0" }).pipe(
  Effect.provide([NodeServices.layer, Layer.succeed(Logger.LogToStderr, true)]),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
