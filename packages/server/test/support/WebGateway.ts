/**
 * A whole gateway for the browser tests, served for real on 127.0.0.1: the
 * gateway's own routes and services (`Gateway.routes`, `Gateway.services`:
 * the admin API, OAuth, the manager, the tool loop over real MCP calls)
 * plus `Web.routes`, over a config file in a temporary `MCPGATE_HOME`, a
 * memory credential store and a scripted upstream model.
 *
 * Also here: a small MCP server whose tool descriptions are Markdown (with an
 * XSS attempt), for the description dialog, and `ensureWebBuild` (the tests'
 * global setup: builds the UI when its sources changed).
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import { HttpRouter } from "effect/http"
import * as Gateway from "../../src/Gateway.ts"
import * as McpEndpoint from "../../src/mcp/McpEndpoint.ts"
import * as Security from "../../src/security/Security.ts"
import * as Web from "../../src/web/WebUi.ts"
import { ensureBuilt } from "../../web/build.ts"
import { freePort, tempHome } from "./AdminGateway.ts"

/** Builds the web UI once per process when its sources are newer than the build. */
let building: Promise<boolean> | undefined
export const ensureWebBuild: Effect.Effect<void> = Effect.promise(() => {
  building ??= ensureBuilt()
  return building
})

export interface WebGatewayOptions {
  /** The config file's text (written to `<home>/mcpgate.json`). */
  readonly configText: string
  readonly env?: Readonly<Record<string, string>>
}

export interface WebGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly home: string
  readonly configPath: string
  readonly adminToken: string
  readonly manager: McpClientManagerShape
}

export const start = (options: WebGatewayOptions): Effect.Effect<WebGateway, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    yield* ensureWebBuild
    const home = yield* tempHome
    const configPath = `${home}/mcpgate.json`
    yield* Effect.promise(() => fs.writeFile(configPath, options.configText, { mode: 0o600 }))
    const port = yield* freePort
    const env = { MCPGATE_HOME: home, ...options.env }
    const configLayer = ConfigFile.layerWith({ path: configPath, env, cwd: home })
    const configFile = Context.get(yield* Layer.build(configLayer), ConfigFile)
    const { config } = yield* configFile.load
    const gatewayOptions = { config, host: "127.0.0.1" }

    const url = `http://127.0.0.1:${port}`
    // `Web.routes` is memoized: once `Gateway.routes` mounts it too, it is still built once.
    const app = HttpRouter.serve(Layer.mergeAll(Gateway.routes, Web.routes), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(
      Layer.provide(McpEndpoint.McpEndpoint.layer({ publicUrl: url })),
      Layer.provideMerge(Gateway.services(gatewayOptions)),
      Layer.provideMerge(Security.Security.layer({ config, host: "127.0.0.1", port, env })),
      Layer.provideMerge(NodeHttpServer.layer(http.createServer, { port, host: "127.0.0.1" })),
      Layer.provide(NodeHttpClient.layerUndici),
      Layer.provide(CredentialStore.layerMemory),
      Layer.provideMerge(configLayer)
    )
    const context = yield* Layer.build(app)
    const security = Context.get(context, Security.Security)
    return {
      url,
      home,
      configPath,
      adminToken: Redacted.value(security.adminToken.value),
      manager: Context.get(context, McpClientManager)
    }
  })

// ---------------------------------------------------------------------------
// An MCP server with Markdown descriptions

/** The description the dialog must render as Markdown, with markup it must neutralise. */
export const markdownDescription = [
  "Searches the **project notes** and returns the best matches.",
  "",
  "- Use `query` for words to look for",
  "- Use `limit` to cap the results (default 5)",
  "",
  '<img src="x" onerror="window.__xss = true"> <script>window.__xss = true</script>',
  "",
  "[Docs](javascript:window.__xss=true) · [Spec](https://modelcontextprotocol.io/specification)"
].join("\n")

const makeDocsServer = () => {
  const mcp = new McpServer({ name: "docs-test-server", version: "1.2.0" })
  mcp.registerTool(
    "search",
    {
      title: "Search notes",
      description: markdownDescription,
      inputSchema: {}
    },
    async () => ({ content: [{ type: "text", text: "no matches" }] })
  )
  mcp.registerTool("summarize", { description: "Summarizes one note in a paragraph." }, async () => ({
    content: [{ type: "text", text: "a summary" }]
  }))
  return mcp
}

/** A stateless streamable-HTTP MCP server on 127.0.0.1; its URL ends in `/mcp`. */
export const docsServer: Effect.Effect<{ readonly url: string }, never, Scope.Scope> = Effect.gen(
  function* () {
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        if (req.method !== "POST") {
          res.writeHead(405, { allow: "POST" }).end()
          return
        }
        const mcp = makeDocsServer()
        const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
        res.on("close", () => {
          void transport.close()
          void mcp.close()
        })
        const body =
          chunks.length === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown)
        void mcp
          .connect(transport)
          .then(() => transport.handleRequest(req, res, body))
          .catch(() => res.destroy())
      })
    })
    const port = yield* Effect.acquireRelease(
      Effect.callback<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.callback<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return { url: `http://127.0.0.1:${port}/mcp` }
  }
)
