/**
 * The floor for `mcpgate status --json --offline` (bench/startup.ts): an effect/cli
 * program with the same command and flags on the same Node layers and runtime as
 * packages/cli/src/bin.ts, which prints `{}` and does nothing else. Bundled at
 * bench time exactly as the CLI is (scripts/build/NodeBundle.ts).
 */
import { Console, Effect, Layer, Logger } from "effect"
import { Command, Flag } from "effect/cli"
import * as NodeRuntime from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeRuntime.js"
import * as NodeServices from "../../../packages/cli/node_modules/@effect/platform-node/dist/NodeServices.js"

const status = Command.make(
  "status",
  {
    json: Flag.Boolean("json").pipe(Flag.withDefault(false)),
    offline: Flag.Boolean("offline").pipe(Flag.withDefault(false)),
    config: Flag.String("config").pipe(Flag.optional)
  },
  () => Console.log("{}")
)

Command.run(Command.make("floor").pipe(Command.withSubcommands([status])), { version: "0.0.0" }).pipe(
  Effect.provide([NodeServices.layer, Layer.succeed(Logger.LogToStderr, true)]),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
