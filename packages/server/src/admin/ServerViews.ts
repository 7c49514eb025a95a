/**
 * The servers as the admin API shows them (docs/http-api.md#servers): status,
 * tools and authorization state, built field by field so that nothing a
 * service may add later (a token, a host detail) reaches a response unseen;
 * the answer schemas (../api/AdminSchemas.ts) drop anything undeclared too.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import type { AuthStatus } from "@mcpgate/oauth/OAuthManager"
import type { ManagerChange, ServerStatus } from "@mcpgate/transport/ConnectionState"
import type { AggregatedTool } from "@mcpgate/transport/McpClientManager"
import { Effect, Ref } from "effect"
import type { AdminEvent, Auth as AuthView, ServersAnswer, Tool } from "../api/AdminSchemas.ts"
import type { AdminContextShape } from "./AdminContext.ts"

const authView = (status: AuthStatus): AuthView => ({
  state: status.state,
  summary: status.summary,
  refreshable: status.refreshable,
  scopes: status.scopes,
  ...(status.expiresAt === undefined ? {} : { expiresAt: status.expiresAt }),
  ...(status.issuer === undefined ? {} : { issuer: status.issuer }),
  ...(status.registrationMethod === undefined ? {} : { registrationMethod: status.registrationMethod }),
  ...(status.clientId === undefined ? {} : { clientId: status.clientId }),
  ...(status.tokenType === undefined ? {} : { tokenType: status.tokenType }),
  ...(status.neededScopes === undefined ? {} : { neededScopes: status.neededScopes })
})

const notRequired: AuthView = {
  state: "not-required",
  summary: "not required",
  refreshable: false,
  scopes: []
}

export const toolView = (tool: AggregatedTool): Tool => ({
  publicName: tool.publicName,
  name: tool.tool.name,
  ...(tool.tool.title === undefined
    ? tool.tool.annotations?.title === undefined
      ? {}
      : { title: tool.tool.annotations.title }
    : { title: tool.tool.title }),
  ...(tool.tool.description === undefined ? {} : { description: tool.tool.description }),
  inputSchema: tool.tool.inputSchema
})

export const statusView = (status: ServerStatus) => ({
  name: status.name,
  transport: status.transport,
  state: status.state,
  attempts: status.attempts,
  toolCount: status.toolCount,
  ...(status.lastError === undefined ? {} : { lastError: status.lastError }),
  ...(status.stderr === undefined ? {} : { stderr: status.stderr }),
  ...(status.lastConnectedAt === undefined ? {} : { lastConnectedAt: status.lastConnectedAt }),
  ...(status.nextRetryAt === undefined ? {} : { nextRetryAt: status.nextRetryAt }),
  ...(status.serverInfo === undefined ? {} : { serverInfo: status.serverInfo })
})

/** A URL for display: origin and path only (a query may carry a key). */
const displayUrl = (url: string | undefined): string | undefined => {
  if (url === undefined) return undefined
  const parsed = URL.parse(url)
  return parsed === null ? undefined : `${parsed.origin}${parsed.pathname}`
}

const authOf = (ctx: AdminContextShape, server: ServerConfig | undefined) =>
  server?.url === undefined
    ? Effect.succeed(notRequired)
    : ctx.oauth.status(server).pipe(
        Effect.map(authView),
        Effect.catch((error) =>
          Effect.succeed<AuthView>({
            state: "unknown",
            summary: error.message,
            refreshable: false,
            scopes: []
          })
        )
      )

/** `GET servers`: every configured server, and the builtin tools apart. */
export const serversPayload = (ctx: AdminContextShape): Effect.Effect<ServersAnswer> =>
  Effect.gen(function* () {
    const config = yield* Ref.get(ctx.applied)
    const statuses = yield* ctx.manager.status
    const tools = yield* ctx.manager.tools
    const names = new Set(statuses.map((status) => status.name))
    const servers = yield* Effect.forEach(
      statuses,
      (status) =>
        Effect.gen(function* () {
          const server = config.mcpServers[status.name]
          const url = displayUrl(server?.url)
          return {
            ...statusView(status),
            enabled: server?.enabled ?? status.state !== "disabled",
            ...(url === undefined ? {} : { url }),
            tools: tools.filter((tool) => tool.server === status.name).map(toolView),
            auth: yield* authOf(ctx, server)
          }
        }),
      { concurrency: 8 }
    )
    return {
      servers,
      builtinTools: tools.filter((tool) => !names.has(tool.server)).map(toolView)
    }
  })

/** A manager change as the event stream names it, and its data. */
export const changeEvent = (change: ManagerChange): AdminEvent => {
  switch (change._tag) {
    case "StatusChanged":
      return { event: "status", data: statusView(change.status) }
    case "ToolsChanged":
      return { event: "tools", data: { server: change.server, toolCount: change.toolCount } }
    case "ServerRemoved":
      return { event: "removed", data: { server: change.server } }
  }
}
