/**
 * The gateway's security layer (SPEC §5), as one service and a few reusable
 * helpers for the route groups:
 *
 * - Admin routes need the admin token (`Authorization: Bearer <token>`), or the
 *   session cookie `mcpgate_admin` that `POST /admin/api/session` hands to the
 *   web UI. An API key never opens them. A present `Origin` must be the
 *   gateway's own; a cookie-authenticated write also needs `X-Mcpgate-Csrf: 1`
 *   or a same-origin `Origin` (defense in depth next to SameSite=Strict).
 * - `/v1/*` and `/mcp` need an API key when `server.apiKeys` is set
 *   (`apiKeyMiddleware`). Without keys they are open, which `checkBind` allows
 *   only on a loopback address with a loopback (or no) `publicUrl`; there a
 *   foreign `Host` (DNS rebinding) or `Origin` (a web page driving the local
 *   gateway) is refused.
 * - Tokens are compared in constant time (SHA-256 digests, `timingSafeEqual`).
 * - Bodies are read with a size limit (413) and JSON is parsed strictly (400).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { isIP } from "node:net"
import type { ConfigEditor as ConfigEditorMode, McpgateConfig } from "@mcpgate/core/Config"
import type { Env } from "@mcpgate/core/ConfigFile"
import { ByteSize, Clock, Context, Effect, Layer, Option, Redacted, Ref, Schema } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  type HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import * as Json from "../http/Json.ts"
import * as AdminToken from "./AdminToken.ts"
import * as ConfigEditor from "./ConfigEditorMode.ts"
import * as SignInLimiter from "./SignInLimiter.ts"

// ---------------------------------------------------------------------------
// Errors

/** Listening on a non-loopback address without API keys would open `/v1/*` and `/mcp` to the network. */
export class InsecureBind extends Schema.TaggedError<InsecureBind>()("InsecureBind", {
  host: Schema.String,
  message: Schema.String
}) {}

/** A configuration the security layer refuses (an API key that is also the admin token, …). */
export class SecurityConfigError extends Schema.TaggedError<SecurityConfigError>()("SecurityConfigError", {
  /** The JSON path of the offending setting, e.g. `server.apiKeys`. */
  path: Schema.String,
  message: Schema.String
}) {}

/** A request refused before it reaches its handler; `toResponse` turns it into the JSON error. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", {
  status: Schema.Number,
  type: Schema.String,
  code: Schema.String,
  message: Schema.String,
  /** Sent as `WWW-Authenticate` (RFC 6750 §3) on 401s. */
  challenge: Schema.optionalKey(Schema.String),
  /** Seconds, sent as `Retry-After` (RFC 9110 §10.2.3) on 429s. */
  retryAfter: Schema.optionalKey(Schema.Number)
}) {}

// ---------------------------------------------------------------------------
// Addresses and origins

const unbracket = (host: string): string =>
  host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host

/** `localhost`, 127.0.0.0/8, `::1` (also bracketed) and IPv4-mapped loopback. */
export const isLoopbackHost = (host: string): boolean => {
  const name = unbracket(host.trim().toLowerCase()).replace(/\.$/, "")
  if (name === "localhost" || name.endsWith(".localhost")) return true
  if (name === "::1" || name === "0:0:0:0:0:0:0:1") return true
  const v4 = name.startsWith("::ffff:") ? name.slice("::ffff:".length) : name
  return isIP(v4) === 4 && v4.startsWith("127.")
}

/** `0.0.0.0` and `::`: every interface, so a browser cannot use it as an origin. */
const isWildcardHost = (host: string): boolean => {
  const name = unbracket(host.trim())
  return name === "0.0.0.0" || name === "::" || name === ""
}

/** A host as it appears in a URL (IPv6 in brackets). */
const urlHost = (host: string): string => {
  const name = unbracket(host)
  return isIP(name) === 6 ? `[${name}]` : name
}

/** The configured keys, without empty strings (which would match an empty bearer). */
export const apiKeysOf = (config: McpgateConfig): ReadonlyArray<string> =>
  (config.server.apiKeys ?? []).filter((key) => key.trim() !== "")

/** `server.publicUrl`'s host when it is not a loopback name: the gateway is reached from elsewhere. */
const exposedPublicHost = (config: McpgateConfig): string | undefined => {
  const publicUrl = config.server.publicUrl
  if (publicUrl === undefined) return undefined
  const parsed = URL.parse(publicUrl)
  if (parsed === null) return publicUrl
  return isLoopbackHost(parsed.hostname) ? undefined : parsed.host
}

const setKeysHint = `Set "server.apiKeys" (e.g. "apiKeys": ["\${env:MCPGATE_API_KEY}"]) in the config`

/**
 * Refuses to run without API keys where the network can reach the gateway:
 * listening on a non-loopback address, or a non-loopback `server.publicUrl`, which
 * means a reverse proxy in front, where every request arrives from 127.0.0.1 with
 * whatever `Host` the proxy sends. `/v1/*` (with the fetch tool, an SSRF relay) and
 * `/mcp` would be open. The CLI calls it before binding; `layer` checks it too.
 */
export const checkBind = (
  config: McpgateConfig,
  host: string = config.server.host
): Effect.Effect<void, InsecureBind> => {
  if (apiKeysOf(config).length > 0) return Effect.void
  if (!isLoopbackHost(host)) {
    return Effect.fail(
      new InsecureBind({
        host,
        message: `refusing to listen on ${host}: it is not a loopback address and "server.apiKeys" is not set, so /v1/* and /mcp would be open to anyone who can reach this port. ${setKeysHint}, or listen on 127.0.0.1 (--host 127.0.0.1)`
      })
    )
  }
  const exposed = exposedPublicHost(config)
  if (exposed !== undefined) {
    return Effect.fail(
      new InsecureBind({
        host,
        message: `refusing to start: "server.publicUrl" says the gateway is reached at ${exposed}, and "server.apiKeys" is not set. Behind a reverse proxy every request looks local, so /v1/* and /mcp would be open to anyone who can reach ${exposed}. ${setKeysHint}, or remove "server.publicUrl"`
      })
    )
  }
  return Effect.void
}

export interface Addresses {
  /** The gateway's own origin: `server.publicUrl`'s, else `http://<host>:<port>`. */
  readonly origin: string
  /** Where the gateway is reached (no trailing slash); absent when it listens everywhere and `publicUrl` is unset. */
  readonly publicUrl: string | undefined
  /** Every `Origin` a browser page of this gateway may send. */
  readonly allowedOrigins: ReadonlySet<string>
  /** Host names a request may carry in `Host` when the API is open (DNS-rebinding guard). */
  readonly allowedHostnames: ReadonlySet<string>
  /** Whether cookies get `Secure` (an https `publicUrl`). */
  readonly secure: boolean
}

/** The origins of the gateway, from the configuration only (never from a request's `Host`). */
export const addresses = (config: McpgateConfig, host: string, port: number): Addresses => {
  const bound = `http://${urlHost(host)}:${port}`
  const configured = config.server.publicUrl === undefined ? undefined : URL.parse(config.server.publicUrl)
  const origin = configured?.origin ?? bound
  const publicUrl =
    configured === undefined || configured === null
      ? isWildcardHost(host)
        ? undefined
        : bound
      : `${configured.origin}${configured.pathname.replace(/\/+$/, "")}`
  const allowedOrigins = new Set([origin, bound])
  const allowedHostnames = new Set([unbracket(host).toLowerCase()])
  if (isLoopbackHost(host)) {
    for (const alias of ["127.0.0.1", "localhost", "[::1]"]) allowedOrigins.add(`http://${alias}:${port}`)
  }
  if (configured !== undefined && configured !== null) allowedHostnames.add(unbracket(configured.hostname))
  return { origin, publicUrl, allowedOrigins, allowedHostnames, secure: configured?.protocol === "https:" }
}

// ---------------------------------------------------------------------------
// Secrets

type Digest = Buffer

const digest = (value: string): Digest => createHash("sha256").update(value, "utf8").digest()

/** Constant-time: both sides are hashed to 32 bytes, so neither length nor content leaks through timing. */
const matches = (candidate: Digest, secret: Digest): boolean => timingSafeEqual(candidate, secret)

/** Compares against every key, without stopping at the first match. */
const matchesAny = (candidate: Digest, secrets: ReadonlyArray<Digest>): boolean => {
  let found = false
  for (const secret of secrets) found = matches(candidate, secret) || found
  return found
}

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1); `null` for another scheme. */
export const bearerToken = (request: HttpServerRequest.HttpServerRequest): string | null | undefined => {
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const match = /^Bearer +([^\s]+) *$/i.exec(header)
  return match?.[1] ?? null
}

/**
 * A configuration where an API key is also the admin token: whoever holds
 * the key (every client of `/v1`) could then administer the gateway.
 */
export const tokenClash = (
  config: McpgateConfig,
  adminToken: Redacted.Redacted<string> | undefined
): SecurityConfigError | undefined => {
  const keys = new Set(apiKeysOf(config))
  const configured = config.server.adminToken?.trim()
  if (configured !== undefined && configured !== "" && keys.has(configured)) {
    return new SecurityConfigError({
      path: "server.apiKeys",
      message:
        '"server.adminToken" is also listed in "server.apiKeys": an API key must never open the admin API; give the admin token its own value'
    })
  }
  if (adminToken !== undefined && keys.has(Redacted.value(adminToken))) {
    return new SecurityConfigError({
      path: "server.apiKeys",
      message:
        'one of "server.apiKeys" is the admin token (MCPGATE_ADMIN_TOKEN or the generated one): an API key must never open the admin API; use another key'
    })
  }
  return undefined
}

// ---------------------------------------------------------------------------
// Responses

/** The JSON error of a refusal, with `WWW-Authenticate` on 401s and `Retry-After` on 429s. */
export const toResponse = (refused: Refused): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    { error: { message: refused.message, type: refused.type, code: refused.code } },
    {
      status: refused.status,
      headers: {
        ...(refused.challenge === undefined ? {} : { "www-authenticate": refused.challenge }),
        ...(refused.retryAfter === undefined ? {} : { "retry-after": String(refused.retryAfter) })
      }
    }
  )

/** Headers every admin response carries: no sniffing, no referrer, no caching, no framing. */
export const adminHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-frame-options": "DENY"
} as const

export const withAdminHeaders = (
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => HttpServerResponse.setHeaders(response, adminHeaders)

// ---------------------------------------------------------------------------
// Bodies

/** Admin JSON bodies and the config editor's PUT stay below this. */
export const adminBodyLimit = 1024 * 1024

const tooLarge = (limit: number) =>
  new Refused({
    status: 413,
    type: "invalid_request_error",
    code: "body_too_large",
    message: `the request body is larger than ${limit} bytes`
  })

/**
 * The body's bytes, at most `limit` of them: a larger `Content-Length` is
 * refused before reading, a longer stream while reading (413).
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<Uint8Array, Refused> => {
  const declared = request.headers["content-length"]
  if (declared !== undefined && Number(declared) > limit) return Effect.fail(tooLarge(limit))
  return request.arrayBuffer.pipe(
    Effect.map((buffer) => new Uint8Array(buffer)),
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)),
    Effect.mapError((error: HttpServerError.HttpServerError) =>
      error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
        ? tooLarge(limit)
        : new Refused({
            status: 400,
            type: "invalid_request_error",
            code: "unreadable_body",
            message: "the request body could not be read"
          })
    )
  )
}

const isJsonType = (contentType: string | undefined): boolean => {
  const type = contentType?.split(";")[0]?.trim().toLowerCase()
  return type === "application/json" || (type?.endsWith("+json") ?? false)
}

/**
 * The JSON body, or `undefined` when there is none. A body must be declared
 * `application/json`, which a cross-site form cannot send without a CORS
 * preflight; malformed JSON is a 400.
 */
export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number = adminBodyLimit
): Effect.Effect<unknown, Refused> =>
  Effect.flatMap(readBody(request, limit), (bytes) => {
    if (bytes.length === 0) return Effect.succeed(undefined)
    if (!isJsonType(request.headers["content-type"])) {
      return Effect.fail(
        new Refused({
          status: 415,
          type: "invalid_request_error",
          code: "unsupported_media_type",
          message: 'the request body must be JSON, sent with "Content-Type: application/json"'
        })
      )
    }
    const parsed = Json.parseBytes(bytes)
    return Option.isSome(parsed)
      ? Effect.succeed(parsed.value)
      : Effect.fail(
          new Refused({
            status: 400,
            type: "invalid_request_error",
            code: "invalid_json",
            message: "the request body is not valid JSON"
          })
        )
  })

// ---------------------------------------------------------------------------
// The service

/** The admin session cookie of the web UI (HttpOnly, SameSite=Strict, Path=/admin). */
export const sessionCookie = "mcpgate_admin"

/** The header that marks a cookie-authenticated write as coming from the UI's own script. */
export const csrfHeader = "x-mcpgate-csrf"

export interface AdminAccess {
  readonly via: "bearer" | "cookie"
}

export interface SecurityOptions {
  readonly config: McpgateConfig
  /** The address actually bound (the `--host` flag wins over the config). */
  readonly host?: string | undefined
  readonly port?: number | undefined
  /** Defaults to `process.env`. */
  readonly env?: Env | undefined
  /** Where a generated admin token is kept; defaults to the state directory of `env`. */
  readonly stateDirectory?: string | undefined
  /** How long a UI session lasts (default 12 hours). */
  readonly sessionTtlMs?: number | undefined
  /** Failed admin sign-ins allowed per client address (default 10 a minute). */
  readonly signInLimit?: SignInLimiter.SignInLimitOptions | undefined
}

export interface SecurityShape {
  /** The admin token of this process; `generated` says whether `serve` must print it (once). */
  readonly adminToken: AdminToken.AdminToken
  readonly addresses: Addresses
  /**
   * What the admin config editor may change (`server.configEditor` as it was at
   * start; a change needs a restart): "full" by default while the gateway is
   * reachable from this machine only, else "no-commands".
   */
  readonly configEditor: ConfigEditorMode
  /**
   * `/v1/*` and `/mcp`: fails with 401/403 when the request may not use the API;
   * else who is calling (see `ApiCaller`).
   */
  readonly authorizeApi: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<string | undefined, Refused>
  /** Admin routes: the admin token or a session cookie, with the Origin and CSRF rules. */
  readonly authorizeAdmin: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<AdminAccess, Refused>
  /** What `apply` would refuse, without applying it (the config editor validates with it). */
  readonly check: (config: McpgateConfig) => Effect.Effect<void, SecurityConfigError>
  /**
   * Applies a reloaded config: API keys change at once (a leaked key is revoked
   * without a restart). The admin token and the addresses need a restart.
   */
  readonly apply: (config: McpgateConfig) => Effect.Effect<void, SecurityConfigError>
  /**
   * Checks a candidate admin token and opens a UI session; the id goes into the
   * cookie. A wrong token counts against the request's address like on admin routes.
   */
  readonly openSession: (
    request: HttpServerRequest.HttpServerRequest,
    token: string
  ) => Effect.Effect<Redacted.Redacted<string>, Refused>
  /** Ends the session named by the request's cookie, if any. */
  readonly closeSession: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<void>
  /** Sets the session cookie on a response. */
  readonly setSessionCookie: (
    response: HttpServerResponse.HttpServerResponse,
    session: Redacted.Redacted<string>
  ) => HttpServerResponse.HttpServerResponse
  /** Expires the session cookie on a response. */
  readonly clearSessionCookie: (
    response: HttpServerResponse.HttpServerResponse
  ) => HttpServerResponse.HttpServerResponse
}

const maxSessions = 64

const hostnameOf = (hostHeader: string): string => {
  const value = hostHeader.trim().toLowerCase()
  if (value.startsWith("[")) return value.slice(1, Math.max(1, value.indexOf("]")))
  const colon = value.lastIndexOf(":")
  return colon === -1 ? value : value.slice(0, colon)
}

const unauthorizedAdmin = (message: string) =>
  new Refused({
    status: 401,
    type: "authentication_error",
    code: "invalid_admin_token",
    message,
    challenge: 'Bearer realm="mcpgate-admin"'
  })

const make = Effect.fnUntraced(function* (options: SecurityOptions) {
  const config = options.config
  const host = options.host ?? config.server.host
  const port = options.port ?? config.server.port
  yield* checkBind(config, host)
  const adminToken = yield* AdminToken.resolve({
    config,
    env: options.env,
    stateDirectory: options.stateDirectory
  })
  const initialClash = tokenClash(config, adminToken.value)
  if (initialClash !== undefined) return yield* initialClash
  const adminDigest = digest(Redacted.value(adminToken.value))
  const sites = addresses(config, host, port)
  const apiKeys = yield* Ref.make(apiKeysOf(config).map(digest))
  const sessionTtlMs = options.sessionTtlMs ?? 12 * 60 * 60 * 1000
  /** Session id digests → expiry (epoch ms); ids themselves are never kept. */
  const sessions = new Map<string, number>()
  const limiter = yield* SignInLimiter.make(options.signInLimit)

  const check = (next: McpgateConfig) =>
    Effect.suspend(() => {
      const clash = tokenClash(next, adminToken.value)
      if (clash !== undefined) return Effect.fail(clash)
      if (apiKeysOf(next).length > 0) return Effect.void
      if (!isLoopbackHost(host)) {
        return Effect.fail(
          new SecurityConfigError({
            path: "server.apiKeys",
            message: `the gateway listens on ${host}, which is not a loopback address: "server.apiKeys" cannot be emptied while it runs there`
          })
        )
      }
      // Saved now, it would refuse the next start: refuse it here instead.
      const exposed = exposedPublicHost(next)
      if (exposed !== undefined) {
        return Effect.fail(
          new SecurityConfigError({
            path: "server.publicUrl",
            message: `"server.publicUrl" (${exposed}) is not a loopback address, so the gateway is reached through a proxy and needs "server.apiKeys"; set them in the same save`
          })
        )
      }
      return Effect.void
    })

  const authorizeApi = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function* () {
      const keys = yield* Ref.get(apiKeys)
      if (keys.length === 0) {
        // Open only because we listen on loopback: refuse what a browser would send from elsewhere.
        const hostHeader = request.headers.host
        if (
          hostHeader !== undefined &&
          !sites.allowedHostnames.has(hostnameOf(hostHeader)) &&
          !isLoopbackHost(hostnameOf(hostHeader))
        ) {
          return yield* new Refused({
            status: 403,
            type: "permission_error",
            code: "forbidden_host",
            message: `the Host "${hostnameOf(hostHeader)}" is not this gateway's (a DNS-rebinding guard); without "server.apiKeys" the API answers only on loopback names or server.publicUrl`
          })
        }
        const origin = request.headers.origin
        if (origin !== undefined && !sites.allowedOrigins.has(origin)) {
          return yield* new Refused({
            status: 403,
            type: "permission_error",
            code: "forbidden_origin",
            message:
              'cross-origin requests are refused while the API has no keys; set "server.apiKeys" to let other web pages use it'
          })
        }
        return undefined
      }
      const token = bearerToken(request)
      const candidate = typeof token === "string" ? digest(token) : undefined
      if (candidate === undefined || !matchesAny(candidate, keys)) {
        return yield* new Refused({
          status: 401,
          type: "authentication_error",
          code: "invalid_api_key",
          message:
            token === undefined
              ? 'an API key is required: send "Authorization: Bearer <key>" with one of server.apiKeys'
              : "the API key is not valid",
          challenge:
            token === undefined ? 'Bearer realm="mcpgate"' : 'Bearer realm="mcpgate", error="invalid_token"'
        })
      }
      return `key:${candidate.toString("hex")}`
    })

  const sessionValid = (id: string) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const key = digest(id).toString("hex")
      const expiresAt = sessions.get(key)
      if (expiresAt === undefined) return false
      if (expiresAt <= now) {
        sessions.delete(key)
        return false
      }
      return true
    })

  /**
   * A candidate admin token, rate limited per client address: while the address
   * is blocked even the right token is refused, or the guessing would go on.
   */
  const checkToken = (request: HttpServerRequest.HttpServerRequest, token: string | null) =>
    Effect.gen(function* () {
      const address = Option.getOrElse(request.remoteAddress, () => "unknown")
      const wait = yield* limiter.retryAfter(address)
      if (wait > 0) {
        return yield* new Refused({
          status: 429,
          type: "rate_limit_error",
          code: "too_many_failed_sign_ins",
          message: `too many failed admin sign-ins from this address; try again in ${wait} s`,
          retryAfter: wait
        })
      }
      if (token === null || !matches(digest(token), adminDigest)) {
        yield* limiter.recordFailure(address)
        yield* Effect.logWarning(`failed admin sign-in from ${address}`)
        return yield* unauthorizedAdmin("the admin token is not valid")
      }
    })

  const authorizeAdmin = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function* () {
      const write = !["GET", "HEAD", "OPTIONS"].includes(request.method.toUpperCase())
      const origin = request.headers.origin
      // A page of another origin has no business here, reading or writing.
      if (
        (origin !== undefined && !sites.allowedOrigins.has(origin)) ||
        request.headers["sec-fetch-site"] === "cross-site"
      ) {
        return yield* new Refused({
          status: 403,
          type: "permission_error",
          code: "cross_origin",
          message: `cross-origin request refused: the admin API answers only pages of ${sites.origin} (set "server.publicUrl" when the gateway is reached at another address)`
        })
      }
      const token = bearerToken(request)
      if (token !== undefined) {
        // An explicit credential decides alone: a wrong token never falls back to the cookie.
        yield* checkToken(request, token)
        return { via: "bearer" } satisfies AdminAccess
      }
      const session = request.cookies[sessionCookie]
      if (session !== undefined && session !== "") {
        if (!(yield* sessionValid(session))) {
          return yield* unauthorizedAdmin(
            "the admin session has expired or was closed; sign in again with the admin token"
          )
        }
        if (write && origin === undefined && request.headers[csrfHeader] !== "1") {
          return yield* new Refused({
            status: 403,
            type: "permission_error",
            code: "csrf_check_failed",
            message: `a write authenticated by the session cookie needs the "X-Mcpgate-Csrf: 1" header or a same-origin Origin`
          })
        }
        return { via: "cookie" } satisfies AdminAccess
      }
      return yield* unauthorizedAdmin(
        'this route needs the admin token: send "Authorization: Bearer <token>" (set with server.adminToken or MCPGATE_ADMIN_TOKEN, or the one printed on the first start and kept in the state directory as admin-token)'
      )
    })

  const openSession = (request: HttpServerRequest.HttpServerRequest, token: string) =>
    Effect.gen(function* () {
      yield* checkToken(request, token)
      const now = yield* Clock.currentTimeMillis
      for (const [key, expiresAt] of sessions) if (expiresAt <= now) sessions.delete(key)
      // Oldest first (insertion order): a flood of logins cannot grow memory without bound.
      while (sessions.size >= maxSessions) {
        const oldest = sessions.keys().next()
        if (oldest.done === true) break
        sessions.delete(oldest.value)
      }
      const id = randomBytes(32).toString("base64url")
      sessions.set(digest(id).toString("hex"), now + sessionTtlMs)
      return Redacted.make(id)
    })

  const closeSession = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.sync(() => {
      const session = request.cookies[sessionCookie]
      if (session !== undefined) sessions.delete(digest(session).toString("hex"))
    })

  const cookieOptions = {
    httpOnly: true,
    sameSite: "strict",
    path: "/admin",
    ...(sites.secure ? { secure: true } : {})
  } as const

  return Security.of({
    adminToken,
    addresses: sites,
    configEditor: ConfigEditor.modeOf(
      config,
      isLoopbackHost(host) && exposedPublicHost(config) === undefined
    ),
    authorizeApi,
    authorizeAdmin,
    check,
    apply: (next) => Effect.andThen(check(next), Ref.set(apiKeys, apiKeysOf(next).map(digest))),
    openSession,
    closeSession,
    setSessionCookie: (response, session) =>
      HttpServerResponse.setCookieUnsafe(response, sessionCookie, Redacted.value(session), {
        ...cookieOptions,
        maxAge: `${sessionTtlMs} millis`
      }),
    clearSessionCookie: (response) =>
      HttpServerResponse.expireCookieUnsafe(response, sessionCookie, cookieOptions)
  })
})

export class Security extends Context.Service<Security, SecurityShape>()("@mcpgate/server/Security") {
  /**
   * Resolves the admin token (generating it on the first start), checks the
   * bind address and the keys. Fails rather than start an insecure gateway.
   */
  static readonly layer = (
    options: SecurityOptions
  ): Layer.Layer<Security, InsecureBind | SecurityConfigError | AdminToken.AdminTokenError> =>
    Layer.effect(Security, make(options))
}

/**
 * Who made an API request, as `apiKeyMiddleware` established it: `key:` and the
 * SHA-256 of the API key (never the key), or `undefined` while the API has no
 * keys. `/mcp` ties each session to it.
 */
export const ApiCaller = Context.Reference<string | undefined>("@mcpgate/server/Security/ApiCaller", {
  defaultValue: () => undefined
})

/**
 * Route middleware for `/v1/*` and `/mcp`: provide it to those routes, e.g.
 * `OpenAiApi.routes.pipe(Layer.provide(Security.apiKeyMiddleware.layer))`.
 */
export const apiKeyMiddleware = HttpRouter.middleware(
  Effect.gen(function* () {
    const security = yield* Security
    return (httpEffect) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        return yield* security.authorizeApi(request).pipe(
          Effect.matchEffect({
            onFailure: (refused) => Effect.succeed(toResponse(refused)),
            onSuccess: (caller) => Effect.provideService(httpEffect, ApiCaller, caller)
          })
        )
      })
  })
)
