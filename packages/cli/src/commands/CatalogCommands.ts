/**
 * `mcpgate resources [server] [--json]` and `mcpgate prompts [server] [--json]`
 * (docs/cli.md#resources, docs/cli.md#prompts): what the connected servers offer
 * besides tools, with the names the gateway's `/mcp` gives them.
 */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { UnknownServer } from "../Errors.ts"
import { managerLayer } from "../Layers.ts"
import * as Output from "../Output.ts"
import { managerService, summary, warnUnavailable } from "./ToolsCommand.ts"

/** The catalog's code, loaded on demand (other commands start without the MCP SDK). */
const loadCatalog = Effect.promise(() => import("@mcpgate/server/mcp/McpCatalog"))

const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print machine-readable JSON"),
  Flag.withDefault(false)
)

const serverArgument = (what: string) =>
  Argument.String("server").pipe(Argument.withDescription(`Only this server's ${what}`), Argument.optional)

/** The servers asked for (one, or every one), failing on a name that is not configured. */
const wanted = (server: Option.Option<string>) =>
  Effect.gen(function* () {
    const statuses = yield* warnUnavailable
    if (Option.isSome(server) && !statuses.some((status) => status.name === server.value)) {
      return yield* new UnknownServer({
        server: server.value,
        message: `no server named ${server.value} in the config`
      })
    }
    return (name: string) => Option.isNone(server) || server.value === name
  })

export const resources = Command.make(
  "resources",
  { server: serverArgument("resources and templates"), json },
  Effect.fn(function* ({ server, json }) {
    const manager = yield* managerService
    const McpCatalog = yield* loadCatalog
    const include = yield* wanted(server)
    const [lists, templateLists] = yield* Effect.all([
      McpCatalog.serverResources(manager),
      McpCatalog.serverResourceTemplates(manager)
    ])
    const listed = lists
      .filter((list) => include(list.server))
      .flatMap(({ server, items }) =>
        items.map((resource) => ({ server, resource, uri: McpCatalog.publicUri(server, resource.uri) }))
      )
    const templates = templateLists
      .filter((list) => include(list.server))
      .flatMap(({ server, items }) =>
        items.map((template) => ({
          server,
          template,
          uriTemplate: McpCatalog.publicUri(server, template.uriTemplate)
        }))
      )
    if (json) {
      return yield* Output.json({
        resources: listed.map(({ server, resource, uri }) => ({
          uri,
          server,
          serverUri: resource.uri,
          name: resource.name,
          mimeType: resource.mimeType,
          description: resource.description
        })),
        templates: templates.map(({ server, template, uriTemplate }) => ({
          uriTemplate,
          server,
          serverUriTemplate: template.uriTemplate,
          name: template.name,
          description: template.description
        }))
      })
    }
    if (listed.length === 0 && templates.length === 0) return yield* Output.line("no resources available")
    yield* Output.line(
      Output.table([
        ["RESOURCE", "SERVER", "NAME", "DESCRIPTION"].map(Output.dim),
        ...listed.map(({ server, resource }) => [
          Output.bold(resource.uri),
          server,
          resource.name,
          summary(resource.description)
        ]),
        ...templates.map(({ server, template }) => [
          Output.bold(template.uriTemplate),
          server,
          `${template.name} (template)`,
          summary(template.description)
        ])
      ])
    )
  }, Effect.provide(managerLayer))
).pipe(
  Command.withDescription(
    "List the resources and resource templates of every connected server (on /mcp: mcpgate://<server>/<uri>)"
  )
)

export const prompts = Command.make(
  "prompts",
  { server: serverArgument("prompts"), json },
  Effect.fn(function* ({ server, json }) {
    const manager = yield* managerService
    const McpCatalog = yield* loadCatalog
    const include = yield* wanted(server)
    const listed = (yield* McpCatalog.serverPrompts(manager)).filter((entry) => include(entry.server))
    if (json) {
      return yield* Output.json(
        listed.map(({ server, prompt, publicName }) => ({
          name: publicName,
          server,
          prompt: prompt.name,
          description: prompt.description,
          arguments: prompt.arguments ?? []
        }))
      )
    }
    if (listed.length === 0) return yield* Output.line("no prompts available")
    yield* Output.line(
      Output.table([
        ["PROMPT", "SERVER", "ARGUMENTS", "DESCRIPTION"].map(Output.dim),
        ...listed.map(({ server, prompt, publicName }) => [
          Output.bold(publicName),
          server,
          (prompt.arguments ?? [])
            .map((arg) => (arg.required === true ? arg.name : `[${arg.name}]`))
            .join(" "),
          summary(prompt.description)
        ])
      ])
    )
  }, Effect.provide(managerLayer))
).pipe(Command.withDescription("List the prompts of every connected server (names as /mcp gives them)"))
