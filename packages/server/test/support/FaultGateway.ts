/**
 * The composed gateway (`Gateway.layer`, as `mcpgate serve` runs it) on
 * 127.0.0.1 for the fault tests, with a file credential store in a temporary
 * `MCPGATE_HOME` that the test can log in to and tamper with, and helpers that
 * keep every response body (for the token leak checks).
 */
import * as fs from "node:fs/promises"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { McpgateConfig, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Browser } from "@mcpgate/oauth/Browser"
import { OAuthManager } from "@mcpgate/oauth/OAuthManager"
import { responseBodies } from "@mcpgate/testing/KeptTexts"
import { Clock, Context, Effect, Layer, Option, type Scope } from "effect"
import { HttpServer } from "effect/http"
import * as Gateway from "../../src/Gateway.ts"

/** A fresh directory, removed when the scope closes. */
export const tempHome: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-faults-"))),
  (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
)

export interface Reply {
  readonly status: number
  readonly text: string
  readonly json: unknown
}

export interface FaultGateway {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly home: string
  /** Every response body read through the helpers. */
  readonly bodies: Array<string>
  readonly request: (pathname: string, init?: RequestInit) => Promise<Reply>
  /** `POST /v1/mcp/execute`. */
  readonly execute: (tool: string, args?: Record<string, unknown>) => Promise<Reply>
  /** The state of one server, from `GET /v1/mcp/servers`. */
  readonly serverState: (name: string) => Promise<{ readonly state: string; readonly pid?: number }>
}

/** Every response body of every fault gateway of this process (kept for the suite-wide token scan too). */
export const allBodies: Array<string> = responseBodies

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The file store over `home`: the one the gateway reads, for logins and tampering from the test. */
export const storeLayer = (home: string) => CredentialStore.layerFile({ directory: home })

/** Logs `server` in as `mcpgate login` would, into the file store under `home`. */
export const login = (home: string, server: ServerConfig) =>
  Effect.gen(function* () {
    const manager = yield* OAuthManager
    return yield* manager.login(server)
  }).pipe(
    Effect.provide(
      OAuthManager.layer().pipe(Layer.provide(Layer.mergeAll(storeLayer(home), Browser.layerFollowRedirects)))
    )
  )

/** Makes the stored access token of `server` look expired, as if its time had passed. */
export const expireStoredToken = (home: string, server: ServerConfig) =>
  Effect.gen(function* () {
    const store = yield* CredentialStore
    const credential = Option.getOrThrow(yield* store.get({ server: server.name, url: server.url ?? "" }))
    const tokens = credential.tokens
    if (tokens === undefined) return yield* Effect.die("no tokens to expire")
    const now = yield* Clock.currentTimeMillis
    yield* store.set(
      new Credential({ ...credential, tokens: new TokenSet({ ...tokens, expiresAt: now - 1000 }) })
    )
  }).pipe(Effect.provide(storeLayer(home)))

/** The stored credential of `server`, if any. */
export const storedCredential = (home: string, server: ServerConfig) =>
  Effect.flatMap(CredentialStore, (store) => store.get({ server: server.name, url: server.url ?? "" })).pipe(
    Effect.map(Option.getOrUndefined),
    Effect.provide(storeLayer(home))
  )

export const start = (
  config: McpgateConfig,
  home: string
): Effect.Effect<FaultGateway, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Gateway.layer({ config, host: "127.0.0.1" }).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 })),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(storeLayer(home)),
        Layer.provide(
          ConfigFile.layerWith({ path: path.join(home, "mcpgate.json"), env: { MCPGATE_HOME: home } })
        )
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "InetAddressV4") return yield* Effect.die("expected an IPv4 address")
    const url = `http://127.0.0.1:${address.port}`
    const bodies: Array<string> = []
    const request = async (pathname: string, init: RequestInit = {}): Promise<Reply> => {
      const response = await fetch(`${url}${pathname}`, init)
      const text = await response.text()
      bodies.push(text)
      allBodies.push(text)
      return { status: response.status, text, json: parse(text) }
    }
    return {
      url,
      home,
      bodies,
      request,
      execute: (tool, args = {}) =>
        request("/v1/mcp/execute", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ tool_name: tool, arguments: args })
        }),
      serverState: async (name) => {
        const reply = await request("/v1/mcp/servers")
        const servers = (
          reply.json as { servers: ReadonlyArray<{ name: string; state: string; pid?: number }> }
        ).servers
        const found = servers.find((server) => server.name === name)
        if (found === undefined) throw new Error(`no server ${name} in ${reply.text}`)
        return found
      }
    }
  })

/** Polls `check` (every 25 ms, real time) until it holds; fails after `timeoutMs` saying what it waited for. */
export const eventually = <A>(
  check: () => Promise<A | undefined>,
  what: string,
  timeoutMs = 10_000
): Effect.Effect<A> =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = await check()
      if (value !== undefined) return value
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  })
