/**
 * The `mcpgate` command tree (docs/cli.md#synopsis).
 */
import { Effect } from "effect"
import { CliError, Command } from "effect/cli"
import manifest from "../package.json" with { type: "json" }
import { connect, login, logout } from "./commands/AuthCommands.ts"
import { prompts, resources } from "./commands/CatalogCommands.ts"
import { config } from "./commands/ConfigCommand.ts"
import { serve } from "./commands/ServeCommand.ts"
import { status } from "./commands/StatusCommand.ts"
import { store } from "./commands/StoreCommand.ts"
import { call, tools } from "./commands/ToolsCommand.ts"
import * as ExitCode from "./ExitCode.ts"
import { ConfigPath } from "./GlobalFlags.ts"
import * as Output from "./Output.ts"

/** The published package's version (the bundle inlines package.json). */
export const version = manifest.version

export const root = Command.make("mcpgate").pipe(
  Command.withDescription("MCP gateway: OAuth-protected MCP servers for any OpenAI-compatible model"),
  Command.withSubcommands([
    serve,
    login,
    logout,
    status,
    tools,
    resources,
    prompts,
    call,
    connect,
    config,
    store
  ]),
  Command.withGlobalFlags([ConfigPath])
)

/**
 * Runs the CLI and maps failures to exit codes (docs/cli.md#exit-codes). Usage errors are rendered by
 * effect/cli; every other failure is printed here on one line.
 */
export const run = Command.run(root, { version }).pipe(
  Effect.catch((error) => {
    const code = ExitCode.forError(error)
    const report =
      CliError.isCliError(error) || ExitCode.isAlreadyReported(error)
        ? Effect.void
        : Output.errorLine(`mcpgate: ${ExitCode.messageOf(error)}`)
    return Effect.andThen(
      report,
      Effect.sync(() => {
        process.exitCode = code
      })
    )
  })
)
