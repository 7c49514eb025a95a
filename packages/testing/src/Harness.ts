/**
 * Shared test wiring: a real authorization server in front of a real protected
 * MCP server, an `OAuthManager` over a credential store, and a logger that keeps
 * every log line so tests can prove no token was ever logged.
 */
import { createHash } from "node:crypto"
import { fileURLToPath } from "node:url"
import type { AuthConfig, ServerConfig } from "@mcpgate/core/Config"
import { CredentialStore, type CredentialStoreShape } from "@mcpgate/core/CredentialStore"
import { Browser } from "@mcpgate/oauth/Browser"
import { OAuthManager, type OAuthManagerOptions } from "@mcpgate/oauth/OAuthManager"
import { Cause, Context, Effect, Layer, Logger, Redacted, References, type Scope } from "effect"
import * as AuthServer from "./AuthServer.ts"
import * as ProtectedMcpServer from "./ProtectedMcpServer.ts"

/** Every log line of the test process (message, annotations and cause). */
export const logLines: Array<string> = []

export { allIssuedTokens } from "./AuthServer.ts"

/** A `$BROWSER` stand-in (browser.ts) that follows the authorization URL through the redirects. */
export const browserScriptPath = fileURLToPath(new URL("./browser.ts", import.meta.url))

const captureLogger = Logger.make((options) => {
  const text = [
    options.logLevel,
    ...(Array.isArray(options.message) ? options.message : [options.message]).map((part) =>
      typeof part === "string" ? part : JSON.stringify(part)
    ),
    options.cause.reasons.length === 0 ? "" : Cause.pretty(options.cause)
  ].join(" ")
  logLines.push(text)
})

/** Replaces the default logger with the capturing one, at debug level. */
export const logCapture = Layer.mergeAll(
  Logger.layer([captureLogger]),
  Layer.succeed(References.MinimumLogLevel, "Debug")
)

export interface Servers {
  readonly as: AuthServer.AuthServer
  readonly mcp: ProtectedMcpServer.ProtectedMcpServer
}

/** The authorization server and the MCP server it protects. */
export const startServers = (
  options: {
    readonly accessTokenTtl?: number
    readonly challengeScope?: string
    readonly clients?: ReadonlyArray<Record<string, unknown>>
    /** The MCP server asks for DPoP-bound tokens. */
    readonly dpop?: boolean
  } = {}
): Effect.Effect<Servers, never, Scope.Scope> =>
  Effect.gen(function* () {
    let resource = ""
    const as = yield* AuthServer.start({
      resource: () => resource,
      ...(options.accessTokenTtl === undefined ? {} : { accessTokenTtl: options.accessTokenTtl }),
      ...(options.clients === undefined ? {} : { clients: options.clients })
    })
    const mcp = yield* ProtectedMcpServer.start({
      issuer: () => as.issuer,
      ...(options.challengeScope === undefined ? {} : { challengeScope: options.challengeScope }),
      ...(options.dpop === undefined ? {} : { dpop: options.dpop })
    })
    resource = mcp.url
    return { as, mcp }
  })

export const serverConfig = (name: string, url: string, auth: Partial<AuthConfig> = {}): ServerConfig => ({
  name,
  transport: "streamable-http",
  args: [],
  env: {},
  url,
  headers: {},
  enabled: true,
  auth: {
    type: "oauth2",
    resource: "auto",
    flow: "pkce",
    signingAlgorithm: "RS256",
    allowHttp: false,
    ...auth
  }
})

/** An `OAuthManager` over a memory store that follows redirects instead of opening a browser. */
export const managerLayer = (options: OAuthManagerOptions = {}) =>
  OAuthManager.layer(options).pipe(
    Layer.provideMerge(Layer.mergeAll(CredentialStore.layerMemory, Browser.layerFollowRedirects))
  )

/**
 * Another manager over `store` (another process or installation sharing the
 * store), following redirects instead of opening a browser.
 */
export const managerOn = (store: CredentialStoreShape, options: OAuthManagerOptions = {}) =>
  Effect.gen(function* () {
    const layer = OAuthManager.layer(options).pipe(
      Layer.provide(Layer.mergeAll(Layer.succeed(CredentialStore, store), Browser.layerFollowRedirects))
    )
    // Its own memo map: no part (discovery cache, pending logins …) is shared with other managers.
    const context = yield* Layer.buildWithMemoMap(layer, yield* Layer.makeMemoMap, yield* Effect.scope)
    return Context.get(context, OAuthManager)
  })

/**
 * A hook for the test servers' `hold…` options: holds the first request until
 * `release`, lets every later one through at once.
 */
export const holdFirst = () => {
  let arrive = () => {}
  const arrived = new Promise<void>((resolve) => {
    arrive = resolve
  })
  let release = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let count = 0
  return {
    hook: (): Promise<void> => {
      count++
      if (count !== 1) return Promise.resolve()
      arrive()
      return released
    },
    /** Succeeds once the first request is held. */
    arrived: Effect.promise(() => arrived),
    release: () => release()
  }
}

/** A short hash of a token, for comparisons whose failure messages must not print the token. */
export const fingerprint = (token: Redacted.Redacted<string> | undefined): string =>
  token === undefined ? "none" : createHash("sha256").update(Redacted.value(token)).digest("hex").slice(0, 16)

/** Fails the test if any issued token string appears in any of `texts`. */
export const leakedTokens = (tokens: Iterable<string>, texts: Iterable<string>): ReadonlyArray<string> => {
  const all = [...texts]
  return [...tokens].filter((token) => token.length >= 8 && all.some((text) => text.includes(token)))
}

/** Messages of every error the tests provoked (checked for tokens like the logs). */
export const errorTexts: Array<string> = []

/** Runs `effect` expecting a failure; returns the error and keeps its message for the leak check. */
export const failureOf = <A, E extends { readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.tap((error) => Effect.sync(() => errorTexts.push(error.message))))

/**
 * Follows `authorizationUrl` with manual redirects (keeping the authorization
 * server's cookies) and returns the first redirect that starts with
 * `redirectPrefix`, without requesting it.
 */
export const redirectFor = (authorizationUrl: string, redirectPrefix: string) =>
  Effect.promise(async () => {
    const cookies = new Map<string, string>()
    let url = new URL(authorizationUrl)
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(url, {
        redirect: "manual",
        headers: cookies.size === 0 ? {} : { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") }
      })
      for (const header of response.headers.getSetCookie()) {
        const [pair] = header.split(";")
        const separator = pair?.indexOf("=") ?? -1
        if (pair !== undefined && separator > 0)
          cookies.set(pair.slice(0, separator), pair.slice(separator + 1))
      }
      await response.body?.cancel()
      const location = response.headers.get("location")
      if (location === null) throw new Error(`no redirect from ${url.href} (${response.status})`)
      const next = new URL(location, url)
      if (next.href.startsWith(redirectPrefix)) return next.href
      url = next
    }
    throw new Error("too many redirects")
  })
