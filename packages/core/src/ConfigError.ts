/**
 * Errors of the configuration file (the rules at the top of docs/configuration.md): every problem names the JSON path
 * and, when it comes from the text, the 1-based line and column.
 */
import { Schema } from "effect"

/** One problem in a config file; the admin editor underlines each of them. */
export const ConfigIssue = Schema.Struct({
  /** A JSON path such as `mcpServers.notion.auth.clientId`, or `$` for the whole file. */
  path: Schema.String,
  /** The problem in words, without the location (e.g. `unknown key (did you mean "clientId"?)`). */
  message: Schema.String,
  line: Schema.optionalKey(Schema.Number),
  column: Schema.optionalKey(Schema.Number)
})
export type ConfigIssue = typeof ConfigIssue.Type

/**
 * A config that cannot be read, parsed or validated. `message` is one line
 * (`mcpgate.json:12:7 mcpServers.notion.auth.clientID: unknown key (did you mean "clientId"?)`)
 * describing the first problem in document order; `issues` holds all of them.
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  message: Schema.String,
  path: Schema.String,
  line: Schema.optionalKey(Schema.Number),
  column: Schema.optionalKey(Schema.Number),
  file: Schema.String,
  issues: Schema.Array(ConfigIssue)
}) {}

/** Writing the config (or its backup) failed; the previous file is left in place. */
export class ConfigWriteError extends Schema.TaggedError<ConfigWriteError>()("ConfigWriteError", {
  message: Schema.String,
  file: Schema.String
}) {}

export type JsonPath = ReadonlyArray<string | number>

export { formatJsonPath } from "./internal/SchemaIssues.ts"

/** The one-line form of an issue: `file:line:column path: message`. */
export const formatIssue = (file: string, issue: ConfigIssue): string => {
  const where = issue.line === undefined ? `${file}:` : `${file}:${issue.line}:${issue.column ?? 1}`
  return issue.path === "$" ? `${where} ${issue.message}` : `${where} ${issue.path}: ${issue.message}`
}

/** Builds the error from issues already in document order (the first one is the headline). */
export const makeConfigError = (
  file: string,
  issues: readonly [ConfigIssue, ...ReadonlyArray<ConfigIssue>]
): ConfigError => {
  const [first] = issues
  return new ConfigError({
    message: formatIssue(file, first),
    path: first.path,
    ...(first.line === undefined ? {} : { line: first.line }),
    ...(first.column === undefined ? {} : { column: first.column }),
    file,
    issues
  })
}

/** Maps string offsets to 1-based line and column (UTF-16 units, as editors count). */
export const makeLocator = (text: string): ((offset: number) => { line: number; column: number }) => {
  const starts = [0]
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // \n, \r\n and a lone \r all end a line, as in jsonc-parser.
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1)
  }
  return (offset) => {
    let low = 0
    let high = starts.length - 1
    while (low < high) {
      const mid = (low + high + 1) >> 1
      if ((starts[mid] ?? 0) <= offset) low = mid
      else high = mid - 1
    }
    return { line: low + 1, column: offset - (starts[low] ?? 0) + 1 }
  }
}
