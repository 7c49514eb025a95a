/** What the MCP benchmarks share: the manager's config for one HTTP server, a bare SDK client, answer checks. */
import type { McpgateConfig } from "../../packages/core/src/Config.ts"
import { Client, StreamableHTTPClientTransport } from "./Sdk.ts"

export const httpServerConfig = (url: string): McpgateConfig => ({
  mcpServers: {
    bench: {
      name: "bench",
      transport: "streamable-http",
      url,
      args: [],
      env: {},
      headers: {},
      enabled: true
    }
  },
  maxToolCalls: 10,
  store: { type: "local" },
  defaultTimeout: 30,
  builtins: {
    fetch: { enabled: false, allowPrivateNetwork: false },
    webSearch: { enabled: false, provider: "duckduckgo" }
  },
  server: { host: "127.0.0.1", port: 0 }
})

/** A bare SDK client on `url`, as any MCP client application would hold one. */
export const directClient = async (url: string): Promise<InstanceType<typeof Client>> => {
  const client = new Client({ name: "bench-direct", version: "1.0.0" })
  await client.connect(new StreamableHTTPClientTransport(new URL(url)))
  return client
}

/** Fails loudly when an answer is not the echo: a benchmark of errors would be worthless. */
export const expectEcho = (text: unknown, expected: string): void => {
  if (text !== expected) throw new Error(`expected the echo "${expected}", got ${JSON.stringify(text)}`)
}

export const firstText = (result: unknown): unknown => {
  if (typeof result !== "object" || result === null || !("content" in result)) return undefined
  const content = result.content
  if (!Array.isArray(content)) return undefined
  const first: unknown = content[0]
  return typeof first === "object" && first !== null && "text" in first ? first.text : undefined
}
