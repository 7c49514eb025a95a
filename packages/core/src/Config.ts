/**
 * The normalized configuration model (SPEC §1): what every other package reads.
 *
 * `ConfigFile` turns a file in any accepted spelling (`mcpServers` or `servers`,
 * VS Code `type`, omlx aliases, `_` keys, `${env:VAR}`) into this one shape, with
 * every default filled in, so consumers never look at aliases or optional defaults.
 */

export type Transport = "stdio" | "sse" | "streamable-http"

/** `auto` is a `url` without an explicit transport: streamable HTTP, then SSE. */
export type TransportSetting = Transport | "auto"

export type OAuthFlow = "pkce" | "device" | "client_credentials"

export interface AuthConfig {
  readonly type: "oauth2"
  readonly clientId?: string
  readonly clientSecret?: string
  /** A Client ID Metadata Document URL. */
  readonly clientMetadataUrl?: string
  readonly authServerMetadataUrl?: string
  readonly authorizationUrl?: string
  readonly tokenUrl?: string
  readonly deviceAuthorizationUrl?: string
  readonly scopes?: ReadonlyArray<string>
  /** `auto` (default): the canonical server URI; `omit`: never sent; else this URI. */
  readonly resource: string
  readonly audience?: string
  readonly flow: OAuthFlow
  /** PEM text or a path to a PEM file (private_key_jwt client authentication). */
  readonly privateKey?: string
  readonly signingAlgorithm: string
  readonly callbackPort?: number
  readonly redirectUri?: string
  readonly allowHttp: boolean
}

export interface ToolFilter {
  readonly allow?: ReadonlyArray<string>
  readonly deny?: ReadonlyArray<string>
}

export interface ServerConfig {
  readonly name: string
  readonly transport: TransportSetting
  readonly command?: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd?: string
  readonly url?: string
  readonly headers: Readonly<Record<string, string>>
  readonly enabled: boolean
  /** Seconds per request; absent means the top-level `defaultTimeout`. */
  readonly timeout?: number
  readonly tools?: ToolFilter
  readonly auth?: AuthConfig
}

export interface FetchBuiltinConfig {
  readonly enabled: boolean
  readonly allowPrivateNetwork: boolean
}

export interface WebSearchBuiltinConfig {
  readonly enabled: boolean
  readonly provider: "duckduckgo" | "searxng"
  /** Defaults to DuckDuckGo's HTML endpoint; required for SearXNG. */
  readonly endpoint?: string
}

export interface BuiltinsConfig {
  readonly fetch: FetchBuiltinConfig
  readonly webSearch: WebSearchBuiltinConfig
}

export interface UpstreamConfig {
  readonly baseUrl: string
  readonly apiKey?: string
}

/**
 * What the admin API's config editor may change: everything, everything but how
 * stdio servers are started (`command`, `args`, `env`, `cwd`), or nothing.
 */
export type ConfigEditorMode = "full" | "no-commands" | "read-only"

export interface HttpServerConfig {
  readonly host: string
  readonly port: number
  /** Origin used to build the web OAuth redirect URI; default `http://<host>:<port>`. */
  readonly publicUrl?: string
  readonly adminToken?: string
  readonly apiKeys?: ReadonlyArray<string>
  readonly upstream?: UpstreamConfig
  /** Default: `full` while the gateway is reachable from this machine only, else `no-commands`. */
  readonly configEditor?: ConfigEditorMode
}

export interface McpgateConfig {
  /** Keyed by server name, in file order. */
  readonly mcpServers: Readonly<Record<string, ServerConfig>>
  /** Tool-loop rounds (model turns), not individual calls. */
  readonly maxToolCalls: number
  /** Seconds. */
  readonly defaultTimeout: number
  readonly builtins: BuiltinsConfig
  readonly server: HttpServerConfig
}

export const defaults = {
  maxToolCalls: 10,
  defaultTimeout: 30,
  host: "127.0.0.1",
  port: 8808,
  signingAlgorithm: "RS256",
  resource: "auto",
  flow: "pkce"
} as const
