/**
 * The config file's shape (docs/configuration.md): how a JSONC text in any accepted spelling
 * becomes the model of ./Config.ts, and how the model is written back. Generic
 * over the declarations in ./Config.ts: nothing here names a config field.
 *
 * The declarations are walked over jsonc-parser's tree so that every problem
 * keeps its offset; values are checked with their fields' leaf Schemas. All
 * problems are collected, sorted in document order, and the first one becomes
 * the error's one-line message. About 500 lines on purpose: one walker with all
 * of its error wording in one place, so the messages stay consistent.
 *
 * `_` keys: in the declared objects (root, server entry, `auth`, `tools`,
 * `builtins`, `server` …) they are comments and skipped. In the `mcpServers` name
 * map a `_`-prefixed name is a comment too (`"_comment"` beside the servers), so a
 * server name cannot start with `_`. In the data maps `env` and `headers` keys are
 * data (an environment variable may well be called `_FOO`), so they are kept.
 */
import { Array as Arr, Predicate, Redacted, Result, Schema } from "effect"
import * as Jsonc from "jsonc-parser"
import { type McpgateConfig, RootObject } from "./Config.ts"
import {
  type ConfigError,
  type ConfigIssue,
  formatJsonPath,
  type JsonPath,
  makeConfigError,
  makeLocator
} from "./ConfigError.ts"
import { type Env, escapeReferences, interpolate } from "./ConfigInterpolation.ts"
import {
  type AnyObject,
  type Decoded,
  type Field,
  type Fields,
  knownKeys,
  type MapField,
  type ObjectDeclaration,
  type RuleContext
} from "./internal/ConfigDeclaration.ts"
import { syntaxErrorPath, syntaxMessage } from "./internal/ConfigSyntax.ts"
import { suggestKey } from "./internal/KeySuggestions.ts"
import { problems } from "./internal/SchemaIssues.ts"

export { suggestKey } from "./internal/KeySuggestions.ts"

const unknownKeyMessage = (
  key: string,
  declaration: AnyObject,
  valueKeys: ReadonlyArray<string> | undefined
) => {
  const suggestion = suggestKey(key, knownKeys(declaration))
  if (suggestion !== undefined) return `unknown key (did you mean "${suggestion}"?)`
  const hint = declaration.hint?.(key, valueKeys)
  if (hint !== undefined) return `unknown key (${hint})`
  const keys = Object.keys(declaration.fields)
  // Listed while short enough to read in one line (the top level has 9 keys).
  return keys.length <= 10 ? `unknown key (expected one of: ${keys.join(", ")})` : "unknown key"
}

// ---------------------------------------------------------------------------
// Describing nodes in words (Schema issues: ./internal/SchemaIssues.ts).

const describeNode = (node: Jsonc.Node): string => {
  switch (node.type) {
    case "object":
      return "an object"
    case "array":
      return "an array"
    case "string":
      return "a string"
    case "number":
      return "a number"
    case "boolean":
      return "a boolean"
    default:
      return "null"
  }
}

// ---------------------------------------------------------------------------
// Walking the tree.

interface PendingIssue {
  readonly path: JsonPath
  readonly offset: number
  readonly message: string
}

interface Context {
  readonly env: Env
  readonly issues: Array<PendingIssue>
}

const report = (ctx: Context, path: JsonPath, node: Jsonc.Node, message: string): void => {
  ctx.issues.push({ path, offset: node.offset, message })
}

// A missing key is reported at the object's closing brace: a misspelt key inside
// (`"comand"`, reported with a suggestion) comes first in document order.
const reportMissing = (ctx: Context, path: JsonPath, node: Jsonc.Node, message: string): void => {
  ctx.issues.push({ path, offset: node.offset + Math.max(0, node.length - 1), message })
}

interface Property {
  readonly key: string
  readonly keyNode: Jsonc.Node
  readonly value: Jsonc.Node
}

function properties(node: Jsonc.Node): Array<Property> {
  const out: Array<Property> = []
  for (const property of node.children ?? []) {
    const [keyNode, value] = property.children ?? []
    if (keyNode !== undefined && value !== undefined && Predicate.isString(keyNode.value)) {
      out.push({ key: keyNode.value, keyNode, value })
    }
  }
  return out
}

interface Written {
  /** The key as written (an alias keeps its spelling in paths). */
  readonly key: string
  readonly keyNode: Jsonc.Node
  readonly value: Jsonc.Node
  readonly path: JsonPath
}

interface WrittenObject {
  readonly node: Jsonc.Node
  readonly path: JsonPath
  /** By canonical key. */
  readonly byKey: ReadonlyMap<string, Written>
}

const canonicalKey = (declaration: AnyObject, key: string): string | undefined => {
  if (Object.hasOwn(declaration.fields, key)) return key
  return Object.entries(declaration.fields).find(([, field]) => field.aliases?.includes(key))?.[0]
}

const readObject = (
  ctx: Context,
  node: Jsonc.Node,
  path: JsonPath,
  declaration: AnyObject
): WrittenObject | undefined => {
  if (node.type !== "object") {
    const message =
      path.length === 0
        ? `the configuration must be a JSON object, got ${describeNode(node)}`
        : `expected an object, got ${describeNode(node)}`
    report(ctx, path, node, message)
    return undefined
  }
  const byKey = new Map<string, Written>()
  const seen = new Set<string>()
  for (const { key, keyNode, value } of properties(node)) {
    if (key.startsWith("_")) continue
    const fieldPath = [...path, key]
    if (seen.has(key)) {
      report(ctx, fieldPath, keyNode, "duplicate key")
      continue
    }
    seen.add(key)
    if (declaration.ignored?.includes(key)) continue
    const canonical = canonicalKey(declaration, key)
    if (canonical === undefined) {
      const valueKeys = value.type === "object" ? properties(value).map((p) => p.key) : undefined
      report(ctx, fieldPath, keyNode, unknownKeyMessage(key, declaration, valueKeys))
      continue
    }
    const previous = byKey.get(canonical)
    if (previous !== undefined) {
      report(ctx, fieldPath, keyNode, `"${previous.key}" and "${key}" are the same setting; keep one`)
      continue
    }
    byKey.set(canonical, { key, keyNode, value, path: fieldPath })
  }
  return { node, path, byKey }
}

/** The plain value of a node, with `${…}` references replaced in every string. */
const plainValue = (ctx: Context, node: Jsonc.Node, path: JsonPath): unknown => {
  switch (node.type) {
    case "string": {
      const result = interpolate(String(node.value), ctx.env)
      if (Result.isSuccess(result)) return result.success
      report(ctx, path, node, result.failure)
      return node.value
    }
    case "array":
      return (node.children ?? []).map((child, index) => plainValue(ctx, child, [...path, index]))
    case "object": {
      const entries: Array<readonly [string, unknown]> = []
      const seen = new Set<string>()
      for (const { key, keyNode, value } of properties(node)) {
        if (seen.has(key)) {
          report(ctx, [...path, key], keyNode, "duplicate key")
          continue
        }
        seen.add(key)
        entries.push([key, plainValue(ctx, value, [...path, key])])
      }
      // fromEntries defines own properties, so a key such as "__proto__" stays data.
      return Object.fromEntries(entries)
    }
    default:
      return node.value
  }
}

/** The node a Schema issue's sub-path points at, for its line and column. */
const nodeAt = (node: Jsonc.Node, path: JsonPath): Jsonc.Node => {
  let current = node
  for (const segment of path) {
    const next = Predicate.isNumber(segment)
      ? current.type === "array"
        ? current.children?.[segment]
        : undefined
      : current.type === "object"
        ? properties(current).find((p) => p.key === segment)?.value
        : undefined
    if (next === undefined) return current
    current = next
  }
  return current
}

const decodeValue = <S extends Schema.ConstraintDecoder<unknown>>(
  ctx: Context,
  node: Jsonc.Node,
  path: JsonPath,
  schema: S
): S["Type"] | undefined => {
  const before = ctx.issues.length
  const value = plainValue(ctx, node, path)
  if (ctx.issues.length > before) return undefined
  const result = Schema.decodeUnknownResult(schema)(value, { errors: "all", reportInput: true })
  if (Result.isSuccess(result)) return result.success
  const seen = new Set<string>()
  for (const problem of problems(result.failure.issue)) {
    const key = JSON.stringify([problem.path, problem.message])
    if (seen.has(key)) continue
    seen.add(key)
    report(ctx, [...path, ...problem.path], nodeAt(node, problem.path), problem.message)
  }
  return undefined
}

const decodeField = <S extends Schema.ConstraintDecoder<unknown>>(
  ctx: Context,
  field: Written | undefined,
  schema: S
): S["Type"] | undefined =>
  field === undefined ? undefined : decodeValue(ctx, field.value, field.path, schema)

// ---------------------------------------------------------------------------
// Decoding a declared object.

const ruleContext = (ctx: Context, node: Jsonc.Node, path: JsonPath, fields: WrittenObject): RuleContext => {
  const written = (key: string): Written => {
    const field = fields.byKey.get(key)
    if (field === undefined) throw new Error(`a rule asked for "${key}", which was not written`)
    return field
  }
  return {
    has: (key) => fields.byKey.has(key),
    offsetOf: (key) => written(key).keyNode.offset,
    reportAtKey: (key, message) => report(ctx, written(key).path, written(key).keyNode, message),
    reportAtValue: (key, message) => report(ctx, written(key).path, written(key).value, message),
    reportMissing: (message, near) => {
      const at = near === undefined ? undefined : fields.byKey.get(near)
      if (at === undefined) reportMissing(ctx, path, node, message)
      else report(ctx, path, at.value, message)
    }
  }
}

/**
 * Decodes a declared object at `node` (absent: every field at its default).
 * Undefined when it is not an object; a value with problems is still built,
 * but the problems make the whole decode fail, so it is never returned.
 */
const decodeObject = <F extends Fields, Out>(
  ctx: Context,
  declaration: ObjectDeclaration<F, Out>,
  node: Jsonc.Node | undefined,
  path: JsonPath,
  name: string
): Out | undefined => {
  const fields = node === undefined ? undefined : readObject(ctx, node, path, declaration)
  if (node !== undefined && fields === undefined) return undefined
  const decoded: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(declaration.fields)) {
    const value = decodeMember(ctx, field, key, fields, path)
    if (value !== undefined) decoded[key] = value
  }
  // Each field was decoded by its own Schema (or is its default), so `decoded` has the declared shape.
  const typed = decoded as Decoded<F>
  if (node !== undefined && fields !== undefined)
    declaration.rules?.(typed, ruleContext(ctx, node, path, fields))
  return declaration.finish(typed, name)
}

/** A secret field's value with every string `Redacted` (a key, or each key of a list). */
const redact = (value: unknown): unknown =>
  Predicate.isString(value) ? Redacted.make(value) : Array.isArray(value) ? value.map(redact) : value

/** The inverse of `redact`, for the encoder. */
const reveal = (value: unknown): unknown =>
  Redacted.isRedacted(value) ? Redacted.value(value) : Array.isArray(value) ? value.map(reveal) : value

const decodeMember = (
  ctx: Context,
  field: Field,
  key: string,
  fields: WrittenObject | undefined,
  path: JsonPath
): unknown => {
  const written = fields?.byKey.get(key)
  switch (field._tag) {
    case "Value": {
      const presence = field.presence
      if (presence._tag === "Required" && fields !== undefined && written === undefined) {
        reportMissing(ctx, fields.path, fields.node, `missing "${key}" (for example ${presence.example})`)
        return undefined
      }
      const decoded = decodeField(ctx, written, field.schema)
      const value = decoded === undefined && presence._tag === "Default" ? presence.value : decoded
      return field.secret === true && value !== undefined ? redact(value) : value
    }
    case "Object":
      if (written !== undefined) return decodeObject(ctx, field.object, written.value, written.path, key)
      return field.presence._tag === "Default"
        ? decodeObject(ctx, field.object, undefined, [...path, key], key)
        : undefined
    case "Map":
      return written === undefined && field.presence._tag === "Optional"
        ? undefined
        : decodeEntries(ctx, field, written)
  }
}

const decodeEntries = (
  ctx: Context,
  field: MapField,
  written: Written | undefined
): Record<string, unknown> => {
  if (written === undefined) return {}
  if (written.value.type !== "object") {
    report(
      ctx,
      written.path,
      written.value,
      `expected an object of ${field.entries} by name, got ${describeNode(written.value)}`
    )
    return {}
  }
  const entries: Array<readonly [string, unknown]> = []
  const seen = new Set<string>()
  for (const { key, keyNode, value } of properties(written.value)) {
    const path = [...written.path, key]
    if (key.startsWith("_")) continue
    if (key === "") {
      report(ctx, path, keyNode, `a ${field.entryName} must not be empty`)
      continue
    }
    if (seen.has(key)) {
      report(ctx, path, keyNode, `duplicate ${field.entryName}`)
      continue
    }
    seen.add(key)
    const entry = decodeObject(ctx, field.object, value, path, key)
    if (entry !== undefined) entries.push([key, entry])
  }
  // fromEntries defines own properties, so a name such as "__proto__" stays data.
  return Object.fromEntries(entries)
}

// ---------------------------------------------------------------------------
// Public API.

export interface DecodeOptions {
  /** Shown in messages and stored on the error (a path or a name such as "editor"). */
  readonly file: string
  /** Where `${env:VAR}` references are looked up. */
  readonly env: Env
}

/** Parses and validates a config text into the normalized model, or every problem found. */
export const decodeText = (
  text: string,
  options: DecodeOptions
): Result.Result<McpgateConfig, ConfigError> => {
  // Editors do not count a byte order mark as a column.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  const locate = makeLocator(source)
  const fail = (pending: ReadonlyArray<PendingIssue>): Result.Result<never, ConfigError> => {
    const issues = [...pending]
      .sort((a, b) => a.offset - b.offset)
      .map(
        (issue): ConfigIssue => ({
          path: formatJsonPath(issue.path),
          message: issue.message,
          ...locate(issue.offset)
        })
      )
    return Arr.isArrayNonEmpty(issues)
      ? Result.fail(makeConfigError(options.file, issues))
      : Result.fail(makeConfigError(options.file, [{ path: "$", message: "invalid configuration" }]))
  }

  if (Jsonc.stripComments(source).trim() === "") {
    return fail([
      {
        path: [],
        offset: 0,
        message: 'the file is empty (expected a JSON object such as {"mcpServers": {}})'
      }
    ])
  }
  const errors: Array<Jsonc.ParseError> = []
  const root = Jsonc.parseTree(source, errors, { allowTrailingComma: true, disallowComments: false })
  if (errors.length > 0 || root === undefined) {
    return fail(
      errors.map((error) => ({
        path: syntaxErrorPath(source, error.offset),
        offset: error.offset,
        message: syntaxMessage(error, source)
      }))
    )
  }
  const ctx: Context = { env: options.env, issues: [] }
  const config = decodeObject(ctx, RootObject, root, [], "")
  return ctx.issues.length > 0 || config === undefined ? fail(ctx.issues) : Result.succeed(config)
}

// ---------------------------------------------------------------------------
// Writing back: the canonical file shape (`mcpServers`, canonical keys, defaults
// mostly omitted). Every string is escaped so `${` survives a reload literally.

type FileObject = Record<string, unknown>

/** Escapes every string in a value (not the keys of its maps, which are never interpolated). */
const escapeStrings = (value: unknown): unknown => {
  if (Predicate.isString(value)) return escapeReferences(value)
  if (Array.isArray(value)) return value.map(escapeStrings)
  if (Predicate.isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, escapeStrings(inner)]))
  }
  return value
}

const isDefault = (value: unknown, fallback: unknown): boolean =>
  JSON.stringify(value) === JSON.stringify(fallback)

const encodeObject = <F extends Fields, Out>(
  declaration: ObjectDeclaration<F, Out>,
  model: Out
): FileObject => {
  const decoded: Readonly<Record<string, unknown>> = declaration.unfinish(model)
  const out: FileObject = {}
  for (const [key, field] of Object.entries(declaration.fields)) {
    const value = field.secret === true ? reveal(decoded[key]) : decoded[key]
    if (value === undefined) continue
    switch (field._tag) {
      case "Value": {
        const presence = field.presence
        if (presence._tag === "Default" && !presence.alwaysWritten && isDefault(value, presence.value))
          continue
        out[key] = escapeStrings(value)
        break
      }
      case "Object":
        out[key] = encodeObject(field.object, value)
        break
      case "Map":
        out[key] = Object.fromEntries(
          Object.entries(value as Readonly<Record<string, unknown>>).map(([name, entry]) => [
            name,
            encodeObject(field.object, entry)
          ])
        )
        break
    }
  }
  return out
}

/** The model in the canonical file shape, as a plain JSON value. */
export const toFileShape = (config: McpgateConfig): FileObject => encodeObject(RootObject, config)

/** The canonical text of a config: `decodeText(encodeText(c))` gives back `c`. */
export const encodeText = (config: McpgateConfig): string =>
  `${JSON.stringify(toFileShape(config), null, 2)}\n`

/** The config of a missing default file: no servers, every default. */
export const emptyConfig: McpgateConfig = (() => {
  const config = decodeObject({ env: {}, issues: [] }, RootObject, undefined, [], "")
  if (config === undefined) throw new Error("the declared defaults do not decode")
  return config
})()
