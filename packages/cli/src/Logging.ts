/**
 * How `mcpgate serve` writes its logs (docs/observability.md#logs): `pretty`
 * (the default, for a terminal) or `json` (one object a line, for a log
 * shipper), always on stderr; and the minimum level (`debug` shows what stdio
 * servers write to stderr, under the server's name). A pretty line is one line:
 * annotations as `key=value` after the message, an access line as
 * `GET /v1/models 200 3ms req=… principal=…`.
 */
import { Cause, Config, Layer, Logger, References } from "effect"
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

const pad = (value: number, width = 2) => value.toString().padStart(width, "0")

// A value that needs no quotes in a `key=value` pair; anything else is written as JSON.
const bareValue = /^[A-Za-z0-9._:@/+=-]+$/

const valueText = (value: unknown): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  return text !== undefined && bareValue.test(text) ? text : JSON.stringify(text ?? String(value))
}

// The access line's message already says method, path and status (http/RequestLog.ts).
const inAccessMessage = new Set(["http.request.method", "url.path", "http.response.status_code"])

/** One line a log entry (a cause's trace follows on the next lines). */
const formatPretty = Logger.make(({ cause, date, fiber, logLevel, message }) => {
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
  const parts = (Array.isArray(message) ? message : [message]).map((part) =>
    typeof part === "string" ? part : valueText(part)
  )
  const annotations = fiber.getRef(References.CurrentLogAnnotations)
  const access = "request_id" in annotations && "duration_ms" in annotations
  if (access) parts.push(`${valueText(annotations.duration_ms)}ms`)
  for (const [key, value] of Object.entries(annotations)) {
    if (access && (inAccessMessage.has(key) || key === "duration_ms")) continue
    parts.push(`${access && key === "request_id" ? "req" : key}=${valueText(value)}`)
  }
  const line = `[${time}] ${logLevel.toUpperCase()} (#${fiber.id}): ${parts.join(" ")}`
  return cause.reasons.length > 0 ? `${line}\n${Cause.pretty(cause)}` : line
})

/** The loggers and the minimum level for `serve`. */
export const layer = (format: LogFormat, level: LogLevelName) =>
  Layer.mergeAll(
    Logger.layer([Logger.withConsoleError(format === "json" ? Logger.formatJson : formatPretty)]),
    Layer.succeed(References.MinimumLogLevel, levels[level])
  )
