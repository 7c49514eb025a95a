#!/usr/bin/env node
/**
 * The process entry point: the only place that provides the Node layers (the
 * upstream's HTTP client, UpstreamClient.ts, is provided by `serve`, the one command
 * that needs it).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeStdio from "@effect/platform-node/NodeStdio"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Effect, type FileSystem, Layer, Logger, type Path } from "effect"
import { ChildProcessSpawner } from "effect/process"
import * as Runtime from "effect/Runtime"
import { run } from "./Cli.ts"

/**
 * effect/cli's environment includes a process spawner that no command uses: this one
 * loads node:child_process (and net and dgram under it) only when something spawns,
 * which keeps them out of every start (NodeServices.layer builds it eagerly).
 */
const lazySpawner = Layer.effect(ChildProcessSpawner.ChildProcessSpawner)(
  Effect.gen(function* () {
    const services = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    return ChildProcessSpawner.make((command) =>
      Effect.gen(function* () {
        const Node = yield* Effect.promise(() => import("@effect/platform-node/NodeChildProcessSpawner"))
        const spawner = yield* Effect.provide(ChildProcessSpawner.ChildProcessSpawner, Node.layer)
        return yield* spawner.spawn(command)
      }).pipe(Effect.provideContext(services))
    )
  })
)

/** NodeServices.layer with the spawner above. */
const nodeServices = Layer.provideMerge(
  lazySpawner,
  Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeStdio.layer, NodeTerminal.layer)
)

run.pipe(
  // Logs go to stderr: stdout carries only results (`--json` output stays parseable).
  Effect.provide([nodeServices, Layer.succeed(Logger.LogToStderr, true)]),
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
