/**
 * The configuration model (docs/configuration.md): each config object declared once, with its
 * fields, defaults, aliases, rules and documentation. The types below, the
 * decoder and encoder (./ConfigSchema.ts) and the reference
 * (docs/configuration.md, from ./ConfigReference.ts) all come from these
 * declarations.
 *
 * `ConfigFile` turns a file in any accepted spelling (`mcpServers` or `servers`,
 * VS Code `type`, omlx aliases, `_` keys, `${env:VAR}`) into this one shape, with
 * every default filled in, so consumers never look at aliases or optional defaults.
 */
import * as Declare from "./internal/ConfigDeclaration.ts"
import * as Values from "./internal/ConfigValues.ts"

export type Transport = "stdio" | "sse" | "streamable-http"

/** `auto` is a `url` without an explicit transport: streamable HTTP, then SSE. */
export type TransportSetting = Transport | "auto"

export type OAuthFlow = typeof Values.Flow.Type

/** What the admin config editor may change (docs/configuration.md, `server.configEditor`). */
export type ConfigEditor = typeof Values.ConfigEditor.Type

// ---------------------------------------------------------------------------
// mcpServers.<name>.auth

export const AuthObject = Declare.object({
  path: "mcpServers.<name>.auth",
  doc: 'OAuth 2.1 in front of an HTTP server. `{ "type": "oauth2" }` is enough: the gateway discovers the authorization server and registers itself; the rest is for servers that need it. Run `mcpgate login <name>` to log in.',
  // omlx chose its token store per server; mcpgate uses MCPGATE_TOKEN_STORE (README "Credentials").
  ignored: ["token_store"],
  fields: {
    type: Declare.required(Values.OAuth2, { example: '"type": "oauth2"', doc: "Always `oauth2`." }),
    clientId: Declare.optional(Values.NonEmptyString, {
      aliases: ["client_id"],
      doc: "A pre-registered client. Without it the gateway uses a client ID metadata document or dynamic registration."
    }),
    clientSecret: Declare.optional(Values.NonEmptyString, {
      secret: true,
      doc: "The pre-registered client's secret (confidential clients)."
    }),
    clientMetadataUrl: Declare.optional(Values.HttpUrl, {
      doc: "The URL of a client ID metadata document to use as the client ID."
    }),
    authServerMetadataUrl: Declare.optional(Values.HttpUrl, {
      doc: "The authorization server's metadata document, when discovery from the server cannot find it."
    }),
    authorizationUrl: Declare.optional(Values.HttpUrl, {
      aliases: ["auth_url"],
      doc: "The authorization endpoint, for servers without metadata."
    }),
    tokenUrl: Declare.optional(Values.HttpUrl, {
      aliases: ["token_url"],
      doc: "The token endpoint, for servers without metadata."
    }),
    deviceAuthorizationUrl: Declare.optional(Values.HttpUrl, {
      aliases: ["device_auth_url"],
      doc: "The device authorization endpoint (RFC 8628), for servers without metadata."
    }),
    scopes: Declare.optional(Values.ScopeList, {
      type: "a list of scope tokens (RFC 6749 §3.3)",
      doc: "Scopes to request, one per entry. Default: what the server asks for."
    }),
    resource: Declare.withDefault(Values.Resource, "auto", {
      doc: "The RFC 8707 resource: `auto` (the server's canonical URI), `omit` (never sent) or a URI."
    }),
    audience: Declare.optional(Values.NonEmptyString, {
      doc: "An `audience` parameter for authorization servers that want one (Auth0 style)."
    }),
    flow: Declare.withDefault(Values.Flow, "pkce", {
      doc: "`pkce` (a browser login), `device` (a code to enter on another device) or `client_credentials` (no user)."
    }),
    privateKey: Declare.optional(Values.NonEmptyString, {
      secret: true,
      doc: "PEM text or the path of a PEM file: client authentication with `private_key_jwt`."
    }),
    signingAlgorithm: Declare.withDefault(Values.SigningAlgorithm, "RS256", {
      doc: "The JWS algorithm of the `private_key_jwt` assertion."
    }),
    callbackPort: Declare.optional(Values.CallbackPort, {
      doc: "A fixed port for the CLI login's loopback redirect (default: any free port)."
    }),
    redirectUri: Declare.optional(Values.HttpUrl, {
      doc: "The redirect URI registered for a pre-registered client."
    }),
    allowHttp: Declare.withDefault(Values.Flag, false, {
      doc: "Allow plain-HTTP authorization servers (testing only)."
    }),
    identity: Declare.optional(Values.Identity, {
      doc: "Whose login the gateway uses: `gateway` (default: one login for everyone) or `user` (each user of `server.users` or `server.auth` connects their own account at `<publicUrl>/connections`; docs/teams.md#per-user-credentials)."
    })
  }
})

export interface AuthConfig extends Declare.Model<typeof AuthObject> {}

// ---------------------------------------------------------------------------
// mcpServers.<name>.tools

export const ToolsObject = Declare.object({
  path: "mcpServers.<name>.tools",
  doc: "Which of the server's own tools are exposed, by glob on their names (before the `<server>__` prefix). `deny` wins over `allow`; `allow: []` exposes nothing.",
  fields: {
    allow: Declare.optional(Values.NonEmptyStringList, {
      doc: "Globs of the tools to expose (default: all)."
    }),
    deny: Declare.optional(Values.NonEmptyStringList, { doc: "Globs of the tools to hide." })
  }
})

export interface ToolFilter extends Declare.Model<typeof ToolsObject> {}

// ---------------------------------------------------------------------------
// mcpServers.<name>

const stdioOnly = ["args", "env", "cwd"] as const
const httpOnly = ["headers", "auth"] as const

const serverFields = {
  transport: Declare.optional(Values.TransportValue, {
    aliases: ["type"],
    doc: "`stdio`, `sse` or `streamable-http` (alias `http`). Without it, `command` means stdio and `url` means streamable HTTP with a fallback to SSE."
  }),
  command: Declare.optional(Values.NonEmptyString, { doc: "The program of a stdio server." }),
  args: Declare.withDefault(Values.StringList, [], { doc: "Its arguments." }),
  env: Declare.withDefault(
    Values.EnvMap,
    {},
    {
      type: "an object: variable name → string",
      doc: "Environment variables for it, on top of a minimal safe environment (never another server's)."
    }
  ),
  cwd: Declare.optional(Values.NonEmptyString, { doc: "Its working directory." }),
  url: Declare.optional(Values.HttpUrl, { doc: "The endpoint of an HTTP server." }),
  headers: Declare.withDefault(
    Values.HeaderMap,
    {},
    {
      type: "an object: header name → string",
      doc: "HTTP headers sent with every request to it."
    }
  ),
  enabled: Declare.withDefault(Values.Flag, true, { doc: "`false` keeps the entry without connecting." }),
  timeout: Declare.optional(Values.Seconds, {
    doc: "Seconds per request to this server (default: the top-level `defaultTimeout`)."
  }),
  tools: Declare.optionalObject(ToolsObject, { doc: "Which tools are exposed." }),
  maxToolResultChars: Declare.optional(Values.PositiveInt, {
    doc: "Characters of one tool result the model reads (default: the top-level `maxToolResultChars`)."
  }),
  auth: Declare.optionalObject(AuthObject, { doc: "OAuth 2.1 (HTTP servers)." })
} as const

export const ServerObject = Declare.objectWith({
  path: "mcpServers.<name>",
  doc: "A stdio server (`command`, with `args`, `env`, `cwd`) or an HTTP server (`url`, with `headers`, `auth`): one or the other. A name starting with `_` is a comment, not a server.",
  fields: serverFields,
  hint: (key) => {
    if (Declare.knownKeys(AuthObject).includes(key)) return 'it belongs inside "auth"'
    if (Declare.knownKeys(ToolsObject).includes(key)) return 'it belongs inside "tools"'
    return undefined
  },
  rules: (server, at) => {
    // A server is either stdio (`command`) or HTTP (`url`); the rest follows from that.
    if (at.has("command") && at.has("url")) {
      const later = at.offsetOf("command") > at.offsetOf("url") ? "command" : "url"
      return at.reportAtKey(later, 'a server has either "command" (stdio) or "url" (HTTP), not both')
    }
    if (!at.has("command") && !at.has("url")) {
      return at.reportMissing('missing "command" (a stdio server) or "url" (an HTTP server)')
    }
    const isStdio = at.has("command")
    const written = server.transport
    if (written !== undefined && isStdio !== (written === "stdio")) {
      const needs = written === "stdio" ? '"command"' : '"url"'
      const has = isStdio ? '"command"' : '"url"'
      at.reportAtValue("transport", `transport "${written}" needs ${needs}, but this server has ${has}`)
    }
    for (const key of isStdio ? httpOnly : stdioOnly) {
      if (at.has(key)) {
        const kind = isStdio ? 'HTTP servers (with "url")' : 'stdio servers (with "command")'
        at.reportAtKey(key, `"${key}" only applies to ${kind}`)
      }
    }
  },
  finish: ({ transport, ...server }, name): ServerConfig => ({
    name,
    transport:
      transport === undefined
        ? server.command !== undefined
          ? "stdio"
          : "auto"
        : transport === "http"
          ? "streamable-http"
          : transport,
    ...server
  }),
  // `command` implies stdio and `url` implies auto, so those are not written.
  unfinish: ({ name: _name, transport, ...server }) => {
    const implied: TransportSetting = server.command !== undefined ? "stdio" : "auto"
    return transport === implied || transport === "auto" ? server : { transport, ...server }
  }
})

type ServerFields = Declare.Decoded<typeof serverFields>

export interface ServerConfig extends Omit<ServerFields, "transport"> {
  /** The entry's name in `mcpServers`. */
  readonly name: string
  readonly transport: TransportSetting
}

// ---------------------------------------------------------------------------
// builtins

export const FetchObject = Declare.object({
  path: "builtins.fetch",
  doc: "The builtin `fetch` tool: reads a web page for the model.",
  fields: {
    enabled: Declare.withDefault(Values.Flag, true, { alwaysWritten: true, doc: "Offer the tool." }),
    allowPrivateNetwork: Declare.withDefault(Values.Flag, false, {
      alwaysWritten: true,
      doc: "Allow loopback and private addresses (off: the model cannot reach the gateway's own network)."
    })
  }
})

export interface FetchBuiltinConfig extends Declare.Model<typeof FetchObject> {}

export const WebSearchObject = Declare.object({
  path: "builtins.webSearch",
  doc: "The builtin `web_search` tool.",
  fields: {
    enabled: Declare.withDefault(Values.Flag, true, { alwaysWritten: true, doc: "Offer the tool." }),
    provider: Declare.withDefault(Values.SearchProvider, "duckduckgo", {
      alwaysWritten: true,
      doc: "`duckduckgo` or `searxng`."
    }),
    endpoint: Declare.optional(Values.HttpUrl, {
      doc: "The search endpoint: DuckDuckGo's HTML endpoint by default; the instance's URL for SearXNG (required)."
    })
  },
  rules: (webSearch, at) => {
    if (webSearch.provider === "searxng" && !at.has("endpoint")) {
      at.reportMissing('provider "searxng" needs "endpoint" (the URL of the SearXNG instance)', "provider")
    }
  }
})

export interface WebSearchBuiltinConfig extends Declare.Model<typeof WebSearchObject> {}

export const BuiltinsObject = Declare.object({
  path: "builtins",
  doc: "Tools the gateway itself offers, beside the MCP servers'.",
  fields: {
    fetch: Declare.defaultedObject(FetchObject, { doc: "The `fetch` tool." }),
    webSearch: Declare.defaultedObject(WebSearchObject, { doc: "The `web_search` tool." })
  }
})

export interface BuiltinsConfig extends Declare.Model<typeof BuiltinsObject> {}

// ---------------------------------------------------------------------------
// server

export const UpstreamObject = Declare.object({
  path: "server.upstream",
  doc: "The OpenAI-compatible model endpoint that `/v1/chat/completions` forwards to.",
  fields: {
    baseUrl: Declare.required(Values.HttpUrl, {
      example: '"baseUrl": "http://127.0.0.1:11434/v1"',
      doc: "Its base URL, with the `/v1` path."
    }),
    apiKey: Declare.optional(Values.Text, { secret: true, doc: "Sent as a bearer token." }),
    responses: Declare.optional(Values.UpstreamResponses, {
      doc: "How `/v1/responses` reaches it: `auto` (default: its own Responses API when it has one, else translated to chat completions), `native` (always its own) or `translate` (always chat completions)."
    })
  }
})

export interface UpstreamConfig extends Declare.Model<typeof UpstreamObject> {}

export const UserObject = Declare.object({
  path: "server.users.<user>",
  doc: 'A user of the gateway (docs/teams.md#users): their API keys name them, so their calls use their own logins to `identity: "user"` servers. The same name signed in through `server.auth` is the same user.',
  fields: {
    apiKeys: Declare.withDefault(Values.NonEmptyStringList, [], {
      secret: true,
      doc: "Keys that stand for this user on `/v1/*` and `/mcp` (`Authorization: Bearer <key>`)."
    }),
    admin: Declare.withDefault(Values.Flag, false, {
      doc: "The user may open `/admin` when signed in through `server.auth`."
    })
  }
})

export interface UserConfig extends Declare.Model<typeof UserObject> {}

export const GatewayAuthObject = Declare.object({
  path: "server.auth",
  doc: "An OpenID Connect provider (Keycloak, Entra ID, Okta, Auth0 …) whose users sign in to the gateway (docs/teams.md#sign-in): `/mcp`, `/mcp/<server>` and `/v1/*` then take its access tokens as an OAuth protected resource (RFC 9728), and the web UI signs users in with it.",
  fields: {
    issuer: Declare.required(Values.HttpUrl, {
      example: '"issuer": "https://login.example.com/realms/acme"',
      doc: "The provider's issuer URL; its metadata is read from the well-known URLs under it."
    }),
    clientId: Declare.required(Values.NonEmptyString, {
      example: '"clientId": "mcpgate"',
      doc: "The gateway's client at the provider (the web UI's sign-in; RFC 7662 introspection)."
    }),
    clientSecret: Declare.optional(Values.NonEmptyString, {
      secret: true,
      doc: "That client's secret (a confidential client)."
    }),
    audience: Declare.optional(Values.NonEmptyString, {
      doc: "The `aud` access tokens must carry. Default: one of the gateway's resource URLs (`<publicUrl>`, `<publicUrl>/mcp`, `<publicUrl>/mcp/<server>`, `<publicUrl>/v1`)."
    }),
    scopes: Declare.optional(Values.ScopeList, {
      type: "a list of scope tokens (RFC 6749 §3.3)",
      doc: "Scopes every access token must hold (published in the resource metadata; a token without them gets 403 `insufficient_scope`)."
    }),
    userClaim: Declare.withDefault(Values.NonEmptyString, "sub", {
      doc: "The claim that names the user (e.g. `preferred_username`, `email`)."
    }),
    adminClaim: Declare.optional(Values.NonEmptyString, {
      doc: "Who is an admin: `<claim>` (true) or `<claim>=<value>` (equal, or listed in an array claim); dots reach into objects, e.g. `realm_access.roles=mcpgate-admin`."
    })
  }
})

export interface GatewayAuthConfig extends Declare.Model<typeof GatewayAuthObject> {}

export const HttpServerObject = Declare.object({
  path: "server",
  doc: "The gateway's HTTP server.",
  fields: {
    host: Declare.withDefault(Values.NonEmptyString, "127.0.0.1", {
      alwaysWritten: true,
      doc: "The address to listen on."
    }),
    port: Declare.withDefault(Values.ListenPort, 8808, {
      alwaysWritten: true,
      doc: "The port (0: any free port)."
    }),
    publicUrl: Declare.optional(Values.HttpUrl, {
      doc: "The origin clients use (behind a reverse proxy); builds the web login's redirect URI. Default `http://<host>:<port>`."
    }),
    adminToken: Declare.optional(Values.NonEmptyString, {
      secret: true,
      doc: "The admin token. Default: `MCPGATE_ADMIN_TOKEN`, else one generated on the first start and kept in the state directory."
    }),
    configEditor: Declare.optional(Values.ConfigEditor, {
      doc: "`full`, `no-commands` (stdio `command`, `args`, `env` and `cwd` cannot be added or changed through the admin API) or `read-only`. Default: `full` while the gateway is reachable from this machine only, else `no-commands`. With `full` the admin token can start programs on the host."
    }),
    apiKeys: Declare.optional(Values.NonEmptyStringList, {
      secret: true,
      doc: "Keys clients must send to `/v1/*` and `/mcp` (`Authorization: Bearer <key>`). Without keys the gateway refuses to listen beyond loopback or behind a non-loopback `publicUrl`."
    }),
    metricsToken: Declare.optional(Values.NonEmptyString, {
      secret: true,
      doc: "A bearer token that opens `GET /metrics` (Prometheus text) and nothing else, for a scraper. The admin token opens it too."
    }),
    users: Declare.optionalEntriesByName(UserObject, {
      entries: "users",
      entryName: "user name",
      doc: "The gateway's users, by name (docs/teams.md#users)."
    }),
    auth: Declare.optionalObject(GatewayAuthObject, {
      doc: "Users sign in through an OpenID Connect provider (docs/teams.md#sign-in)."
    }),
    upstream: Declare.optionalObject(UpstreamObject, { doc: "The model endpoint." })
  }
})

export interface HttpServerConfig extends Declare.Model<typeof HttpServerObject> {}

// ---------------------------------------------------------------------------
// store

export const StoreObject = Declare.object({
  path: "store",
  doc: "Where the gateway keeps what must outlive a process (docs/store.md): `local` (the OS keychain or a file, one machine) or `postgres` (one database shared by any number of replicas; needs `MCPGATE_ENCRYPTION_KEY`).",
  fields: {
    type: Declare.withDefault(Values.StoreType, "local", {
      alwaysWritten: true,
      doc: "`local` or `postgres`."
    }),
    url: Declare.optional(Values.PostgresUrl, {
      secret: true,
      doc: 'The PostgreSQL connection URL (`postgres://user:password@host:5432/db`), usually `"${env:DATABASE_URL}"`. Only with `postgres`.'
    })
  },
  rules: (store, at) => {
    if (store.type === "postgres" && !at.has("url")) {
      at.reportMissing('store "postgres" needs "url" (e.g. "${env:DATABASE_URL}")', "type")
    }
    if (store.type !== "postgres" && at.has("url")) {
      at.reportAtKey("url", '"url" only applies to store "postgres"')
    }
  }
})

export interface StoreConfig extends Declare.Model<typeof StoreObject> {}

// ---------------------------------------------------------------------------
// The file

export const RootObject = Declare.object({
  path: "",
  doc: "The top level of the file.",
  fields: {
    mcpServers: Declare.entriesByName(ServerObject, {
      aliases: ["servers"],
      entries: "server entries",
      entryName: "server name",
      doc: "The MCP servers, by name (the name prefixes their tools: `<name>__<tool>`)."
    }),
    maxToolCalls: Declare.withDefault(Values.PositiveInt, 10, {
      aliases: ["max_tool_calls"],
      alwaysWritten: true,
      doc: "Tool-loop rounds (model turns) per request, not individual calls."
    }),
    maxToolResultChars: Declare.optional(Values.PositiveInt, {
      doc: "Characters of one tool result the model reads (default 100000); a longer one is cut, with a note saying how much was left out. Servers may set their own."
    }),
    maxTools: Declare.optional(Values.PositiveInt, {
      doc: "Tools one request may offer the model (default 128, OpenAI's own limit)."
    }),
    toolSearch: Declare.optional(Values.ToolSearch, {
      doc: "Over `maxTools`: `auto` (default) gives the model `builtin__search_tools` to find the tools it needs; `false` refuses the request with a 400 saying how to narrow it."
    }),
    defaultTimeout: Declare.withDefault(Values.Seconds, 30, {
      aliases: ["default_timeout"],
      alwaysWritten: true,
      doc: "Seconds per MCP request, unless the server sets `timeout`."
    }),
    builtins: Declare.defaultedObject(BuiltinsObject, { doc: "The gateway's own tools." }),
    server: Declare.defaultedObject(HttpServerObject, { doc: "The HTTP server." }),
    store: Declare.defaultedObject(StoreObject, { doc: "Where credentials and shared state live." })
  },
  hint: (key, valueKeys) => {
    const looksLikeServer =
      Declare.knownKeys(ServerObject).includes(key) ||
      (valueKeys !== undefined && (valueKeys.includes("command") || valueKeys.includes("url")))
    return looksLikeServer ? 'server entries go under "mcpServers"' : undefined
  }
})

export interface McpgateConfig extends Declare.Model<typeof RootObject> {}

/** Every object of the file, in reference order. */
export const declarations = [
  RootObject,
  ServerObject,
  ToolsObject,
  AuthObject,
  BuiltinsObject,
  FetchObject,
  WebSearchObject,
  HttpServerObject,
  UserObject,
  GatewayAuthObject,
  UpstreamObject,
  StoreObject
] as const

export const defaults = {
  maxToolCalls: RootObject.fields.maxToolCalls.presence.value,
  defaultTimeout: RootObject.fields.defaultTimeout.presence.value,
  host: HttpServerObject.fields.host.presence.value,
  port: HttpServerObject.fields.port.presence.value,
  signingAlgorithm: AuthObject.fields.signingAlgorithm.presence.value,
  resource: AuthObject.fields.resource.presence.value,
  flow: AuthObject.fields.flow.presence.value
} as const
