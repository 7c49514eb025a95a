/**
 * Exit codes (docs/cli.md#exit-codes): 0 success, 1 failure, 2 usage or config error, 3 authorization needed.
 */
import { Predicate } from "effect"
import { CliError } from "effect/cli"

export const success = 0
export const failure = 1
export const usage = 2
export const authorizationNeeded = 3

const tagOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : undefined

export const forError = (error: unknown): number => {
  // `ShowHelp` is both `--help` (no errors) and a parse failure (help shown with its errors).
  if (CliError.isCliError(error))
    return error._tag === "ShowHelp" && error.errors.length === 0 ? success : usage
  switch (tagOf(error)) {
    case "ConfigError":
    case "InsecureBind":
    case "SecurityConfigError":
    case "InvalidArguments":
    case "UnknownServer":
      return usage
    case "NeedsLogin":
    case "NeedsScope":
      return authorizationNeeded
    case "ToolCallError":
      return Predicate.hasProperty(error, "reason") && error.reason === "needs_auth"
        ? authorizationNeeded
        : failure
    default:
      return failure
  }
}

/** Errors whose story the command already printed (a tool's own error result). */
export const isAlreadyReported = (error: unknown): boolean => tagOf(error) === "ToolReportedError"

/** The one line printed for an error the CLI did not render itself. */
export const messageOf = (error: unknown): string => {
  if (Predicate.hasProperty(error, "message") && Predicate.isString(error.message) && error.message !== "") {
    return error.message.split("\n")[0] ?? error.message
  }
  return String(error)
}
