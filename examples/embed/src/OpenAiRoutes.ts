/**
 * Part 3: the gateway's OpenAI-compatible routes mounted in the host's own
 * `HttpRouter`, beside a route of the host's (`GET /hello`), on the host's own
 * HTTP server and under the host's logger (the router logs every request
 * through it). `Gateway.services` gives what the routes need: the tool loop,
 * the model upstream (a local stand-in, src/local/ScriptedModel.ts), and a
 * client manager over the configured MCP servers.
 */
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { ConfigFile } from "@mcpgate/core"
import { Gateway, OpenAiApi } from "@mcpgate/server"
import { McpClientManager } from "@mcpgate/transport"
import { Console, Effect, Layer, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import * as NetAddress from "effect/net/NetAddress"
import * as HostCredentialStore from "./HostCredentialStore.ts"
import * as ScriptedModel from "./local/ScriptedModel.ts"

const echoServer = fileURLToPath(new URL("./local/EchoServer.ts", import.meta.url))

const hostRoutes = HttpRouter.add("GET", "/hello", HttpServerResponse.text("hello from the host app"))

const ChatCompletion = Schema.Struct({
  choices: Schema.Array(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) })),
  // What the gateway ran for the model, step by step.
  mcp_tool_events: Schema.Array(Schema.Struct({ name: Schema.String, status: Schema.String }))
})

export const run = Effect.scoped(
  Effect.gen(function* () {
    const model = yield* ScriptedModel.start("echo__echo")
    const config = yield* ConfigFile.parse(
      JSON.stringify({
        mcpServers: { echo: { command: process.execPath, args: [echoServer] } },
        server: { upstream: { baseUrl: model } }
      }),
      "part 3 config"
    )

    // What the routes need (tool loop, upstream, a client manager), over the host's credential store.
    const gatewayServices = Gateway.services({ config, host: "127.0.0.1" }).pipe(
      Layer.provide(HostCredentialStore.layer)
    )
    const hostServer = HttpRouter.serve(Layer.mergeAll(hostRoutes, OpenAiApi.routes)).pipe(
      Layer.provideMerge(gatewayServices),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 })),
      Layer.provideMerge(NodeHttpClient.layerUndici)
    )

    yield* Effect.gen(function* () {
      // The gateway's MCP servers connect in the background; wait for them before the first chat.
      yield* (yield* McpClientManager.McpClientManager).awaitSettled
      const base = NetAddress.formatUrlUnsafe((yield* HttpServer.HttpServer).address, "http")
      const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)

      const hello = yield* Effect.flatMap(client.get(`${base}/hello`), (response) => response.text)
      const chat = yield* client
        .execute(
          HttpClientRequest.post(`${base}/v1/chat/completions`).pipe(
            HttpClientRequest.bodyJsonUnsafe({
              model: "scripted",
              execute_mcp_tools: true,
              messages: [{ role: "user", content: "Say hello with the echo tool" }]
            })
          )
        )
        .pipe(
          Effect.flatMap((response) => response.json),
          Effect.flatMap(Schema.decodeUnknownEffect(ChatCompletion))
        )
      yield* Console.log(
        `[3/3] OpenAI routes in the host's router: GET /hello said "${hello}"; POST /v1/chat/completions answered "${chat.choices[0]?.message.content}" (the gateway ran ${chat.mcp_tool_events.map((event) => `${event.name} ${event.status}`).join(", ")})`
      )
    }).pipe(Effect.provide(hostServer))
  })
)
