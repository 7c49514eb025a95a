/**
 * What the admin API takes and answers (docs/http-api.md#admin-api): the
 * servers with their status, tools and authorization state, the config
 * editor's text, and the events of the event stream. Built field by field, so
 * nothing a service adds later (a token, a host detail) reaches an answer
 * unseen: the builder encodes every answer with these schemas, which drop
 * undeclared keys.
 */
import { AuditEntry } from "@mcpgate/core/AuditEvent"
import { Schema } from "effect"

export const ServerName = Schema.String.annotate({ description: "the server's name in the config" })

export const ServerState = Schema.Literals([
  "disabled",
  "disconnected",
  "connecting",
  "connected",
  "needs_auth",
  "error"
]).annotate({ description: "see docs/connections.md#states" })

export const TransportName = Schema.Literals(["stdio", "sse", "streamable-http", "auto"]).annotate({
  description: "the transport in use while connected, else the configured one"
})

/** What the server said about itself in `initialize`. */
export const ServerInfo = Schema.Struct({
  name: Schema.String,
  version: Schema.String,
  title: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "ServerInfo" })

const statusFields = {
  name: ServerName,
  transport: TransportName,
  state: ServerState,
  attempts: Schema.Int.annotate({ description: "failed attempts since the last success" }),
  toolCount: Schema.Int.annotate({ description: "tools offered (0 while not connected)" }),
  lastError: Schema.optionalKey(Schema.String)
}

const timeFields = {
  lastConnectedAt: Schema.optionalKey(
    Schema.Finite.annotate({ description: "epoch ms of the last successful connection" })
  ),
  nextRetryAt: Schema.optionalKey(
    Schema.Finite.annotate({ description: "epoch ms of the next automatic attempt" })
  ),
  serverInfo: Schema.optionalKey(ServerInfo)
}

/** A server's connection status as admins see it (a stdio server's `stderr` included). */
export const ServerStatus = Schema.Struct({
  ...statusFields,
  stderr: Schema.optionalKey(
    Schema.String.annotate({
      description: "stdio: the last lines the process wrote to stderr when it failed"
    })
  ),
  ...timeFields
}).annotate({ identifier: "ServerStatus" })
export type ServerStatus = typeof ServerStatus.Type

/** A server's status as API-key holders see it: its `pid`, never its stderr (a detail of the host). */
export const PublicServerStatus = Schema.Struct({
  ...statusFields,
  ...timeFields,
  pid: Schema.optionalKey(Schema.Int.annotate({ description: "stdio: the process id while connected" }))
}).annotate({ identifier: "PublicServerStatus" })
export type PublicServerStatus = typeof PublicServerStatus.Type

/**
 * JSON passed through as an MCP server gave it (a tool's input schema, its
 * annotations, a result's structured content): not validated here.
 */
export const OpaqueJson: Schema.Codec<unknown> = Schema.Any.annotate({
  description: "JSON as the MCP server gave it"
})

/** A tool as the admin page lists it. */
export const Tool = Schema.Struct({
  publicName: Schema.String.annotate({
    description: "the name models and clients see (docs/connections.md#tool-names)"
  }),
  name: Schema.String.annotate({ description: "the server's own name for it" }),
  title: Schema.optionalKey(Schema.String),
  description: Schema.optionalKey(Schema.String),
  inputSchema: OpaqueJson.annotate({ description: "the JSON Schema of its arguments" })
}).annotate({ identifier: "Tool" })
export type Tool = typeof Tool.Type

export const AuthState = Schema.Literals([
  "not-required",
  "authenticated",
  "expired",
  "needs-login",
  "needs-scope",
  "unknown"
]).annotate({ description: "`unknown` when it could not be read (`summary` says why)" })

/** A server's authorization, never a token (docs/oauth.md). */
export const Auth = Schema.Struct({
  state: AuthState,
  summary: Schema.String.annotate({
    description: "one line for people, e.g. `authenticated, expires in 52 min`"
  }),
  refreshable: Schema.Boolean,
  scopes: Schema.Array(Schema.String),
  expiresAt: Schema.optionalKey(Schema.Finite.annotate({ description: "epoch ms" })),
  issuer: Schema.optionalKey(Schema.String),
  registrationMethod: Schema.optionalKey(Schema.String),
  clientId: Schema.optionalKey(Schema.String),
  tokenType: Schema.optionalKey(Schema.String),
  neededScopes: Schema.optionalKey(
    Schema.Array(Schema.String).annotate({ description: "with `needs-scope`: what a step-up asks for" })
  )
}).annotate({ identifier: "Auth" })
export type Auth = typeof Auth.Type

/** A configured server: its status, where it is, its tools and its authorization. */
export const Server = Schema.Struct({
  ...ServerStatus.fields,
  enabled: Schema.Boolean,
  url: Schema.optionalKey(
    Schema.String.annotate({ description: "origin and path only (a query may hold a key)" })
  ),
  tools: Schema.Array(Tool),
  auth: Auth
}).annotate({ identifier: "Server" })
export type Server = typeof Server.Type

/** `GET servers/{name}/catalog`: a connected server's resources, templates and prompts. */
export const CatalogAnswer = Schema.Struct({
  resources: Schema.Array(
    Schema.Struct({
      uri: Schema.String.annotate({ description: "the server's own URI" }),
      publicUri: Schema.String.annotate({
        description: "the URI on the aggregated /mcp: mcpgate://<server>/<uri>"
      }),
      name: Schema.String,
      title: Schema.optionalKey(Schema.String),
      description: Schema.optionalKey(Schema.String),
      mimeType: Schema.optionalKey(Schema.String)
    })
  ),
  resourceTemplates: Schema.Array(
    Schema.Struct({
      uriTemplate: Schema.String,
      publicUriTemplate: Schema.String,
      name: Schema.String,
      title: Schema.optionalKey(Schema.String),
      description: Schema.optionalKey(Schema.String)
    })
  ),
  prompts: Schema.Array(
    Schema.Struct({
      name: Schema.String.annotate({ description: "the server's own name" }),
      publicName: Schema.String.annotate({
        description: "the name on the aggregated /mcp: <server>__<prompt>"
      }),
      title: Schema.optionalKey(Schema.String),
      description: Schema.optionalKey(Schema.String),
      arguments: Schema.Array(
        Schema.Struct({
          name: Schema.String,
          description: Schema.optionalKey(Schema.String),
          required: Schema.optionalKey(Schema.Boolean)
        })
      )
    })
  )
}).annotate({ identifier: "CatalogAnswer" })
export type CatalogAnswer = typeof CatalogAnswer.Type

/** `GET servers`: every configured server, and the builtin tools apart. */
export const ServersAnswer = Schema.Struct({
  servers: Schema.Array(Server),
  builtinTools: Schema.Array(Tool)
}).annotate({ identifier: "ServersAnswer" })
export type ServersAnswer = typeof ServersAnswer.Type

export const ReconnectAnswer = Schema.Struct({
  ok: Schema.Literal(true),
  server: ServerStatus
}).annotate({ identifier: "ReconnectAnswer" })

export const AuthenticateAnswer = Schema.Struct({
  authUrl: Schema.String.annotate({ description: "the authorization URL (http or https) to open in a popup" })
}).annotate({ identifier: "AuthenticateAnswer" })

export const LogoutAnswer = Schema.Struct({
  ok: Schema.Literal(true),
  removed: Schema.Boolean.annotate({ description: "a stored credential was deleted" }),
  revoked: Schema.Boolean.annotate({
    description: "the authorization server accepted the revocation (RFC 7009)"
  })
}).annotate({ identifier: "LogoutAnswer" })

export const ConfigEditor = Schema.Literals(["full", "no-commands", "read-only"]).annotate({
  description: "`server.configEditor` in force: what a save may change"
})

/** `GET config`: the file as on disk (`${env:…}` references, never their values). */
export const ConfigAnswer = Schema.Struct({
  path: Schema.String,
  editor: ConfigEditor,
  exists: Schema.Boolean,
  text: Schema.String,
  hash: Schema.String.annotate({ description: "hex SHA-256 of `text`: the `baseHash` of a later save" })
}).annotate({ identifier: "ConfigAnswer" })
export type ConfigAnswer = typeof ConfigAnswer.Type

/** The body of `PUT config`: the whole file, and the `hash` of the text it was edited from. */
export const PutConfigRequest = Schema.Struct({
  text: Schema.String.annotate({ description: "the whole config file" }),
  baseHash: Schema.optionalKey(
    Schema.String.annotate({ description: "the `hash` GET config gave; a save over a changed file is a 409" })
  )
}).annotate({ identifier: "PutConfigRequest" })
export type PutConfigRequest = typeof PutConfigRequest.Type

/** A save or reload that was applied. */
export const AppliedAnswer = Schema.Struct({
  ok: Schema.Literal(true),
  path: Schema.String,
  restartRequired: Schema.Boolean.annotate({
    description:
      "a setting only a restart applies changed (listener, admin token, upstream, builtins, maxToolCalls)"
  })
}).annotate({ identifier: "AppliedAnswer" })
export type AppliedAnswer = typeof AppliedAnswer.Type

/** The body of `POST session`. */
export const SessionRequest = Schema.Struct({
  token: Schema.String.annotate({ description: "the admin token" })
}).annotate({ identifier: "SessionRequest" })
export type SessionRequest = typeof SessionRequest.Type

export const OkAnswer = Schema.Struct({ ok: Schema.Literal(true) }).annotate({ identifier: "OkAnswer" })

/** A server's tool list changed. */
export const ToolsChanged = Schema.Struct({ server: ServerName, toolCount: Schema.Int }).annotate({
  identifier: "ToolsChanged"
})

/** A server left the config. */
export const ServerRemoved = Schema.Struct({ server: ServerName }).annotate({ identifier: "ServerRemoved" })

/** A web login finished in the browser. */
export const OAuthCompletion = Schema.Struct({
  server: ServerName,
  ok: Schema.Boolean,
  error: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "OAuthCompletion" })
export type OAuthCompletion = typeof OAuthCompletion.Type

/** One named SSE event whose `data` is one line of JSON. */
const event = <const Name extends string, S extends Schema.Top>(name: Name, data: S) =>
  Schema.Struct({
    event: Schema.Literal(name),
    data: Schema.fromJsonString(Schema.toCodecJson(data))
  })

/** The events of `GET events`, by name. */
export const AdminEvent = Schema.Union([
  event("snapshot", ServersAnswer).annotate({ description: "first: what GET servers answers" }),
  event("status", ServerStatus).annotate({ description: "a server's status changed" }),
  event("tools", ToolsChanged).annotate({ description: "a server's tools changed" }),
  event("removed", ServerRemoved).annotate({ description: "a server was removed from the config" }),
  event("oauth", OAuthCompletion).annotate({ description: "a web login finished" })
]).annotate({ identifier: "AdminEvent" })
export type AdminEvent = typeof AdminEvent.Type

/** One user's credential of an `identity: "user"` server, as admins see it: metadata, never a token. */
export const UserConnection = Schema.Struct({
  server: Schema.String,
  url: Schema.String,
  issuer: Schema.optionalKey(Schema.String),
  clientId: Schema.optionalKey(Schema.String),
  hasAccessToken: Schema.Boolean,
  hasRefreshToken: Schema.Boolean,
  expiresAt: Schema.optionalKey(Schema.Finite.annotate({ description: "epoch ms" })),
  scope: Schema.optionalKey(Schema.String),
  updatedAt: Schema.Finite.annotate({ description: "epoch ms" })
}).annotate({ identifier: "UserConnection" })

/** `GET users`: the users of `server.users` and everyone holding a credential, with their connections. */
export const UsersAnswer = Schema.Struct({
  users: Schema.Array(
    Schema.Struct({
      user: Schema.String,
      admin: Schema.Boolean.annotate({ description: "`admin: true` in `server.users`" }),
      connections: Schema.Array(UserConnection)
    })
  )
}).annotate({ identifier: "UsersAnswer" })

/** `GET audit`: a page of the audit log (docs/store.md#audit-log), newest first; never a secret. */
export const AuditAnswer = Schema.Struct({
  entries: Schema.Array(AuditEntry.annotate({ identifier: "AuditEntry" })),
  next: Schema.optionalKey(
    Schema.Finite.annotate({ description: "pass as `before` for the next (older) page; absent on the last" })
  )
}).annotate({ identifier: "AuditAnswer" })

/** `GET audit`'s query. */
export const AuditQuery = Schema.Struct({
  before: Schema.optionalKey(
    Schema.NumberFromString.annotate({ description: "only entries older than this id (a page's `next`)" })
  ),
  limit: Schema.optionalKey(Schema.NumberFromString.annotate({ description: "1 to 500; default 50" }))
})

/** `GET config/history`: the stored config versions, newest first; never their text. */
export const ConfigHistoryAnswer = Schema.Struct({
  versions: Schema.Array(
    Schema.Struct({
      version: Schema.Finite,
      actor: Schema.String,
      paths: Schema.Array(Schema.String).annotate({ description: "dotted config paths that changed" }),
      at: Schema.Finite.annotate({ description: "epoch ms" })
    })
  )
}).annotate({ identifier: "ConfigHistoryAnswer" })

const Seconds = Schema.NullOr(Schema.Number).annotate({ description: "seconds; `null` without calls" })

/** One minute of a tool's activity. */
export const ActivityPoint = Schema.Struct({
  at: Schema.Number.annotate({ description: "the minute's start, ms since the epoch" }),
  calls: Schema.Int,
  errors: Schema.Int,
  p50: Seconds,
  p95: Seconds
}).annotate({ identifier: "ActivityPoint" })
export type ActivityPoint = typeof ActivityPoint.Type

/** A server's tool over the window: totals, percentiles, and the minutes. */
export const ToolActivity = Schema.Struct({
  server: ServerName,
  tool: Schema.String,
  calls: Schema.Int,
  errors: Schema.Int.annotate({ description: "calls whose outcome is not `ok`" }),
  p50: Seconds,
  p95: Seconds,
  points: Schema.Array(ActivityPoint)
}).annotate({ identifier: "ToolActivity" })
export type ToolActivity = typeof ToolActivity.Type

/** `GET activity` (docs/observability.md#activity). */
export const ActivityAnswer = Schema.Struct({
  windowMinutes: Schema.Int,
  tools: Schema.Array(ToolActivity)
}).annotate({ identifier: "ActivityAnswer" })
export type ActivityAnswer = typeof ActivityAnswer.Type
