/**
 * The composed gateway end to end: real server-everything over stdio behind the
 * manager, a scripted upstream, and the official `openai` client as the caller.
 */
import { mkdtempSync } from "node:fs"
import { createServer, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Configs from "@mcpgate/testing/Configs"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Context, Effect, Layer, Predicate, Redacted } from "effect"
import { HttpServer } from "effect/http"
import OpenAI from "openai"
import * as Gateway from "../src/Gateway.ts"

const disabledBuiltins = {
  fetch: { enabled: false, allowPrivateNetwork: false },
  webSearch: { enabled: false, provider: "duckduckgo" as const }
}

const startGateway = (
  upstreamBaseUrl: string,
  apiKeys?: ReadonlyArray<string>,
  publicUrl?: string | undefined
) =>
  Effect.gen(function* () {
    const home = mkdtempSync(join(tmpdir(), "mcpgate-gateway-"))
    const config = Configs.gateway([Configs.everything()], {
      builtins: disabledBuiltins,
      server: {
        host: "127.0.0.1",
        port: 0,
        upstream: { baseUrl: upstreamBaseUrl },
        ...(apiKeys === undefined ? {} : { apiKeys: apiKeys.map((key) => Redacted.make(key)) }),
        ...(publicUrl === undefined ? {} : { publicUrl })
      }
    })
    const context = yield* Layer.build(
      Gateway.layer({ config, host: "127.0.0.1" }).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 })),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(CredentialStore.layerMemory),
        Layer.provide(ConfigFile.layerWith({ path: join(home, "mcpgate.json"), env: { MCPGATE_HOME: home } }))
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "InetAddressV4") return yield* Effect.die("expected an IPv4 address")
    const url = `http://127.0.0.1:${address.port}`
    // Wait for server-everything to connect (the gateway itself answers at once).
    yield* Effect.promise(async () => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const health = (await (await fetch(`${url}/health`)).json()) as {
          mcp: { serversConnected: number }
        }
        if (health.mcp.serversConnected === 1) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error("server-everything did not connect")
    })
    return url
  })

describe("Gateway", () => {
  it.live(
    "runs a chat turn that calls a real MCP tool, and serves /v1/mcp/*",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([
          {
            toolCalls: [{ id: "call_1", name: "everything__echo", arguments: '{"message":"from the model"}' }]
          },
          { content: "The tool said hello." }
        ])
        const url = yield* startGateway(upstream.baseUrl)

        const tools = (yield* Effect.promise(() => fetch(`${url}/v1/mcp/tools`).then((r) => r.json()))) as {
          tools: ReadonlyArray<{ name: string; server: string }>
        }
        assert.isTrue(
          tools.tools.some((tool) => tool.name === "everything__echo" && tool.server === "everything")
        )

        const executed = (yield* Effect.promise(() =>
          fetch(`${url}/v1/mcp/execute`, {
            method: "POST",
            body: JSON.stringify({ tool_name: "everything__echo", arguments: { message: "direct" } })
          }).then((r) => r.json())
        )) as { tool_name: string; content: string; is_error: boolean }
        assert.deepStrictEqual(executed, {
          tool_name: "everything__echo",
          content: "Echo: direct",
          is_error: false
        })

        const unknown = yield* Effect.promise(() =>
          fetch(`${url}/v1/mcp/execute`, {
            method: "POST",
            body: JSON.stringify({ tool_name: "nope__nope" })
          })
        )
        assert.strictEqual(unknown.status, 404)

        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "scripted",
            messages: [{ role: "user", content: "echo something" }],
            stream: false,
            ...{ execute_mcp_tools: true }
          })
        )
        assert.strictEqual(completion.choices[0]?.message.content, "The tool said hello.")

        // Round 2 carried the real tool's answer back to the model.
        const secondRound = upstream.chatBodies()[1] as {
          messages: ReadonlyArray<{ role: string; content: unknown }>
        }
        const toolMessage = secondRound.messages.find((message) => message.role === "tool")
        assert.strictEqual(toolMessage?.content, "Echo: from the model")
        // The model was offered the MCP tools, and never saw the gateway's flag.
        const firstRound = upstream.chatBodies()[0] as {
          tools: ReadonlyArray<{ function: { name: string } }>
        }
        assert.isTrue(firstRound.tools.some((tool) => tool.function.name === "everything__echo"))
        assert.notProperty(firstRound, "execute_mcp_tools")

        // The same tools on the aggregated MCP endpoint.
        const mcp = new Client({ name: "gateway-test", version: "1.0.0" })
        yield* Effect.acquireRelease(
          Effect.promise(() => mcp.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))),
          () => Effect.promise(() => mcp.close())
        )
        const listed = yield* Effect.promise(() => mcp.listTools())
        assert.isTrue(listed.tools.some((tool) => tool.name === "everything__echo"))
        const called = yield* Effect.promise(() =>
          mcp.callTool({ name: "everything__echo", arguments: { message: "over mcp" } })
        )
        assert.deepStrictEqual(called.content, [{ type: "text", text: "Echo: over mcp" }])
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "/v1/mcp/* answer bad bodies with 4xx JSON and need the API key when keys are set",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([{ content: "unused" }])
        const url = yield* startGateway(upstream.baseUrl, ["key-123"])
        const post = (body: string, headers: Record<string, string> = {}) =>
          Effect.promise(async () => {
            const response = await fetch(`${url}/v1/mcp/execute`, {
              method: "POST",
              body,
              headers: { authorization: "Bearer key-123", ...headers }
            })
            return { status: response.status, body: (await response.json()) as { error?: { code?: string } } }
          })
        assert.strictEqual((yield* post("{not json")).status, 400)
        assert.strictEqual((yield* post(JSON.stringify({ arguments: {} }))).status, 400)
        assert.strictEqual((yield* post(JSON.stringify({ tool_name: 1 }))).status, 400)
        const huge = yield* post(
          JSON.stringify({ tool_name: "x", arguments: { pad: "x".repeat(2 * 1024 * 1024) } })
        )
        assert.strictEqual(huge.status, 413)
        const withoutKey = yield* post(JSON.stringify({ tool_name: "everything__echo" }), {
          authorization: ""
        })
        assert.strictEqual(withoutKey.status, 401)
        for (const path of ["/v1/mcp/tools", "/v1/mcp/servers", "/v1/models", "/v1/models/x", "/v1/files"]) {
          const response = yield* Effect.promise(() => fetch(`${url}${path}`))
          assert.strictEqual(response.status, 401, path)
        }
        // Still serving.
        const ok = yield* post(
          JSON.stringify({ tool_name: "everything__echo", arguments: { message: "still here" } })
        )
        assert.strictEqual(ok.status, 200)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "behind a reverse proxy (a non-loopback publicUrl) it needs API keys: without them it does not start, with them a keyless request is 401 even with Host: 127.0.0.1",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([{ content: "unused" }])
        const refused = yield* Effect.flip(
          startGateway(upstream.baseUrl, undefined, "https://gateway.example.com")
        )
        assert.isTrue(Predicate.isTagged(refused, "InsecureBind"), String(refused))
        assert.include(String(refused), "server.publicUrl")

        const url = yield* startGateway(upstream.baseUrl, ["key-123"], "https://gateway.example.com")
        const port = Number(new URL(url).port)
        // What a proxy on the same machine forwards: a local Host, no key.
        const proxied = (method: string, path: string, body?: string) =>
          Effect.promise(
            () =>
              new Promise<number>((resolve, reject) => {
                const req = request(
                  {
                    host: "127.0.0.1",
                    port,
                    method,
                    path,
                    headers: {
                      host: "127.0.0.1",
                      "content-type": "application/json",
                      accept: "application/json, text/event-stream"
                    }
                  },
                  (response) => {
                    response.resume()
                    resolve(response.statusCode ?? 0)
                  }
                )
                req.once("error", reject)
                req.end(body)
              })
          )
        assert.strictEqual(yield* proxied("GET", "/v1/mcp/tools"), 401)
        assert.strictEqual(
          yield* proxied("POST", "/v1/mcp/execute", JSON.stringify({ tool_name: "everything__echo" })),
          401
        )
        assert.strictEqual(
          yield* proxied(
            "POST",
            "/mcp",
            JSON.stringify({
              jsonrpc: "2.0",
              id: 1,
              method: "initialize",
              params: {
                protocolVersion: "2025-11-25",
                capabilities: {},
                clientInfo: { name: "x", version: "1" }
              }
            })
          ),
          401
        )
      }).pipe(Effect.scoped),
    30_000
  )
})
