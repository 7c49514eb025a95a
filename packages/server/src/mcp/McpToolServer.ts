/**
 * The MCP server one `/mcp` session talks to: the SDK's low-level `Server` with
 * `tools/list` and `tools/call` answered by the client manager, and every
 * connected server's resources and prompts (McpCatalog.ts).
 *
 * Tools keep everything their server said about them (schemas, description,
 * annotations, output schema) under their public `<server>__<tool>` name; results
 * are the server's own `CallToolResult`, so structured content, images and `isError`
 * reach the client as they were sent.
 *
 * With the caller's view (teams/CallerTools.ts), a session lists and calls the
 * tools its principal sees, and lists and reads the resources and prompts: a
 * user's own `identity: "user"` servers included, on the user's own
 * connections (docs/teams.md#per-user-tool-calls).
 */
import type * as Principal from "@mcpgate/core/Principal"
import type { ToolCallError } from "@mcpgate/transport/Errors"
import type { AggregatedTool, McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import {
  CallToolRequestSchema,
  type CallToolResult,
  GetPromptRequestSchema,
  type Implementation,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  type McpError,
  ReadResourceRequestSchema,
  type Tool
} from "@modelcontextprotocol/sdk/types.js"
import { Effect, Option } from "effect"
import type { CallerToolsShape } from "../teams/CallerTools.ts"
import * as McpCatalog from "./McpCatalog.ts"

/** Runs an effect as a promise; aborting `signal` interrupts it. */
export type RunPromise = <A>(
  effect: Effect.Effect<A>,
  options: { readonly signal: AbortSignal }
) => Promise<A>

export interface ToolServerOptions {
  readonly manager: McpClientManagerShape
  readonly run: RunPromise
  readonly serverInfo: Implementation
  /** Where a user logs in from a browser (`<publicUrl>/admin`), named in "needs login" results. */
  readonly adminUrl?: string
  /** Called when the client cancels a `tools/call` (after the upstream call is interrupted). */
  readonly onCancelled?: (requestId: string | number) => void
  /** The tools as the session's principal sees them; without it, the manager's tools for everyone. */
  readonly caller?: { readonly principal: Principal.Principal; readonly tools: CallerToolsShape } | undefined
}

/** The user each tool server serves, for telling their sessions that their own tools changed. */
const users = new WeakMap<object, string>()

/** The user a session's tool server was made for (`undefined`: not a user's, or not a tool server). */
export const userOf = (server: object): string | undefined => users.get(server)

export const instructions =
  "Tools of the MCP servers behind this mcpgate gateway. Each tool is named <server>__<tool>; " +
  "the list changes as servers connect and disconnect."

/**
 * A tool as the gateway's clients see it. `execution` (task support) is dropped:
 * the gateway answers `tools/call` directly and does not relay task-augmented calls.
 */
export const publicTool = (tool: AggregatedTool): Tool => {
  const { execution: _tasks, ...rest } = tool.tool
  return { ...rest, name: tool.publicName }
}

/** What a client reads when the gateway could not carry out a call: an `isError` result that says why. */
export const errorText = (error: ToolCallError, adminUrl?: string): string => {
  if (error.reason === "needs_auth") {
    const where = adminUrl === undefined ? "the admin UI" : `the admin UI (${adminUrl})`
    return `${error.server} needs login: run \`mcpgate login ${error.server}\` or use ${where}, then call the tool again`
  }
  if (error.reason === "unknown_tool") {
    return `${error.message}; list the tools again to see what is available now`
  }
  return error.message
}

export const errorResult = (error: ToolCallError, adminUrl?: string): CallToolResult => ({
  content: [{ type: "text", text: errorText(error, adminUrl) }],
  isError: true
})

export const makeToolServer = (options: ToolServerOptions): Server => {
  const { manager, run, adminUrl, caller } = options
  const server = new Server(options.serverInfo, {
    capabilities: { tools: { listChanged: true }, resources: {}, prompts: {} },
    instructions
  })
  if (caller?.principal._tag === "User") users.set(server, caller.principal.id)
  const listTools = caller === undefined ? manager.tools : caller.tools.tools(caller.principal)
  const callTool = (name: string, args: Readonly<Record<string, unknown>>) =>
    caller === undefined ? manager.call(name, args) : caller.tools.call(caller.principal, name, args)
  // A per-user server's "not connected" already says where to connect (not `mcpgate login`).
  const failedText = (error: ToolCallError) =>
    error.reason === "needs_auth" && caller?.tools.isUserServer(error.server) === true
      ? error.message
      : errorText(error, adminUrl)
  /** A catalog request: its `McpError` is the client's JSON-RPC error. */
  const answer = <A>(effect: Effect.Effect<A, McpError>, signal: AbortSignal): Promise<A> =>
    run(Effect.result(effect), { signal }).then((result) =>
      result._tag === "Success" ? result.success : Promise.reject(result.failure)
    )

  /** A list from the gateway's servers, then from the user's own (when the session is a user's). */
  const both = <A, E>(
    list: (from: McpClientManagerShape) => Effect.Effect<ReadonlyArray<A>, E>
  ): Effect.Effect<ReadonlyArray<A>, E> =>
    caller === undefined
      ? list(manager)
      : Effect.gen(function* () {
          const shared = yield* list(manager)
          const own = yield* caller.tools.withOwnManager(caller.principal, list)
          return Option.isSome(own) ? [...shared, ...own.value] : shared
        })
  /** The user's own manager when `owns` says the request is for it; else the gateway's. */
  const route = <A, E>(
    owns: (from: McpClientManagerShape) => Effect.Effect<boolean>,
    run: (from: McpClientManagerShape) => Effect.Effect<A, E>
  ): Effect.Effect<A, E> =>
    caller === undefined
      ? run(manager)
      : Effect.gen(function* () {
          // Run while the user's connections are held; none when the request is not for them.
          const answered = yield* caller.tools.withOwnManager(caller.principal, (own) =>
            Effect.gen(function* () {
              return (yield* owns(own)) ? Option.some(yield* run(own)) : Option.none<A>()
            })
          )
          const mine = Option.flatten(answered)
          return Option.isSome(mine) ? mine.value : yield* run(manager)
        })

  // Resources and prompts of every connected server (McpCatalog.ts), each list in one page.
  server.setRequestHandler(ListResourcesRequestSchema, (_request, extra) =>
    answer(
      Effect.map(both(McpCatalog.listResources), (resources) => ({ resources: [...resources] })),
      extra.signal
    )
  )
  server.setRequestHandler(ListResourceTemplatesRequestSchema, (_request, extra) =>
    answer(
      Effect.map(both(McpCatalog.listResourceTemplates), (resourceTemplates) => ({
        resourceTemplates: [...resourceTemplates]
      })),
      extra.signal
    )
  )
  server.setRequestHandler(ReadResourceRequestSchema, (request, extra) =>
    answer(
      route(
        (own) => McpCatalog.resolves(own, request.params.uri),
        (from) => McpCatalog.readResource(from, request.params.uri)
      ),
      extra.signal
    )
  )
  server.setRequestHandler(ListPromptsRequestSchema, (_request, extra) =>
    answer(
      Effect.map(both(McpCatalog.listPrompts), (prompts) => ({ prompts: [...prompts] })),
      extra.signal
    )
  )
  server.setRequestHandler(GetPromptRequestSchema, (request, extra) =>
    answer(
      route(
        (own) =>
          Effect.map(McpCatalog.serverPrompts(own), (entries) =>
            entries.some((entry) => entry.publicName === request.params.name)
          ),
        (from) => McpCatalog.getPrompt(from, request.params.name, request.params.arguments)
      ),
      extra.signal
    )
  )

  // The whole list in one page: it is already in memory, and clients read every page anyway.
  server.setRequestHandler(ListToolsRequestSchema, (_request, extra) =>
    run(
      Effect.map(listTools, (tools) => ({ tools: tools.map(publicTool) })),
      { signal: extra.signal }
    )
  )

  server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
    const { requestId, signal } = extra
    // The SDK aborts `signal` on notifications/cancelled (MCP 2025-11-25 "Utilities ›
    // Cancellation"): the interrupted manager call cancels the upstream request in turn.
    signal.addEventListener("abort", () => options.onCancelled?.(requestId), { once: true })
    return run(
      callTool(request.params.name, request.params.arguments ?? {}).pipe(
        Effect.map((result): CallToolResult => result.raw),
        Effect.catchTag("ToolCallError", (error) =>
          Effect.succeed<CallToolResult>({
            content: [{ type: "text", text: failedText(error) }],
            isError: true
          })
        )
      ),
      { signal }
    )
  })

  return server
}
