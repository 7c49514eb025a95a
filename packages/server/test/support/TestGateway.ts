/**
 * The OpenAI-compatible routes served for real on 127.0.0.1 (port 0), with the
 * live `Upstream` (undici) and `ToolLoop`, and an official `openai` client
 * pointed at them.
 */

import { createServer } from "node:http"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { UpstreamConfig } from "@mcpgate/core/Config"
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import OpenAI from "openai"
import type { ModelTools } from "../../src/openai/ModelTools.ts"
import * as OpenAiApi from "../../src/openai/OpenAiApi.ts"
import { ResponseStore } from "../../src/openai/ResponseStore.ts"
import * as ResponsesApi from "../../src/openai/ResponsesApi.ts"
import { ToolLoop, type ToolLoopOptions } from "../../src/openai/ToolLoop.ts"
import { Upstream } from "../../src/openai/Upstream.ts"

export interface TestGatewayOptions extends Partial<ToolLoopOptions> {
  readonly upstream: UpstreamConfig | undefined
  readonly tools: Layer.Layer<ModelTools>
}

export interface TestGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** An `openai` client for the gateway (no retries), recording the bodies it sends. */
  readonly client: OpenAI
  /** The request bodies the client sent, as bytes. */
  readonly sentBodies: Array<Uint8Array>
}

export const start = (options: TestGatewayOptions): Effect.Effect<TestGateway, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const { upstream: _upstream, tools: _tools, ...loopOptions } = options
    const services = ToolLoop.layer({ ...loopOptions, maxToolCalls: options.maxToolCalls ?? 10 }).pipe(
      Layer.provideMerge(Upstream.layer(options.upstream)),
      Layer.provideMerge(options.tools),
      Layer.provideMerge(ResponseStore.layerMemory()),
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const app = HttpRouter.serve(Layer.mergeAll(OpenAiApi.routes, ResponsesApi.routes), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(
      Layer.provide(services),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    )
    const context = yield* Layer.build(app)
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
    const url = `http://127.0.0.1:${address.port}`
    const sentBodies: Array<Uint8Array> = []
    const client = new OpenAI({
      baseURL: `${url}/v1`,
      apiKey: "client-key-for-the-gateway",
      maxRetries: 0,
      fetch: async (input, init) => {
        if (init?.body !== undefined && init.body !== null) {
          sentBodies.push(new Uint8Array(await new Response(init.body).arrayBuffer()))
        }
        return fetch(input, init)
      }
    })
    return { url, client, sentBodies }
  })

/** Runs a promise-returning function, failing the test on rejection. */
export const promise = <A>(f: () => Promise<A>): Effect.Effect<A, unknown> =>
  Effect.tryPromise({ try: f, catch: (error) => error })
