#!/usr/bin/env node
/**
 * The process entry point: the only place that provides the Node layers.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Logger } from "effect"
import * as Runtime from "effect/Runtime"
import { Agent } from "undici"
import { run } from "./Cli.ts"

/**
 * The upstream's HTTP client: undici (bytes passed through untouched, unlike fetch's
 * decompression). Our own Agent rather than `NodeHttpClient.layerUndici`, whose dynamic
 * re-export of the CommonJS package loses its named exports in the split bundle.
 */
const httpClientLayer = NodeHttpClient.layerUndiciNoDispatcher.pipe(
  Layer.provide(
    Layer.effect(NodeHttpClient.Dispatcher)(
      Effect.acquireRelease(
        Effect.sync(() => new Agent()),
        (agent) => Effect.promise(() => agent.destroy())
      )
    )
  )
)

run.pipe(
  // Logs go to stderr: stdout carries only results (`--json` output stays parseable).
  Effect.provide([NodeServices.layer, httpClientLayer, Layer.succeed(Logger.LogToStderr, true)]),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // SIGINT/SIGTERM is how a gateway is meant to stop: `serve` then exits 0, since service
    // managers read 130 as a failure. Other commands keep 130 for an interrupted run.
    teardown: (exit, onExit) =>
      Runtime.defaultTeardown(exit, (code) =>
        onExit(code === 130 && process.argv.includes("serve") ? 0 : code)
      )
  })
)
