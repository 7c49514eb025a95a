/**
 * The resources and prompts of the aggregated `/mcp` (docs/gateway.md#mcp-endpoint):
 * every connected server's, read from the servers when a client asks (all pages),
 * named so that they can be routed back.
 *
 * - Prompts are named like tools, `<server>__<prompt>` (ToolNames: safe, unique,
 *   routed by a table, never by splitting the name).
 * - Resource URIs become `mcpgate://<server>/<the server's URI>`, templates
 *   likewise; the server's URI follows unchanged, so it stays readable. A URI
 *   is routed back only when `<server>` is a connected server's name.
 */
import * as ToolNames from "@mcpgate/core/ToolNames"
import type { McpRequestFailed, ServerNotFound } from "@mcpgate/transport/Errors"
import type { McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import {
  ErrorCode,
  GetPromptResultSchema,
  McpError,
  type Prompt,
  ReadResourceResultSchema,
  type Resource,
  type ResourceTemplate
} from "@modelcontextprotocol/sdk/types.js"
import { Effect, Predicate } from "effect"

export const uriScheme = "mcpgate://"

/** The aggregate's URI of a server's resource. */
export const publicUri = (server: string, uri: string): string => `${uriScheme}${server}/${uri}`

/** The server and its own URI behind an aggregate URI, when `server` is one of `servers`. */
export const resolveUri = (
  uri: string,
  servers: ReadonlySet<string>
): { readonly server: string; readonly uri: string } | undefined => {
  if (!uri.startsWith(uriScheme)) return undefined
  const rest = uri.slice(uriScheme.length)
  const slash = rest.indexOf("/")
  if (slash <= 0) return undefined
  const server = rest.slice(0, slash)
  return servers.has(server) ? { server, uri: rest.slice(slash + 1) } : undefined
}

const maxPages = 100

type Failure = McpRequestFailed | ServerNotFound

/** The connected servers' names. */
const connected = (manager: McpClientManagerShape) =>
  Effect.map(
    manager.status,
    (statuses) =>
      new Set(statuses.filter((status) => status.state === "connected").map((status) => status.name))
  )

/** Every page of a list from one server; a server that fails or lacks the capability lists nothing. */
const listAll = <A>(
  manager: McpClientManagerShape,
  server: string,
  capability: "resources" | "prompts",
  method: string,
  key: string,
  isItem: (value: unknown) => value is A
): Effect.Effect<ReadonlyArray<A>> =>
  Effect.gen(function* () {
    const items: Array<A> = []
    let cursor: string | undefined
    for (let page = 0; page < maxPages; page++) {
      const result = yield* manager.request(
        server,
        capability,
        method,
        cursor === undefined ? {} : { cursor }
      )
      const list = result[key]
      if (Array.isArray(list)) items.push(...list.filter(isItem))
      cursor =
        Predicate.isString(result.nextCursor) && result.nextCursor !== "" ? result.nextCursor : undefined
      if (cursor === undefined) break
    }
    return items
  }).pipe(
    Effect.catch((error: Failure) =>
      Effect.as(
        error._tag === "McpRequestFailed" && error.code === ErrorCode.MethodNotFound
          ? Effect.void
          : Effect.logDebug(`/mcp: ${error.message}`),
        []
      )
    )
  )

const isResource = (value: unknown): value is Resource =>
  Predicate.hasProperty(value, "uri") && Predicate.isString(value.uri)
const isTemplate = (value: unknown): value is ResourceTemplate =>
  Predicate.hasProperty(value, "uriTemplate") && Predicate.isString(value.uriTemplate)
const isPrompt = (value: unknown): value is Prompt =>
  Predicate.hasProperty(value, "name") && Predicate.isString(value.name)

const perServer = <A>(
  manager: McpClientManagerShape,
  list: (server: string) => Effect.Effect<ReadonlyArray<A>>
) =>
  Effect.flatMap(connected(manager), (servers) =>
    Effect.forEach(
      Array.from(servers),
      (server) => Effect.map(list(server), (items) => ({ server, items })),
      {
        concurrency: "unbounded"
      }
    )
  )

/** Each connected server's resources as it lists them (for `mcpgate resources`). */
export const serverResources = (manager: McpClientManagerShape) =>
  perServer(manager, (server) =>
    listAll(manager, server, "resources", "resources/list", "resources", isResource)
  )

/** Each connected server's resource templates as it lists them. */
export const serverResourceTemplates = (manager: McpClientManagerShape) =>
  perServer(manager, (server) =>
    listAll(manager, server, "resources", "resources/templates/list", "resourceTemplates", isTemplate)
  )

export const listResources = (manager: McpClientManagerShape) =>
  Effect.map(
    perServer(manager, (server) =>
      listAll(manager, server, "resources", "resources/list", "resources", isResource)
    ),
    (lists): Array<Resource> =>
      lists.flatMap(({ server, items }) =>
        items.map((resource) => ({ ...resource, uri: publicUri(server, resource.uri) }))
      )
  )

export const listResourceTemplates = (manager: McpClientManagerShape) =>
  Effect.map(
    perServer(manager, (server) =>
      listAll(manager, server, "resources", "resources/templates/list", "resourceTemplates", isTemplate)
    ),
    (lists): Array<ResourceTemplate> =>
      lists.flatMap(({ server, items }) =>
        items.map((template) => ({ ...template, uriTemplate: publicUri(server, template.uriTemplate) }))
      )
  )

/** A server's failure as the JSON-RPC error the client gets. */
const asMcpError = (error: Failure): McpError =>
  new McpError(
    error._tag === "McpRequestFailed" ? (error.code ?? ErrorCode.InternalError) : ErrorCode.InvalidParams,
    error.message
  )

/** A server's answer checked against the SDK's schema for it. */
const decoded = <A>(
  schema: {
    readonly safeParse: (value: unknown) => { success: true; data: A } | { success: false; error: Error }
  },
  value: unknown,
  server: string
): Effect.Effect<A, McpError> => {
  const parsed = schema.safeParse(value)
  return parsed.success
    ? Effect.succeed(parsed.data)
    : Effect.fail(
        new McpError(
          ErrorCode.InternalError,
          `server "${server}" answered out of shape: ${parsed.error.message}`
        )
      )
}

/** Whether an aggregate URI names one of the manager's connected servers. */
export const resolves = (manager: McpClientManagerShape, uri: string): Effect.Effect<boolean> =>
  Effect.map(connected(manager), (servers) => resolveUri(uri, servers) !== undefined)

/** `resources/read` of an aggregate URI: the server's answer, its URIs made public again. */
export const readResource = (manager: McpClientManagerShape, uri: string) =>
  Effect.gen(function* () {
    const target = resolveUri(uri, yield* connected(manager))
    if (target === undefined) {
      // MCP 2025-11-25 "Resources › Error Handling": -32002 for a resource that does not exist.
      return yield* Effect.fail(new McpError(-32002, "Resource not found", { uri }))
    }
    const result = yield* Effect.mapError(
      manager.request(target.server, "resources", "resources/read", { uri: target.uri }),
      asMcpError
    )
    const read = yield* decoded(ReadResourceResultSchema, result, target.server)
    return {
      ...read,
      contents: read.contents.map((content) => ({ ...content, uri: publicUri(target.server, content.uri) }))
    }
  })

/** Every connected server's prompts with their public names (for `mcpgate prompts`). */
export const serverPrompts = (manager: McpClientManagerShape) =>
  Effect.map(
    perServer(manager, (server) => listAll(manager, server, "prompts", "prompts/list", "prompts", isPrompt)),
    (lists) => {
      const table = ToolNames.make(
        lists.flatMap(({ server, items }) => items.map((prompt) => ({ server, tool: prompt.name })))
      )
      return lists.flatMap(({ server, items }) =>
        items.map((prompt) => ({
          server,
          prompt,
          publicName: table.publicName(server, prompt.name) ?? prompt.name
        }))
      )
    }
  )

export const listPrompts = (manager: McpClientManagerShape) =>
  Effect.map(serverPrompts(manager), (entries) =>
    entries.map(({ prompt, publicName }): Prompt => ({ ...prompt, name: publicName }))
  )

export const getPrompt = (
  manager: McpClientManagerShape,
  name: string,
  args: Readonly<Record<string, string>> | undefined
) =>
  Effect.gen(function* () {
    // Routed by the table of public names, never by splitting the name.
    const ref = (yield* serverPrompts(manager)).find((entry) => entry.publicName === name)
    if (ref === undefined) {
      return yield* Effect.fail(
        new McpError(ErrorCode.InvalidParams, `no prompt named ${name}; list the prompts again`)
      )
    }
    const result = yield* Effect.mapError(
      manager.request(ref.server, "prompts", "prompts/get", {
        name: ref.prompt.name,
        ...(args === undefined ? {} : { arguments: args })
      }),
      asMcpError
    )
    return yield* decoded(GetPromptResultSchema, result, ref.server)
  })
