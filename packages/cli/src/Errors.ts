/**
 * The errors the CLI's commands share; `ExitCode.forError` maps them to exit codes
 * (docs/cli.md#exit-codes).
 */
import { Schema } from "effect"

/** A server name that is not in the config (exit code 2). */
export class UnknownServer extends Schema.TaggedError<UnknownServer>()("UnknownServer", {
  server: Schema.String,
  message: Schema.String
}) {}

/** Arguments the command cannot use, e.g. `--args` that is not a JSON object (exit code 2). */
export class InvalidArguments extends Schema.TaggedError<InvalidArguments>()("InvalidArguments", {
  message: Schema.String
}) {}

/** A tool's own error result: printed like any result, exit code 1. */
export class ToolReportedError extends Schema.TaggedError<ToolReportedError>()("ToolReportedError", {
  message: Schema.String
}) {}
