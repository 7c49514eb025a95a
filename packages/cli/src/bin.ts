#!/usr/bin/env node
/**
 * The process entry point: the only place that provides the Node layers (the
 * upstream's HTTP client, UpstreamClient.ts, is provided by `serve`, the one command
 * that needs it).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Logger } from "effect"
import * as Runtime from "effect/Runtime"
import { run } from "./Cli.ts"

run.pipe(
  // Logs go to stderr: stdout carries only results (`--json` output stays parseable).
  Effect.provide([NodeServices.layer, Layer.succeed(Logger.LogToStderr, true)]),
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
