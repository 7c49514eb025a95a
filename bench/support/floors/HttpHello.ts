/**
 * The floor for `mcpgate serve` → first `/health` (bench/startup.ts): effect's HTTP
 * server on Node, as the gateway composes it (`NodeHttpServer.layer`,
 * `HttpRouter.serve`, `NodeRuntime.runMain`), with one `GET /health` route and
 * nothing else. argv[2] is the port. Bundled at bench time exactly as the CLI is
 * (scripts/build/NodeBundle.ts).
 */
import { createServer } from "node:http"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as NodeHttpServer from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeHttpServer.js"
import * as NodeRuntime from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeRuntime.js"

const health = HttpRouter.add(
  "GET",
  "/health",
  Effect.succeed(HttpServerResponse.jsonUnsafe({ status: "ok" }))
)

HttpRouter.serve(health, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port: Number(process.argv[2]), host: "127.0.0.1" })),
  Layer.launch,
  NodeRuntime.runMain
)
