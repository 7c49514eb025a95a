/**
 * How `mcpgate serve` writes its logs (docs/observability.md#logs): `pretty`
 * (the default, for a terminal) or `json` (one object a line, for a log
 * shipper), always on stderr; and the minimum level (`debug` shows what stdio
 * servers write to stderr, under the server's name).
 */
import { Config, Layer, Logger, References } from "effect"
import { Flag } from "effect/cli"

export const logFormats = ["pretty", "json"] as const
export type LogFormat = (typeof logFormats)[number]

export const logLevels = ["debug", "info", "warning", "error"] as const
export type LogLevelName = (typeof logLevels)[number]

export const logFormatFlag = Flag.Literals("log-format", logFormats).pipe(
  Flag.withDescription("Log format: pretty (default) or json, one object a line (MCPGATE_LOG_FORMAT)"),
  Flag.withFallbackConfig(Config.Literals(logFormats, "MCPGATE_LOG_FORMAT")),
  Flag.withDefault("pretty" as const)
)

export const logLevelFlag = Flag.Literals("log-level", logLevels).pipe(
  Flag.withDescription(
    "Least severe level logged: debug, info (default), warning or error (MCPGATE_LOG_LEVEL)"
  ),
  Flag.withFallbackConfig(Config.Literals(logLevels, "MCPGATE_LOG_LEVEL")),
  Flag.withDefault("info" as const)
)

const levels = { debug: "Debug", info: "Info", warning: "Warn", error: "Error" } as const

/** The loggers and the minimum level for `serve`. */
export const layer = (format: LogFormat, level: LogLevelName) =>
  Layer.mergeAll(
    format === "json" ? Logger.layer([Logger.withConsoleError(Logger.formatJson)]) : Layer.empty,
    Layer.succeed(References.MinimumLogLevel, levels[level])
  )
