/**
 * Schema issues in words, for every error core builds from a failed decode (the
 * config file, stored credentials): each problem names its path and what was
 * expected, and at most the JSON type of what was found.
 *
 * Effect's own formatter prints the input (`Expected …, got "…"`) when it is
 * reported, and a config or credential value may be a secret (a token, a value
 * from `${env:…}`). So no string, array or object value is ever quoted here;
 * only a number is shown, against a numeric check (`got 70000` for a port),
 * because the numbers mcpgate reads (ports, counts, seconds, times) are never
 * secrets and an interpolated value is always a string.
 */
import { Predicate, type SchemaAST, type SchemaIssue } from "effect"

export type IssuePath = ReadonlyArray<string | number>

// Keys made of letters, digits, `_`, `$` and `-` read well dotted; anything else is quoted.
const plainKey = /^[\p{L}\p{N}_$-]+$/u

/** `["mcpServers", "a.b", "args", 2]` → `mcpServers["a.b"].args[2]`; the root is `$`. */
export const formatJsonPath = (path: IssuePath): string => {
  if (path.length === 0) return "$"
  let out = ""
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`
    else if (plainKey.test(segment)) out += out === "" ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

export interface Problem {
  /** Relative to the value that was decoded. */
  readonly path: IssuePath
  /** e.g. `expected a positive integer, got 0`, `expected one of "pkce" or "device"`. */
  readonly message: string
}

/** The JSON type of a value in words, never the value itself. */
export const describeType = (value: unknown): string => {
  if (Predicate.isString(value)) return "a string"
  if (Predicate.isNumber(value)) return "a number"
  if (Predicate.isBoolean(value)) return "a boolean"
  if (Predicate.isNull(value)) return "null"
  if (Array.isArray(value)) return "an array"
  return "an object"
}

/** What a schema accepts, in words (`true or false`, `one of "a" or "b"`). */
export const describeExpected = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "String":
      return "a string"
    case "Number":
      return "a number"
    case "Boolean":
      return "true or false"
    case "Arrays":
      return "an array"
    case "Objects":
      return "an object"
    case "Literal":
      return JSON.stringify(ast.literal)
    case "Union": {
      const options = ast.types.map(describeExpected)
      return options.length === 1
        ? (options[0] ?? "a valid value")
        : `one of ${options.slice(0, -1).join(", ")} or ${options.at(-1)}`
    }
    default:
      return "a valid value"
  }
}

const inputOf = (issue: { readonly input?: unknown }): { readonly input?: unknown } => issue

// Where an issue's input was reported (`reportInput: true`), say its type; never quote it.
const got = (issue: { readonly input?: unknown }): string =>
  Object.hasOwn(issue, "input") ? `, got ${describeType(inputOf(issue).input)}` : ""

/**
 * Every leaf problem of an issue, in the order Schema found them. Duplicates
 * (one value failing several checks with the same `expected`) are kept; callers
 * that show a list drop them.
 */
export const problems = (issue: SchemaIssue.Issue, path: IssuePath = []): Array<Problem> => {
  switch (issue._tag) {
    case "Pointer":
      return problems(issue.issue, [
        ...path,
        ...issue.path.map((k) => (Predicate.isNumber(k) ? k : String(k)))
      ])
    case "Composite":
      return issue.issues.flatMap((inner) => problems(inner, path))
    case "Encoding":
      return problems(issue.issue, path)
    case "Filter": {
      // A filter over a structure (`isPropertyNames`) carries the precise problems inside.
      if (issue.issue._tag !== "InvalidValue") return problems(issue.issue, path)
      const expected = issue.filter.annotations?.expected
      if (!Predicate.isString(expected)) return [{ path, message: "invalid value" }]
      const input = inputOf(issue).input
      return [
        {
          path,
          message: Predicate.isNumber(input) ? `expected ${expected}, got ${input}` : `expected ${expected}`
        }
      ]
    }
    case "AnyOf":
    case "InvalidType":
      return [{ path, message: `expected ${describeExpected(issue.ast)}${found(issue, issue.ast)}` }]
    case "MissingKey":
      return [{ path, message: "missing" }]
    case "UnexpectedKey":
      return [{ path, message: "unknown key" }]
    default:
      return [{ path, message: "invalid value" }]
  }
}

const isStringLiteral = (ast: SchemaAST.AST): boolean =>
  (ast._tag === "Literal" && Predicate.isString(ast.literal)) ||
  (ast._tag === "Union" && ast.types.every(isStringLiteral))

// A wrong string against string literals: "got a string" would only confuse, the list says it all.
const found = (issue: { readonly input?: unknown }, ast: SchemaAST.AST): string =>
  isStringLiteral(ast) && Predicate.isString(inputOf(issue).input) ? "" : got(issue)
