/**
 * The admin API and the security layer served for real on 127.0.0.1: a
 * config file in a temporary `MCPGATE_HOME`, `ConfigFile` over it, a live
 * `McpClientManager` (with an OAuth-aware `AuthorizedFetch`), an `OAuthManager`
 * over a memory credential store, `Security`, the admin routes, the plain JSON
 * tool routes (`/v1/mcp/*`, behind their own API-key middleware), the real
 * OpenAI routes (`/v1/models`, forwarded to a scripted upstream) and a
 * stand-in `/mcp`, both behind `Security.apiKeyMiddleware`.
 *
 * Every response body the helpers read is kept in `bodies`, so a suite can
 * prove that no token ever appeared in one.
 */
import * as fs from "node:fs/promises"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { AuditLog } from "@mcpgate/core/AuditLog"
import { ConfigFile, type Env } from "@mcpgate/core/ConfigFile"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Browser } from "@mcpgate/oauth/Browser"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import { responseBodies } from "@mcpgate/testing/KeptTexts"
import * as Loopback from "@mcpgate/testing/Loopback"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { McpClientManager, type McpClientManagerShape } from "@mcpgate/transport/McpClientManager"
import { Clock, Context, Effect, Layer, Redacted, type Scope } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as AdminApi from "../../src/admin/AdminApi.ts"
import * as McpJsonApi from "../../src/mcp/McpJsonApi.ts"
import { ModelTools } from "../../src/openai/ModelTools.ts"
import * as OpenAiApi from "../../src/openai/OpenAiApi.ts"
import { ToolLoop } from "../../src/openai/ToolLoop.ts"
import { Upstream } from "../../src/openai/Upstream.ts"
import * as Security from "../../src/security/Security.ts"
import * as AdminOAuthFetch from "./AdminOAuthFetch.ts"

/** A fresh directory under the OS temp dir, removed when the scope closes. */
export const tempHome: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-admin-"))),
  (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
)

/** A port that was free a moment ago (the gateway's origin must be known before it binds). */
export const freePort = Loopback.freePort

export interface AdminGatewayOptions {
  /** The config file's text (written to `<home>/mcpgate.json`). */
  readonly configText: string
  /** Reuse this `MCPGATE_HOME` (a second start of the "same" installation). */
  readonly home?: string
  /** More environment for `ConfigFile` and the admin token. */
  readonly env?: Env
  readonly heartbeatMs?: number
  /** Put the file somewhere else than `<home>/mcpgate.json`. */
  readonly configPath?: string
  /**
   * The address `Security` is told the gateway listens on (default 127.0.0.1).
   * Tests only ever bind 127.0.0.1; this lets one see how a wildcard bind behaves.
   */
  readonly securityHost?: string
  /** The clock of everything the gateway runs (to move its time forward). */
  readonly clock?: Clock.Clock
  /** Failed admin sign-ins allowed per minute and address (default: the gateway's own 10). */
  readonly signInFailures?: number
}

/**
 * The live clock moved forward by `offset.ms` (mutable): what the gateway
 * thinks the time is, while sleeps stay real.
 */
export const shiftedClock = (base: Clock.Clock, offset: { ms: number }): Clock.Clock => ({
  currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + offset.ms,
  currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + offset.ms),
  currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + BigInt(offset.ms) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => base.currentTimeNanosUnsafe() + BigInt(offset.ms) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: base.monotonicTimeNanos,
  sleep: (duration) => base.sleep(duration)
})

export interface Response {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The parsed body, or undefined when it is not JSON. */
  readonly json: unknown
}

export interface RequestOptions {
  readonly method?: string
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string
  readonly headers?: Record<string, string>
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown
}

export interface AdminGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly home: string
  readonly configPath: string
  readonly adminToken: string
  readonly security: Security.SecurityShape
  readonly manager: McpClientManagerShape
  /** Every response body read through `request`, for the leak checks. */
  readonly bodies: Array<string>
  /** Event streams the admin API opened and closed so far. */
  readonly eventStreams: { opened: number; closed: number }
  readonly request: (pathname: string, options?: RequestOptions) => Effect.Effect<Response>
}

/** Every response body of every gateway of this process (kept for the suite-wide token scan too). */
export const allBodies: Array<string> = responseBodies

export const start = (options: AdminGatewayOptions): Effect.Effect<AdminGateway, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const home = options.home ?? (yield* tempHome)
    const configPath = options.configPath ?? path.join(home, "mcpgate.json")
    yield* Effect.promise(() => fs.writeFile(configPath, options.configText, { mode: 0o600 }))
    const port = yield* freePort
    const env: Env = { MCPGATE_HOME: home, ...options.env }
    const configLayer = ConfigFile.layerWith({ path: configPath, env, cwd: home })
    const configFile = Context.get(yield* Layer.build(configLayer), ConfigFile)
    const { config } = yield* configFile.load

    const oauth = OAuthManager.layer().pipe(
      Layer.provideMerge(Layer.mergeAll(CredentialStore.layerMemory, Browser.layerFollowRedirects))
    )
    const manager = McpClientManager.layer(config, {
      backoff: { initialMs: 50, maxMs: 400 },
      closeTimeoutMs: 2000,
      healthCheckIntervalMs: 0
    }).pipe(Layer.provide(AdminOAuthFetch.layer))
    const upstream = yield* ScriptedUpstream.make(() => ({ content: "ok" }))
    const openAi = ToolLoop.layer({ maxToolCalls: 3 }).pipe(
      Layer.provideMerge(Upstream.layer({ baseUrl: upstream.baseUrl })),
      Layer.provide(ModelTools.layerEmpty),
      Layer.provide(NodeHttpClient.layerUndici)
    )
    const services = Layer.mergeAll(
      manager,
      openAi,
      Security.Security.layer({
        config,
        host: options.securityHost ?? "127.0.0.1",
        port,
        env,
        signInLimit: { failures: options.signInFailures }
      })
    ).pipe(
      Layer.provideMerge(oauth),
      Layer.provideMerge(configLayer),
      // In the state directory, as `mcpgate serve` keeps it without a shared store.
      Layer.provideMerge(AuditLog.layerFile({ directory: home }))
    )

    // A stand-in for the aggregated MCP endpoint: only the middleware in front of it is under test.
    const mcpStandIn = Layer.mergeAll(
      HttpRouter.add("POST", "/mcp", HttpServerResponse.jsonUnsafe({ jsonrpc: "2.0", id: 1, result: {} })),
      HttpRouter.add("GET", "/mcp", HttpServerResponse.jsonUnsafe({ ok: true })),
      HttpRouter.add("DELETE", "/mcp", HttpServerResponse.jsonUnsafe({ ok: true }))
    )
    const eventStreams = { opened: 0, closed: 0 }
    const routes = Layer.mergeAll(
      AdminApi.routesWith({
        heartbeatMs: options.heartbeatMs ?? 15_000,
        onEventStream: (change) => {
          eventStreams[change] += 1
        }
      }),
      McpJsonApi.routes,
      Layer.mergeAll(OpenAiApi.routes, mcpStandIn).pipe(Layer.provide(Security.apiKeyMiddleware.layer))
    )
    const served = HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(services),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
    )
    const clock = options.clock
    const app = clock === undefined ? served : served.pipe(Layer.provide(Layer.succeed(Clock.Clock, clock)))
    const context = yield* Layer.build(app)
    const security = Context.get(context, Security.Security)
    const url = `http://127.0.0.1:${port}`
    const bodies: Array<string> = []

    const request = (pathname: string, requestOptions: RequestOptions = {}) =>
      Effect.promise(async (): Promise<Response> => {
        const headers: Record<string, string> = { ...requestOptions.headers }
        if (requestOptions.token !== undefined) headers.authorization = `Bearer ${requestOptions.token}`
        let body: string | undefined
        if (typeof requestOptions.body === "string") body = requestOptions.body
        else if (requestOptions.body !== undefined) {
          body = JSON.stringify(requestOptions.body)
          headers["content-type"] ??= "application/json"
        }
        const response = await fetch(`${url}${pathname}`, {
          method: requestOptions.method ?? "GET",
          headers,
          redirect: "manual",
          ...(body === undefined ? {} : { body })
        })
        const text = await response.text()
        bodies.push(text)
        allBodies.push(text)
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        return { status: response.status, headers: response.headers, text, json }
      })

    return {
      url,
      home,
      configPath,
      adminToken: Redacted.value(security.adminToken.value),
      security,
      manager: Context.get(context, McpClientManager),
      bodies,
      eventStreams,
      request
    }
  })
