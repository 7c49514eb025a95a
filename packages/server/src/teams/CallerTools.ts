/**
 * The tools as the caller sees them (docs/teams.md#per-user-tool-calls): one
 * view for every place a caller lists or calls tools (`/mcp`, `/v1/mcp/tools`
 * and `/v1/mcp/execute`, the chat and Responses tool loops).
 *
 * - The gateway's own servers and the builtins: the same for everyone.
 * - An `identity: "user"` server, for a user who connected it: its tools, run
 *   on the user's own connection (UserTools).
 * - One the user has not connected: a single tool `<server>__connect` whose
 *   result says where to connect. Not another user's tool list: what a server
 *   offers can differ per account, and it would tell one user what another's
 *   account holds.
 * - The shared identity and the local owner see no per-user server: they have
 *   no connections (ConnectionRoutes.ts), so nothing there could ever run.
 */
import type * as Principal from "@mcpgate/core/Principal"
import * as ToolNames from "@mcpgate/core/ToolNames"
import { ToolCallError } from "@mcpgate/transport/Errors"
import {
  type AggregatedTool,
  McpClientManager,
  type McpClientManagerShape
} from "@mcpgate/transport/McpClientManager"
import type { CallOptions } from "@mcpgate/transport/ToolProvider"
import type { NormalizedToolResult } from "@mcpgate/transport/ToolResult"
import { Context, Effect, Layer, Option, PubSub, type Scope, Stream } from "effect"
import { Security } from "../security/Security.ts"
import { UserCredentials } from "./UserCredentials.ts"
import { UserTools, type UserToolsShape } from "./UserTools.ts"

export interface CallerToolsShape {
  /** Whether the named server's logins are per user. */
  readonly isUserServer: (server: string) => boolean
  /** The tools `principal` is offered, by public name. */
  readonly tools: (principal: Principal.Principal) => Effect.Effect<ReadonlyArray<AggregatedTool>>
  /**
   * Calls a tool by its public name as `principal`. A per-user server the user
   * has not connected fails with `needs_auth` whose message says where to connect.
   */
  readonly call: (
    principal: Principal.Principal,
    name: string,
    args: Readonly<Record<string, unknown>>,
    options?: CallOptions
  ) => Effect.Effect<NormalizedToolResult, ToolCallError>
  /**
   * Runs `use` on the user's own connections to the per-user servers (their
   * resources and prompts); none for a principal that is not a user, or when
   * the config has no per-user server.
   */
  readonly withOwnManager: <A, E>(
    principal: Principal.Principal,
    use: (manager: McpClientManagerShape) => Effect.Effect<A, E>
  ) => Effect.Effect<Option.Option<A>, E>
  /**
   * The users whose view may have changed (after each of their logins and
   * logouts, or when their own connections change what they offer), from the
   * moment of subscribing.
   */
  readonly userChanges: Effect.Effect<Stream.Stream<string>, never, Scope.Scope>
}

/** The tool that stands for a per-user server the user has not connected. */
export const connectTool = "connect"

/** `<server>__connect`, named by the same rules as every tool (docs/connections.md#tool-names). */
const connectToolOf = (server: string, hint: string): AggregatedTool => ({
  publicName: ToolNames.make([{ server, tool: connectTool }]).publicName(server, connectTool) ?? server,
  server,
  tool: {
    name: connectTool,
    title: `Connect ${server}`,
    description: `"${server}" runs with each user's own account, and yours is not connected yet. Call this to learn where to connect it (${hint}); its tools are listed once it is.`,
    inputSchema: { type: "object", properties: {} },
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false }
  }
})

const connectResult = (server: string, user: string, hint: string): NormalizedToolResult => {
  const text = `"${server}" is not connected for ${user}: ${hint}, then list the tools again.`
  return { text, isError: false, raw: { content: [{ type: "text", text }] } }
}

interface Parts {
  readonly shared: McpClientManagerShape
  readonly userTools: UserToolsShape
  /** `connect your account at <publicUrl>/connections`. */
  readonly hint: string
}

/**
 * The gateway's own tools, without those of per-user servers (it never holds
 * their logins), and the names of the per-user servers in the config in force.
 */
const sharedTools = (parts: Parts) =>
  Effect.gen(function* () {
    const userServers = yield* parts.userTools.servers
    const tools = yield* parts.shared.tools
    return { common: tools.filter((tool) => !userServers.has(tool.server)), userServers }
  })

/** The user's own tools and the connect tools of what they have not connected, on their pooled manager. */
const ownTools = (parts: Parts, own: McpClientManagerShape) =>
  Effect.gen(function* () {
    const tools = yield* own.tools
    const waiting = (yield* own.status).filter((server) => server.state === "needs_auth")
    return { tools, connect: waiting.map((server) => connectToolOf(server.name, parts.hint)) }
  })

const tools = (parts: Parts, principal: Principal.Principal) =>
  Effect.gen(function* () {
    const { common, userServers } = yield* sharedTools(parts)
    if (principal._tag !== "User" || userServers.size === 0) return common
    const own = yield* parts.userTools.withManager(principal.id, (manager) => ownTools(parts, manager))
    return [...common, ...own.tools, ...own.connect]
  })

const call = (
  parts: Parts,
  principal: Principal.Principal,
  name: string,
  args: Readonly<Record<string, unknown>>,
  options?: CallOptions
) =>
  Effect.gen(function* () {
    const { common, userServers } = yield* sharedTools(parts)
    const isShared = common.some((tool) => tool.publicName === name)
    if (isShared || principal._tag !== "User" || userServers.size === 0) {
      return yield* parts.shared.call(name, args, options)
    }
    return yield* parts.userTools.withManager(principal.id, (own) =>
      Effect.gen(function* () {
        const { tools, connect } = yield* ownTools(parts, own)
        if (tools.some((tool) => tool.publicName === name)) {
          return yield* own
            .call(name, args, options)
            .pipe(
              Effect.mapError((error) =>
                error.reason === "needs_auth"
                  ? new ToolCallError({ ...error, message: `${error.message}: ${parts.hint}` })
                  : error
              )
            )
        }
        const asked = connect.find((tool) => tool.publicName === name)
        if (asked !== undefined) return connectResult(asked.server, principal.id, parts.hint)
        // A name from before a logout (or any name) while a server waits for this user: say where to connect.
        const first = connect[0]
        if (first !== undefined) {
          const names = connect.map((tool) => `"${tool.server}"`).join(", ")
          return yield* new ToolCallError({
            server: first.server,
            tool: name,
            reason: "needs_auth",
            message: `${names} ${connect.length === 1 ? "is" : "are"} not connected for ${principal.id}: ${parts.hint}`
          })
        }
        return yield* parts.shared.call(name, args, options)
      })
    )
  })

const make = Effect.gen(function* () {
  const userTools = yield* UserTools
  const credentials = yield* UserCredentials
  // The gateway's Security knows its public address; an app without it has no /connections page to name.
  const security = yield* Effect.serviceOption(Security)
  const parts: Parts = {
    shared: yield* McpClientManager,
    userTools,
    hint: Option.match(security, {
      onNone: () => "connect your account on the gateway's /connections page",
      onSome: ({ baseUrl }) => `connect your account at ${baseUrl}/connections`
    })
  }
  const changes = yield* PubSub.unbounded<string>()
  // Registered after UserTools' own listener: its pooled connections are gone before anyone lists again.
  yield* credentials.onChange((user) => Effect.asVoid(PubSub.publish(changes, user)))
  return CallerTools.of({
    isUserServer: userTools.isUserServer,
    tools: (principal) => tools(parts, principal),
    call: (principal, name, args, options) => call(parts, principal, name, args, options),
    withOwnManager: (principal, use) =>
      Effect.gen(function* () {
        if (principal._tag !== "User" || (yield* userTools.servers).size === 0) return Option.none()
        return Option.some(yield* userTools.withManager(principal.id, use))
      }),
    userChanges: Effect.gen(function* () {
      const logins = Stream.fromSubscription(yield* PubSub.subscribe(changes))
      return Stream.merge(logins, yield* userTools.toolChanges)
    })
  })
})

export class CallerTools extends Context.Service<CallerTools, CallerToolsShape>()(
  "@mcpgate/server/CallerTools"
) {
  /** Needs the gateway's `McpClientManager`, `UserTools` and `UserCredentials` (and `Security`, when there, for the /connections URL). */
  static readonly layer: Layer.Layer<CallerTools, never, McpClientManager | UserTools | UserCredentials> =
    Layer.effect(CallerTools, make)
}
