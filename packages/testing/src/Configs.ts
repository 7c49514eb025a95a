/** Normalized configs for the transport and gateway tests (what `ConfigFile` would produce). */
import { fileURLToPath } from "node:url"
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"

/** The stdio test server script (see StdioTestServer.ts). */
export const stdioTestServerPath = fileURLToPath(new URL("./StdioTestServer.ts", import.meta.url))

/** server-everything's entry file; its default transport is stdio. */
export const everythingPath = fileURLToPath(
  new URL("../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url)
)

type ServerFields = Partial<Omit<ServerConfig, "name">>

export const server = (name: string, fields: ServerFields = {}): ServerConfig => ({
  name,
  transport: fields.command !== undefined ? "stdio" : "auto",
  args: [],
  env: {},
  headers: {},
  enabled: true,
  ...fields
})

/** The stdio test server, started with `flags`. */
export const stdioServer = (
  name: string,
  flags: ReadonlyArray<string> = [],
  fields: ServerFields = {}
): ServerConfig =>
  server(name, { command: process.execPath, args: [stdioTestServerPath, ...flags], ...fields })

export const everything = (name = "everything", fields: ServerFields = {}): ServerConfig =>
  server(name, { command: process.execPath, args: [everythingPath, "stdio"], ...fields })

export const gateway = (
  servers: ReadonlyArray<ServerConfig>,
  fields: Partial<McpgateConfig> = {}
): McpgateConfig => ({
  mcpServers: Object.fromEntries(servers.map((entry) => [entry.name, entry])),
  maxToolCalls: 10,
  store: { type: "local" },
  defaultTimeout: 10,
  builtins: {
    fetch: { enabled: false, allowPrivateNetwork: false },
    webSearch: { enabled: false, provider: "duckduckgo" }
  },
  server: { host: "127.0.0.1", port: 8808 },
  ...fields
})
