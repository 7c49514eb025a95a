/**
 * docs/http-api.md, rendered from the http-api groups (./McpJsonHttpApi.ts,
 * ./AdminHttpApi.ts): each route with its credential, parameters, body,
 * answer and error codes, then every named type. The shapes come from
 * effect's OpenAPI document of the groups (`OpenApi.fromApi`), the rest from
 * the groups' annotations and their middleware.
 *
 * `pnpm run docs` writes the file; test/HttpApiReference.test.ts fails when
 * the committed one is stale. Rendering also checks that the declarations
 * agree: every documented code's status is an error the route declares, and
 * every error status a route declares has a documented code.
 */
import { Context, Predicate } from "effect"
import { HttpApi, type HttpApiEndpoint, type HttpApiGroup, OpenApi } from "effect/http-api"
import { AdminHttpApi } from "./AdminHttpApi.ts"
import * as ApiErrors from "./ApiErrors.ts"
import { type DocumentedCode, ErrorCodes } from "./ApiErrors.ts"
import { McpJsonHttpApi } from "./McpJsonHttpApi.ts"

type Json = { readonly [x: PropertyKey]: unknown }

const objectAt = (value: unknown, key: string): Json | undefined => {
  const found = Predicate.isObject(value) ? value[key] : undefined
  return Predicate.isObject(found) ? found : undefined
}
const stringAt = (value: unknown, key: string): string | undefined => {
  const found = Predicate.isObject(value) ? value[key] : undefined
  return Predicate.isString(found) ? found : undefined
}
const arrayAt = (value: unknown, key: string): ReadonlyArray<unknown> => {
  const found = Predicate.isObject(value) ? value[key] : undefined
  return Array.isArray(found) ? found : []
}

/** `#/components/schemas/ServerStatusEncoded` → `ServerStatusEncoded`. */
const refName = (schema: unknown): string | undefined => stringAt(schema, "$ref")?.split("/").at(-1)

/** A GitHub heading anchor (docs/README.md, "Citing these documents"). */
const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, "")
    .replace(/ /g, "-")

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ")

/** Renders JSON Schemas as compact TypeScript-like types, linking named ones to the Types section. */
class Types {
  /** Named schemas a rendered type links to, in order of first use. */
  readonly used: Array<string> = []
  /** The named schemas of every OpenAPI document rendered so far. */
  readonly components: Record<string, unknown> = {}

  add(schemas: Json): void {
    Object.assign(this.components, schemas)
  }

  /** A component that is only another one as JSON text (an SSE event's `data`) is that one. */
  resolve(name: string): string {
    const inner = refName(objectAt(this.components[name], "contentSchema"))
    return inner ?? name
  }

  link(name: string): string {
    const resolved = this.resolve(name)
    if (!this.used.includes(resolved)) this.used.push(resolved)
    return `[${resolved}](#${anchor(resolved)})`
  }

  /** The type as Markdown (links outside code spans). */
  of(schema: unknown): string {
    const ref = refName(schema)
    if (ref !== undefined) return this.link(ref)
    const content = objectAt(schema, "contentSchema")
    if (content !== undefined) return `JSON text of ${this.of(content)}`
    const anyOf = arrayAt(schema, "anyOf")
    if (anyOf.length > 0) return this.union(anyOf)
    const values = arrayAt(schema, "enum")
    if (values.length > 0) return values.map((value) => `\`${JSON.stringify(value)}\``).join(" | ")
    const type = stringAt(schema, "type")
    if (type === "array") return `Array<${this.of(objectAt(schema, "items"))}>`
    if (type === "object") return this.object(schema)
    if (type !== undefined) return `\`${type}\``
    return "JSON"
  }

  /** `number`, where effect's JSON codec also admits the non-finite numbers as strings. */
  private union(members: ReadonlyArray<unknown>): string {
    const kept = members.filter((member) => !arrayAt(member, "enum").includes("NaN"))
    return kept.map((member) => this.of(member)).join(" | ")
  }

  private object(schema: unknown): string {
    const properties = objectAt(schema, "properties")
    const values = objectAt(schema, "additionalProperties")
    if (properties === undefined) {
      return values === undefined || Object.keys(values).length === 0
        ? "JSON object"
        : `Record<\`string\`, ${this.of(values)}>`
    }
    const required = arrayAt(schema, "required")
    const fields = Object.entries(properties).map(
      ([key, value]) => `${key}${required.includes(key) ? "" : "?"}: ${this.of(value)}`
    )
    return `{ ${fields.join("; ")} }`
  }

  /** A named type's section: its description and a table of its fields (or its union). */
  section(name: string): string {
    const schema = this.components[name]
    const lines = [`### ${name}`, ""]
    const description = stringAt(schema, "description")
    if (description !== undefined) lines.push(description, "")
    const properties = objectAt(schema, "properties")
    if (properties === undefined) {
      lines.push(this.of(schema), "")
      return lines.join("\n")
    }
    const required = arrayAt(schema, "required")
    lines.push("| Field | Type | |", "|---|---|---|")
    for (const [key, value] of Object.entries(properties)) {
      const optional = required.includes(key) ? "" : " (optional)"
      lines.push(
        `| \`${key}\`${optional} | ${cell(this.of(value))} | ${cell(stringAt(value, "description") ?? "")} |`
      )
    }
    lines.push("")
    return lines.join("\n")
  }
}

/** What a middleware says about itself (./AdminHttpApi.ts, ./McpJsonHttpApi.ts). */
const middlewareAuth = (middleware: unknown): string | undefined =>
  Predicate.hasProperty(middleware, "auth") && Predicate.isString(middleware.auth)
    ? middleware.auth
    : undefined

const middlewareCodes = (middleware: unknown): ReadonlyArray<DocumentedCode> =>
  Predicate.hasProperty(middleware, "codes") && Array.isArray(middleware.codes) ? middleware.codes : []

interface EndpointInfo {
  readonly group: HttpApiGroup.Top
  readonly endpoint: HttpApiEndpoint.Top
  readonly annotations: Context.Context<never>
  readonly middleware: ReadonlyArray<unknown>
  readonly errorStatuses: ReadonlyArray<number>
}

const endpointsOf = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>
): ReadonlyArray<EndpointInfo> => {
  const found: Array<EndpointInfo> = []
  HttpApi.reflect(api, {
    onGroup: () => undefined,
    onEndpoint: ({ group, endpoint, mergedAnnotations, middleware, errors }) =>
      found.push({
        group,
        endpoint,
        annotations: mergedAnnotations,
        middleware: [...middleware],
        errorStatuses: [...errors.keys()]
      })
  })
  return found
}

/** The codes a route answers: its own, then its middleware's (the outermost first). */
const codesOf = (info: EndpointInfo): ReadonlyArray<DocumentedCode> => {
  const own = Context.getOrElse(info.annotations, ErrorCodes, () => [])
  const codes = [...own, ...[...info.middleware].reverse().flatMap(middlewareCodes)]
  const where = `${info.endpoint.method} ${info.endpoint.path}`
  for (const code of codes) {
    if (!info.errorStatuses.includes(code.status)) {
      throw new Error(`${where} documents ${code.code} (${code.status}) but declares no ${code.status} error`)
    }
  }
  for (const status of info.errorStatuses) {
    if (!codes.some((code) => code.status === status)) {
      throw new Error(`${where} declares a ${status} error but documents no code for it`)
    }
  }
  const unique: Array<DocumentedCode> = []
  for (const code of codes) {
    if (!unique.some((kept) => kept.status === code.status && kept.code === code.code)) unique.push(code)
  }
  return unique.sort((a, b) => a.status - b.status)
}

const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}")

/** Each route of `api` with the codes it documents; throws where they disagree with its declared errors. */
export const documentedCodes = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>
): ReadonlyArray<{ readonly route: string; readonly codes: ReadonlyArray<DocumentedCode> }> =>
  endpointsOf(api).map((info) => ({
    route: `${info.endpoint.method} ${openApiPath(info.endpoint.path)}`,
    codes: codesOf(info)
  }))

const renderEndpoint = (info: EndpointInfo, spec: OpenApi.OpenAPISpec, types: Types): string => {
  const path = openApiPath(info.endpoint.path)
  const operation = objectAt(spec.paths[path], info.endpoint.method.toLowerCase())
  const lines = [`#### \`${info.endpoint.method} ${path}\``, ""]
  const description = Context.getOption(info.annotations, OpenApi.Description)
  if (description._tag === "Some") lines.push(description.value, "")

  const auth = info.middleware.map(middlewareAuth).filter(Predicate.isString)
  lines.push(`- Credential: ${auth.length === 0 ? "none" : auth.join("; ")}.`)
  for (const parameter of arrayAt(operation, "parameters")) {
    const name = stringAt(parameter, "name") ?? ""
    const schema = objectAt(parameter, "schema")
    const about = stringAt(schema, "description")
    lines.push(`- \`{${name}}\`: ${types.of(schema)}${about === undefined ? "" : `, ${about}`}.`)
  }
  const body = objectAt(objectAt(objectAt(operation, "requestBody"), "content"), "application/json")
  if (body !== undefined) lines.push(`- Body (JSON): ${types.of(objectAt(body, "schema"))}.`)

  const responses = objectAt(operation, "responses")
  const success = Object.entries(responses ?? {}).filter(([status]) => status.startsWith("2"))
  for (const [status, response] of success) {
    for (const [mediaType, content] of Object.entries(objectAt(response, "content") ?? {})) {
      const schema = objectAt(content, "schema")
      if (objectAt(content, "x-effect-stream") !== undefined) {
        lines.push(`- Answer: ${status}, \`${mediaType}\`, one event of each kind below at a time.`, "")
        lines.push("| Event | `data` | |", "|---|---|---|")
        const events = arrayAt(types.components[refName(schema) ?? ""], "anyOf")
        for (const event of events) {
          const properties = objectAt(event, "properties")
          const name = arrayAt(objectAt(properties, "event"), "enum")[0]
          lines.push(
            `| \`${String(name)}\` | ${cell(types.of(objectAt(properties, "data")))} | ${cell(stringAt(event, "description") ?? "")} |`
          )
        }
      } else if (mediaType.startsWith("text/")) {
        lines.push(`- Answer: ${status}, \`${mediaType}\`: ${stringAt(schema, "description") ?? "text"}.`)
      } else {
        lines.push(`- Answer: ${status}, ${types.of(schema)}.`)
      }
    }
  }
  const codes = codesOf(info)
  if (codes.length > 0) {
    lines.push("", "| Status | `type` | `code` | When |", "|---|---|---|---|")
    for (const code of codes) {
      const name = code.code.startsWith("<") ? cell(code.code) : `\`${code.code}\``
      lines.push(`| ${code.status} | \`${code.type}\` | ${name} | ${cell(code.when)} |`)
    }
  }
  lines.push("")
  return lines.join("\n")
}

const renderApi = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>,
  types: Types
): string => {
  const spec = OpenApi.fromApi(api)
  types.add(spec.components.schemas)
  const lines = [`## ${spec.info.title}`, ""]
  if (spec.info.description !== undefined) lines.push(spec.info.description, "")
  let group: string | undefined
  for (const info of endpointsOf(api)) {
    if (info.group.identifier !== group) {
      group = info.group.identifier
      lines.push(`### ${Context.getOrElse(info.group.annotations, OpenApi.Title, () => group ?? "")}`, "")
      const about = Context.getOption(info.group.annotations, OpenApi.Description)
      if (about._tag === "Some") lines.push(about.value, "")
    }
    lines.push(renderEndpoint(info, spec, types))
  }
  return lines.join("\n")
}

const introduction = `# HTTP API reference

<!-- Generated by \`pnpm run docs\` from the http-api groups in packages/server/src/api/ (HttpApiReference.ts); do not edit by hand. -->

The JSON routes of the gateway, as the code declares them: the plain JSON
tool routes under \`/v1/mcp/\` and the admin API under \`/admin/api/\`. Each
route lists the credential it needs, its parameters, body and answer, and
every error \`code\` it can answer. The gateway's other routes (the
OpenAI-compatible \`/v1/chat/completions\` and \`/v1/models\`, the MCP endpoint
\`/mcp\`, \`/health\` and the web pages) are described in
[gateway.md](gateway.md).

## Clients

The routes are declared once, as \`effect/http-api\` groups in
\`packages/server/src/api/\` (\`McpJsonHttpApi.ts\`, \`AdminHttpApi.ts\`, with
the shapes in \`AdminSchemas.ts\` and the errors in \`ApiErrors.ts\`). The
server's handlers implement them and encode every answer with their schemas;
nothing a schema does not declare reaches an answer.

- From TypeScript with effect, \`HttpApiClient.make(AdminHttpApi, { baseUrl })\`
  (or \`McpJsonHttpApi\`) is a typed client: answers decode to the schemas'
  types and refusals to the error classes below, \`WWW-Authenticate\` and
  \`Retry-After\` included. The server's tests use it
  (\`packages/server/test/support/AdminApiClient.ts\`).
- The web UI's admin page (\`packages/server/web/src/lib/adminApi.ts\`) takes
  only the types: its requests and answers are checked against the groups at
  build time, and no effect code is bundled. effect's client would add about
  490 KB (160 KB gzipped) to the page's 100 KB of script.

## Errors

An error is JSON \`{"error": {"message", "type", "code"}}\` with its HTTP
status: \`message\` is a sentence for people, \`type\` the kind of error, \`code\`
a stable identifier for programs, listed under each route. A refused config
adds \`issues\`. A 401 carries \`WWW-Authenticate\` (RFC 9110 §11.6.1), a 429
\`Retry-After\` in seconds (RFC 9110 §10.2.3). A bug in a handler is a 500
\`server_error\` \`internal_error\` on the admin API, never a dropped connection.
`

/** Each status and the class a typed client decodes it to. */
const errorClasses = (types: Types): string => {
  const headers: Readonly<Record<number, string>> = {
    401: "`WWW-Authenticate`",
    429: "`Retry-After`"
  }
  const classes = [
    ApiErrors.BadRequest,
    ApiErrors.Unauthorized,
    ApiErrors.Forbidden,
    ApiErrors.NotFound,
    ApiErrors.Conflict,
    ApiErrors.PayloadTooLarge,
    ApiErrors.UnsupportedMediaType,
    ApiErrors.TooManyRequests,
    ApiErrors.InternalError,
    ApiErrors.BadGateway,
    ApiErrors.ServiceUnavailable,
    ApiErrors.GatewayTimeout
  ]
  return [
    `The body is ${types.link("ErrorBody")} for every status:`,
    "",
    "| Status | Error class (`ApiErrors.ts`) | Header |",
    "|---|---|---|",
    ...classes.map((self) => `| ${self.status} | \`${self.name}\` | ${headers[self.status] ?? ""} |`),
    ""
  ].join("\n")
}

/** The whole of docs/http-api.md. */
export const renderHttpApiReference = (): string => {
  const types = new Types()
  const apis = [renderApi(McpJsonHttpApi, types), renderApi(AdminHttpApi, types)]
  const errors = errorClasses(types)
  const sections: Array<string> = []
  // A type's section may link to more types: render until none is left.
  for (let index = 0; index < types.used.length; index++) {
    const name = types.used[index]
    if (name !== undefined) sections.push(types.section(name))
  }
  const sorted = [...sections].sort((a, b) => a.localeCompare(b))
  return `${[introduction, errors, ...apis, "## Types\n", ...sorted].join("\n").trimEnd()}\n`
}
