/**
 * The config file's shape (SPEC §1): how a JSONC text in any accepted spelling
 * becomes the normalized model of ./Config.ts, and how the model is written back.
 *
 * The object structure (which keys exist where, their aliases, `_` comments) is
 * the table of shapes below, walked over jsonc-parser's tree so that every problem
 * keeps its offset; values are checked with `effect/Schema` leaf schemas. All
 * problems are collected, sorted in document order, and the first one becomes the
 * error's one-line message.
 *
 * `_` keys: in the fixed-key objects (root, server entry, `auth`, `tools`,
 * `builtins`, `server` …) they are comments and skipped. In the `mcpServers` name
 * map a `_`-prefixed name is a comment too (`"_comment"` beside the servers), so a
 * server name cannot start with `_`. In the data maps `env` and `headers` keys are
 * data (an environment variable may well be called `_FOO`), so they are kept.
 */
import { Array as Arr, Predicate, Result, Schema } from "effect"
import * as Jsonc from "jsonc-parser"
import type {
  AuthConfig,
  BuiltinsConfig,
  HttpServerConfig,
  McpgateConfig,
  ServerConfig,
  ToolFilter,
  TransportSetting,
  UpstreamConfig
} from "./Config.ts"
import { defaults } from "./Config.ts"
import {
  type ConfigError,
  type ConfigIssue,
  formatJsonPath,
  type JsonPath,
  makeConfigError,
  makeLocator
} from "./ConfigError.ts"
import { type Env, escapeReferences, interpolate } from "./ConfigInterpolation.ts"
import { problems } from "./internal/SchemaIssues.ts"

// ---------------------------------------------------------------------------
// Leaf schemas: each names what it expects, which becomes "expected …" in messages.

const isHttpUrl = (value: string): boolean => {
  const url = URL.parse(value)
  return url !== null && (url.protocol === "http:" || url.protocol === "https:")
}

// RFC 8707 §2: a resource indicator is an absolute URI without a fragment.
const isResourceSetting = (value: string): boolean =>
  value === "auto" || value === "omit" || (URL.canParse(value) && !value.includes("#"))

const NonEmptyString = Schema.String.check(Schema.isNonEmpty({ expected: "a non-empty string" }))

const HttpUrl = Schema.String.check(Schema.makeFilter(isHttpUrl, { expected: "an absolute http(s) URL" }))

// Every check of a leaf carries the same `expected`, so any failing one reads the same.
const PositiveInt = Schema.Number.check(
  Schema.isInt({ expected: "a positive integer" }),
  Schema.isGreaterThan(0, { expected: "a positive integer" })
)

const Seconds = Schema.Number.check(
  Schema.isFinite({ expected: "a positive number of seconds" }),
  Schema.isGreaterThan(0, { expected: "a positive number of seconds" })
)

const portNumber = (minimum: number) => {
  const expected = `a port number from ${minimum} to 65535`
  return Schema.Number.check(
    Schema.isInt({ expected }),
    Schema.isBetween({ minimum, maximum: 65535 }, { expected })
  )
}

// 0 lets the OS pick a free port (tests); the OAuth callback port must be fixed.
const ListenPort = portNumber(0)
const CallbackPort = portNumber(1)

const StringList = Schema.Array(Schema.String)
const NonEmptyStringList = Schema.Array(NonEmptyString)

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const ScopeList = Schema.Array(
  Schema.String.check(
    Schema.isPattern(/^[\x21\x23-\x5B\x5D-\x7E]+$/, {
      expected: "a scope token without spaces or quotes (list each scope separately)"
    })
  )
)

// Keys of data maps are checked with `isPropertyNames`: a refined key schema in
// `Schema.Record` would silently drop the keys that do not match.
const EnvMap = Schema.Record(Schema.String, Schema.String).check(
  Schema.isPropertyNames(
    Schema.String.check(
      Schema.isPattern(/^[^=\0]+$/, {
        expected: 'an environment variable name as the key (non-empty, without "=")'
      })
    )
  )
)

// RFC 9110 §5.1 (field-name = token) and §5.5 (no CR, LF or NUL in a field value).
const HeaderMap = Schema.Record(
  Schema.String,
  Schema.String.check(Schema.isPattern(/^[^\r\n\0]*$/, { expected: "a header value without line breaks" }))
).check(
  Schema.isPropertyNames(
    Schema.String.check(
      Schema.isPattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { expected: "a valid HTTP header name as the key" })
    )
  )
)

const TransportValue = Schema.Literals(["stdio", "sse", "streamable-http", "http"])
const OAuth2 = Schema.Literal("oauth2")
const Flow = Schema.Literals(["pkce", "device", "client_credentials"])
const Resource = Schema.String.check(
  Schema.makeFilter(isResourceSetting, { expected: '"auto", "omit" or an absolute URI without a fragment' })
)
// JWS algorithms usable for private_key_jwt (RFC 7518 §3.1, RFC 8037).
const SigningAlgorithm = Schema.Literals([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA"
])
const SearchProvider = Schema.Literals(["duckduckgo", "searxng"])

// ---------------------------------------------------------------------------
// Shapes: the keys valid in each fixed-key object.

interface ObjectShape {
  readonly keys: ReadonlyArray<string>
  /** Alternative spellings (VS Code, omlx) → canonical key. */
  readonly aliases: ReadonlyMap<string, string>
  /** Accepted for compatibility and ignored. */
  readonly ignored: ReadonlyArray<string>
  /** An extra hint for an unknown key that has no close match. */
  readonly hint?: (key: string, value: Jsonc.Node) => string | undefined
}

const shape = (
  keys: ReadonlyArray<string>,
  options: {
    readonly aliases?: Record<string, string>
    readonly ignored?: ReadonlyArray<string>
    readonly hint?: (key: string, value: Jsonc.Node) => string | undefined
  } = {}
): ObjectShape => ({
  keys,
  aliases: new Map(Object.entries(options.aliases ?? {})),
  ignored: options.ignored ?? [],
  ...(options.hint === undefined ? {} : { hint: options.hint })
})

const knownKeys = (s: ObjectShape): ReadonlyArray<string> => [...s.keys, ...s.aliases.keys()]

const AuthShape = shape(
  [
    "type",
    "clientId",
    "clientSecret",
    "clientMetadataUrl",
    "authServerMetadataUrl",
    "authorizationUrl",
    "tokenUrl",
    "deviceAuthorizationUrl",
    "scopes",
    "resource",
    "audience",
    "flow",
    "privateKey",
    "signingAlgorithm",
    "callbackPort",
    "redirectUri",
    "allowHttp"
  ],
  {
    // omlx spellings (SPEC §1); `scopes` and `audience` are spelled alike.
    aliases: {
      client_id: "clientId",
      auth_url: "authorizationUrl",
      token_url: "tokenUrl",
      device_auth_url: "deviceAuthorizationUrl"
    },
    // omlx chose its token store per server; mcpgate uses MCPGATE_TOKEN_STORE (SPEC §2).
    ignored: ["token_store"]
  }
)

const ToolsShape = shape(["allow", "deny"])

const ServerShape = shape(
  ["transport", "command", "args", "env", "cwd", "url", "headers", "enabled", "timeout", "tools", "auth"],
  {
    aliases: { type: "transport" },
    hint: (key) => {
      if (knownKeys(AuthShape).includes(key)) return 'it belongs inside "auth"'
      if (ToolsShape.keys.includes(key)) return 'it belongs inside "tools"'
      return undefined
    }
  }
)

const FetchShape = shape(["enabled", "allowPrivateNetwork"])
const WebSearchShape = shape(["enabled", "provider", "endpoint"])
const BuiltinsShape = shape(["fetch", "webSearch"])
const UpstreamShape = shape(["baseUrl", "apiKey"])
const HttpServerShape = shape(["host", "port", "publicUrl", "adminToken", "apiKeys", "upstream"])

const RootShape = shape(["mcpServers", "maxToolCalls", "defaultTimeout", "builtins", "server"], {
  aliases: { servers: "mcpServers", max_tool_calls: "maxToolCalls", default_timeout: "defaultTimeout" },
  hint: (key, value) => {
    const looksLikeServer =
      knownKeys(ServerShape).includes(key) ||
      (value.type === "object" && properties(value).some((p) => p.key === "command" || p.key === "url"))
    return looksLikeServer ? 'server entries go under "mcpServers"' : undefined
  }
})

// ---------------------------------------------------------------------------
// Suggestions for unknown keys.

/** Optimal string alignment distance (Damerau–Levenshtein with adjacent swaps). */
const editDistance = (a: string, b: string): number => {
  const rows: Array<Array<number>> = []
  for (let i = 0; i <= a.length; i++) {
    const row: Array<number> = [i]
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const above = rows[i - 1] ?? []
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1)
      }
      row.push(best)
    }
    rows.push(row)
  }
  return rows[a.length]?.[b.length] ?? Math.max(a.length, b.length)
}

/** The closest candidate, compared case-insensitively, when it is reasonably close. */
export const suggestKey = (key: string, candidates: ReadonlyArray<string>): string | undefined => {
  const lower = key.toLowerCase()
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  const close =
    bestDistance === 0 ||
    (bestDistance <= Math.max(2, Math.floor(key.length / 3)) && bestDistance < key.length)
  return close ? best : undefined
}

const unknownKeyMessage = (key: string, s: ObjectShape, value: Jsonc.Node): string => {
  const suggestion = suggestKey(key, knownKeys(s))
  if (suggestion !== undefined) return `unknown key (did you mean "${suggestion}"?)`
  const hint = s.hint?.(key, value)
  if (hint !== undefined) return `unknown key (${hint})`
  return s.keys.length <= 8 ? `unknown key (expected one of: ${s.keys.join(", ")})` : "unknown key"
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

interface Field {
  /** The key as written (an alias keeps its spelling in paths). */
  readonly key: string
  readonly keyNode: Jsonc.Node
  readonly value: Jsonc.Node
  readonly path: JsonPath
}

interface Fields {
  readonly node: Jsonc.Node
  readonly path: JsonPath
  /** By canonical key. */
  readonly byKey: ReadonlyMap<string, Field>
}

const readObject = (ctx: Context, node: Jsonc.Node, path: JsonPath, s: ObjectShape): Fields | undefined => {
  if (node.type !== "object") {
    const message =
      path.length === 0
        ? `the configuration must be a JSON object, got ${describeNode(node)}`
        : `expected an object, got ${describeNode(node)}`
    report(ctx, path, node, message)
    return undefined
  }
  const byKey = new Map<string, Field>()
  const seen = new Set<string>()
  for (const { key, keyNode, value } of properties(node)) {
    if (key.startsWith("_")) continue
    const fieldPath = [...path, key]
    if (seen.has(key)) {
      report(ctx, fieldPath, keyNode, "duplicate key")
      continue
    }
    seen.add(key)
    if (s.ignored.includes(key)) continue
    const canonical = s.keys.includes(key) ? key : s.aliases.get(key)
    if (canonical === undefined) {
      report(ctx, fieldPath, keyNode, unknownKeyMessage(key, s, value))
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

const objectAt = (ctx: Context, field: Field | undefined, s: ObjectShape): Fields | undefined =>
  field === undefined ? undefined : readObject(ctx, field.value, field.path, s)

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
  fields: Fields | undefined,
  key: string,
  schema: S
): S["Type"] | undefined => {
  const field = fields?.byKey.get(key)
  return field === undefined ? undefined : decodeValue(ctx, field.value, field.path, schema)
}

const requireField = <S extends Schema.ConstraintDecoder<unknown>>(
  ctx: Context,
  fields: Fields,
  key: string,
  schema: S,
  example: string
): S["Type"] | undefined => {
  if (!fields.byKey.has(key)) {
    reportMissing(ctx, fields.path, fields.node, `missing "${key}" (for example ${example})`)
    return undefined
  }
  return decodeField(ctx, fields, key, schema)
}

/** `{ key: value }` when the value is defined, else `{}` (exactOptionalPropertyTypes). */
const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => {
  const out: Partial<Record<K, V>> = {}
  if (value !== undefined) out[key] = value
  return out
}

// ---------------------------------------------------------------------------
// Decoding each object.

const decodeTools = (ctx: Context, field: Field | undefined): ToolFilter | undefined => {
  const fields = objectAt(ctx, field, ToolsShape)
  if (fields === undefined) return undefined
  return {
    ...optional("allow", decodeField(ctx, fields, "allow", NonEmptyStringList)),
    ...optional("deny", decodeField(ctx, fields, "deny", NonEmptyStringList))
  }
}

const decodeAuth = (ctx: Context, field: Field | undefined): AuthConfig | undefined => {
  const fields = objectAt(ctx, field, AuthShape)
  if (fields === undefined) return undefined
  requireField(ctx, fields, "type", OAuth2, '"type": "oauth2"')
  const url = (key: string) => decodeField(ctx, fields, key, HttpUrl)
  return {
    type: "oauth2",
    ...optional("clientId", decodeField(ctx, fields, "clientId", NonEmptyString)),
    ...optional("clientSecret", decodeField(ctx, fields, "clientSecret", NonEmptyString)),
    ...optional("clientMetadataUrl", url("clientMetadataUrl")),
    ...optional("authServerMetadataUrl", url("authServerMetadataUrl")),
    ...optional("authorizationUrl", url("authorizationUrl")),
    ...optional("tokenUrl", url("tokenUrl")),
    ...optional("deviceAuthorizationUrl", url("deviceAuthorizationUrl")),
    ...optional("scopes", decodeField(ctx, fields, "scopes", ScopeList)),
    resource: decodeField(ctx, fields, "resource", Resource) ?? defaults.resource,
    ...optional("audience", decodeField(ctx, fields, "audience", NonEmptyString)),
    flow: decodeField(ctx, fields, "flow", Flow) ?? defaults.flow,
    ...optional("privateKey", decodeField(ctx, fields, "privateKey", NonEmptyString)),
    signingAlgorithm:
      decodeField(ctx, fields, "signingAlgorithm", SigningAlgorithm) ?? defaults.signingAlgorithm,
    ...optional("callbackPort", decodeField(ctx, fields, "callbackPort", CallbackPort)),
    ...optional("redirectUri", url("redirectUri")),
    allowHttp: decodeField(ctx, fields, "allowHttp", Schema.Boolean) ?? false
  }
}

const stdioOnly = ["args", "env", "cwd"] as const
const httpOnly = ["headers", "auth"] as const

const decodeServer = (
  ctx: Context,
  name: string,
  node: Jsonc.Node,
  path: JsonPath
): ServerConfig | undefined => {
  const fields = readObject(ctx, node, path, ServerShape)
  if (fields === undefined) return undefined
  const written = decodeField(ctx, fields, "transport", TransportValue)
  const command = decodeField(ctx, fields, "command", NonEmptyString)
  const url = decodeField(ctx, fields, "url", HttpUrl)
  const server: ServerConfig = {
    name,
    transport: "auto",
    ...optional("command", command),
    args: decodeField(ctx, fields, "args", StringList) ?? [],
    env: decodeField(ctx, fields, "env", EnvMap) ?? {},
    ...optional("cwd", decodeField(ctx, fields, "cwd", NonEmptyString)),
    ...optional("url", url),
    headers: decodeField(ctx, fields, "headers", HeaderMap) ?? {},
    enabled: decodeField(ctx, fields, "enabled", Schema.Boolean) ?? true,
    ...optional("timeout", decodeField(ctx, fields, "timeout", Seconds)),
    ...optional("tools", decodeTools(ctx, fields.byKey.get("tools"))),
    ...optional("auth", decodeAuth(ctx, fields.byKey.get("auth")))
  }

  // A server is either stdio (`command`) or HTTP (`url`); the rest follows from that.
  const commandField = fields.byKey.get("command")
  const urlField = fields.byKey.get("url")
  const transportField = fields.byKey.get("transport")
  if (commandField !== undefined && urlField !== undefined) {
    const later = commandField.keyNode.offset > urlField.keyNode.offset ? commandField : urlField
    report(ctx, later.path, later.keyNode, 'a server has either "command" (stdio) or "url" (HTTP), not both')
    return server
  }
  if (commandField === undefined && urlField === undefined) {
    reportMissing(ctx, path, node, 'missing "command" (a stdio server) or "url" (an HTTP server)')
    return server
  }
  const isStdio = commandField !== undefined
  if (transportField !== undefined && written !== undefined && isStdio !== (written === "stdio")) {
    const needs = written === "stdio" ? '"command"' : '"url"'
    const has = isStdio ? '"command"' : '"url"'
    report(
      ctx,
      transportField.path,
      transportField.value,
      `transport "${written}" needs ${needs}, but this server has ${has}`
    )
  }
  for (const key of isStdio ? httpOnly : stdioOnly) {
    const misplaced = fields.byKey.get(key)
    if (misplaced !== undefined) {
      const kind = isStdio ? 'HTTP servers (with "url")' : 'stdio servers (with "command")'
      report(ctx, misplaced.path, misplaced.keyNode, `"${key}" only applies to ${kind}`)
    }
  }
  const transport: TransportSetting =
    written === undefined ? (isStdio ? "stdio" : "auto") : written === "http" ? "streamable-http" : written
  return { ...server, transport }
}

const decodeServers = (ctx: Context, field: Field | undefined): Record<string, ServerConfig> => {
  if (field === undefined) return {}
  if (field.value.type !== "object") {
    report(
      ctx,
      field.path,
      field.value,
      `expected an object of server entries by name, got ${describeNode(field.value)}`
    )
    return {}
  }
  const entries: Array<readonly [string, ServerConfig]> = []
  const seen = new Set<string>()
  for (const { key, keyNode, value } of properties(field.value)) {
    const path = [...field.path, key]
    if (key.startsWith("_")) continue
    if (key === "") {
      report(ctx, path, keyNode, "a server name must not be empty")
      continue
    }
    if (seen.has(key)) {
      report(ctx, path, keyNode, "duplicate server name")
      continue
    }
    seen.add(key)
    const server = decodeServer(ctx, key, value, path)
    if (server !== undefined) entries.push([key, server])
  }
  return Object.fromEntries(entries)
}

const decodeBuiltins = (ctx: Context, field: Field | undefined): BuiltinsConfig => {
  const fields = objectAt(ctx, field, BuiltinsShape)
  const fetch = objectAt(ctx, fields?.byKey.get("fetch"), FetchShape)
  const webSearchField = fields?.byKey.get("webSearch")
  const webSearch = objectAt(ctx, webSearchField, WebSearchShape)
  const provider = decodeField(ctx, webSearch, "provider", SearchProvider) ?? "duckduckgo"
  const endpoint = decodeField(ctx, webSearch, "endpoint", HttpUrl)
  if (webSearch !== undefined && provider === "searxng" && !webSearch.byKey.has("endpoint")) {
    const at = webSearch.byKey.get("provider")?.value ?? webSearch.node
    report(ctx, webSearch.path, at, 'provider "searxng" needs "endpoint" (the URL of the SearXNG instance)')
  }
  return {
    fetch: {
      enabled: decodeField(ctx, fetch, "enabled", Schema.Boolean) ?? true,
      allowPrivateNetwork: decodeField(ctx, fetch, "allowPrivateNetwork", Schema.Boolean) ?? false
    },
    webSearch: {
      enabled: decodeField(ctx, webSearch, "enabled", Schema.Boolean) ?? true,
      provider,
      ...optional("endpoint", endpoint)
    }
  }
}

const decodeUpstream = (ctx: Context, field: Field | undefined): UpstreamConfig | undefined => {
  const fields = objectAt(ctx, field, UpstreamShape)
  if (fields === undefined) return undefined
  const baseUrl = requireField(ctx, fields, "baseUrl", HttpUrl, '"baseUrl": "http://127.0.0.1:11434/v1"')
  // A missing baseUrl was reported above, so this value is never returned to a caller.
  return {
    baseUrl: baseUrl ?? "",
    ...optional("apiKey", decodeField(ctx, fields, "apiKey", Schema.String))
  }
}

const decodeHttpServer = (ctx: Context, field: Field | undefined): HttpServerConfig => {
  const fields = objectAt(ctx, field, HttpServerShape)
  return {
    host: decodeField(ctx, fields, "host", NonEmptyString) ?? defaults.host,
    port: decodeField(ctx, fields, "port", ListenPort) ?? defaults.port,
    ...optional("publicUrl", decodeField(ctx, fields, "publicUrl", HttpUrl)),
    ...optional("adminToken", decodeField(ctx, fields, "adminToken", NonEmptyString)),
    ...optional("apiKeys", decodeField(ctx, fields, "apiKeys", NonEmptyStringList)),
    ...optional("upstream", decodeUpstream(ctx, fields?.byKey.get("upstream")))
  }
}

const decodeRoot = (ctx: Context, node: Jsonc.Node): McpgateConfig | undefined => {
  const fields = readObject(ctx, node, [], RootShape)
  if (fields === undefined) return undefined
  return {
    mcpServers: decodeServers(ctx, fields.byKey.get("mcpServers")),
    maxToolCalls: decodeField(ctx, fields, "maxToolCalls", PositiveInt) ?? defaults.maxToolCalls,
    defaultTimeout: decodeField(ctx, fields, "defaultTimeout", Seconds) ?? defaults.defaultTimeout,
    builtins: decodeBuiltins(ctx, fields.byKey.get("builtins")),
    server: decodeHttpServer(ctx, fields.byKey.get("server"))
  }
}

// ---------------------------------------------------------------------------
// Syntax errors.

const syntaxMessages: Record<string, string> = {
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected: "expected a property name in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: 'expected ":" after the property name',
  CommaExpected: 'expected "," between entries',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: "unexpected content after the end of the JSON value",
  InvalidCommentToken: "invalid comment",
  UnexpectedEndOfComment: "unterminated comment",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "incomplete number",
  InvalidUnicode: "invalid unicode escapeReferences",
  InvalidEscapeCharacter: "invalid escapeReferences character",
  InvalidCharacter: "invalid character in a string (control characters must be escaped)"
}

// Where the parser was: jsonc-parser names a property still being read "", which says nothing.
const syntaxErrorPath = (text: string, offset: number): JsonPath => {
  const path = [...Jsonc.getLocation(text, offset).path]
  while (path.at(-1) === "") path.pop()
  return path
}

const syntaxMessage = (error: Jsonc.ParseError, text: string): string => {
  const code = Jsonc.printParseErrorCode(error.error)
  if (code === "InvalidSymbol") {
    // Only the first character: the rest may be a secret written without quotes.
    const symbol = text.slice(error.offset, error.offset + Math.max(1, error.length))
    const first = String.fromCodePoint(symbol.codePointAt(0) ?? 0x3f)
    const shown = symbol.length > first.length ? `${first}…` : first
    const quoteHint = symbol.startsWith("'") ? " (JSON strings use double quotes)" : ""
    return `syntax error: unexpected ${JSON.stringify(shown)}${quoteHint}`
  }
  return `syntax error: ${Object.hasOwn(syntaxMessages, code) ? syntaxMessages[code] : code}`
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
  const config = decodeRoot(ctx, root)
  return ctx.issues.length > 0 || config === undefined ? fail(ctx.issues) : Result.succeed(config)
}

// ---------------------------------------------------------------------------
// Writing back: the canonical file shape (`mcpServers`, canonical keys, defaults
// mostly omitted). Every string is escaped so `${` survives a reload literally.

type FileObject = Record<string, unknown>

const escapeRecord = (record: Readonly<Record<string, string>>): FileObject =>
  Object.fromEntries(Object.entries(record).map(([key, value]) => [key, escapeReferences(value)]))

const encodeAuth = (auth: AuthConfig): FileObject => {
  const text = (value: string | undefined) => (value === undefined ? undefined : escapeReferences(value))
  return {
    type: auth.type,
    ...optional("clientId", text(auth.clientId)),
    ...optional("clientSecret", text(auth.clientSecret)),
    ...optional("clientMetadataUrl", text(auth.clientMetadataUrl)),
    ...optional("authServerMetadataUrl", text(auth.authServerMetadataUrl)),
    ...optional("authorizationUrl", text(auth.authorizationUrl)),
    ...optional("tokenUrl", text(auth.tokenUrl)),
    ...optional("deviceAuthorizationUrl", text(auth.deviceAuthorizationUrl)),
    ...optional("scopes", auth.scopes?.map(escapeReferences)),
    ...optional(
      "resource",
      auth.resource === defaults.resource ? undefined : escapeReferences(auth.resource)
    ),
    ...optional("audience", text(auth.audience)),
    ...optional("flow", auth.flow === defaults.flow ? undefined : auth.flow),
    ...optional("privateKey", text(auth.privateKey)),
    ...optional(
      "signingAlgorithm",
      auth.signingAlgorithm === defaults.signingAlgorithm
        ? undefined
        : escapeReferences(auth.signingAlgorithm)
    ),
    ...optional("callbackPort", auth.callbackPort),
    ...optional("redirectUri", text(auth.redirectUri)),
    ...optional("allowHttp", auth.allowHttp ? true : undefined)
  }
}

const encodeServer = (server: ServerConfig): FileObject => {
  // `command` implies stdio and `url` implies auto, so those are not written.
  const implied: TransportSetting = server.command !== undefined ? "stdio" : "auto"
  return {
    ...optional("transport", server.transport === implied ? undefined : server.transport),
    ...optional("command", server.command === undefined ? undefined : escapeReferences(server.command)),
    ...optional("args", server.args.length === 0 ? undefined : server.args.map(escapeReferences)),
    ...optional("env", Object.keys(server.env).length === 0 ? undefined : escapeRecord(server.env)),
    ...optional("cwd", server.cwd === undefined ? undefined : escapeReferences(server.cwd)),
    ...optional("url", server.url === undefined ? undefined : escapeReferences(server.url)),
    ...optional(
      "headers",
      Object.keys(server.headers).length === 0 ? undefined : escapeRecord(server.headers)
    ),
    ...optional("enabled", server.enabled ? undefined : false),
    ...optional("timeout", server.timeout),
    ...optional(
      "tools",
      server.tools === undefined
        ? undefined
        : {
            ...optional("allow", server.tools.allow?.map(escapeReferences)),
            ...optional("deny", server.tools.deny?.map(escapeReferences))
          }
    ),
    ...optional("auth", server.auth === undefined ? undefined : encodeAuth(server.auth))
  }
}

const encodeHttpServer = (server: HttpServerConfig): FileObject => ({
  host: escapeReferences(server.host),
  port: server.port,
  ...optional("publicUrl", server.publicUrl === undefined ? undefined : escapeReferences(server.publicUrl)),
  ...optional(
    "adminToken",
    server.adminToken === undefined ? undefined : escapeReferences(server.adminToken)
  ),
  ...optional("apiKeys", server.apiKeys?.map(escapeReferences)),
  ...optional(
    "upstream",
    server.upstream === undefined
      ? undefined
      : {
          baseUrl: escapeReferences(server.upstream.baseUrl),
          ...optional(
            "apiKey",
            server.upstream.apiKey === undefined ? undefined : escapeReferences(server.upstream.apiKey)
          )
        }
  )
})

/** The model in the canonical file shape, as a plain JSON value. */
export const toFileShape = (config: McpgateConfig): FileObject => ({
  mcpServers: Object.fromEntries(
    Object.entries(config.mcpServers).map(([name, server]) => [name, encodeServer(server)])
  ),
  maxToolCalls: config.maxToolCalls,
  defaultTimeout: config.defaultTimeout,
  builtins: {
    fetch: {
      enabled: config.builtins.fetch.enabled,
      allowPrivateNetwork: config.builtins.fetch.allowPrivateNetwork
    },
    webSearch: {
      enabled: config.builtins.webSearch.enabled,
      provider: config.builtins.webSearch.provider,
      ...optional(
        "endpoint",
        config.builtins.webSearch.endpoint === undefined
          ? undefined
          : escapeReferences(config.builtins.webSearch.endpoint)
      )
    }
  },
  server: encodeHttpServer(config.server)
})

/** The canonical text of a config: `decodeText(encodeText(c))` gives back `c`. */
export const encodeText = (config: McpgateConfig): string =>
  `${JSON.stringify(toFileShape(config), null, 2)}\n`

/** The config of a missing default file: no servers, every default. */
export const emptyConfig: McpgateConfig = {
  mcpServers: {},
  maxToolCalls: defaults.maxToolCalls,
  defaultTimeout: defaults.defaultTimeout,
  builtins: {
    fetch: { enabled: true, allowPrivateNetwork: false },
    webSearch: { enabled: true, provider: "duckduckgo" }
  },
  server: { host: defaults.host, port: defaults.port }
}
