/**
 * The HTTP side of the aggregated `/mcp` endpoint: Origin checks, JSON-RPC error
 * answers, and the bridge between effect/http and the SDK's web-standard
 * streamable-HTTP transport (a Web `Request` in, a Web `Response` out).
 *
 * The web-standard transport is used rather than the Node one so that effect/http
 * writes every response itself: middleware (API keys, logging) sees a real status,
 * nothing writes headers twice, and HTTP/2 works the same.
 */

import { isLoopbackHost } from "@mcpgate/core/Address"
import { Effect, Option, Stream } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"

/** JSON-RPC error codes the SDK's transport uses, so clients see the same answers. */
export const jsonRpcCodes = {
  parseError: -32700,
  serverError: -32000,
  sessionNotFound: -32001
} as const

/** `{jsonrpc, error, id: null}` with an HTTP status, as the SDK's transport answers transport-level failures. */
export const jsonRpcError = (
  status: number,
  code: number,
  message: string,
  headers?: Readonly<Record<string, string>>
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    { jsonrpc: "2.0", error: { code, message }, id: null },
    { status, ...(headers === undefined ? {} : { headers }) }
  )

/**
 * Whether a request's `Origin` may use the endpoint (MCP 2025-11-25, "Transports ›
 * Security Warning": validate Origin against DNS rebinding). No Origin (a non-browser
 * client) passes; a browser page passes only from a loopback origin or an allowed one.
 */
export const originAllowed = (origin: string | undefined, allowed: ReadonlySet<string>): boolean => {
  if (origin === undefined) return true
  if (allowed.has(origin)) return true
  if (!URL.canParse(origin)) return false
  const url = new URL(origin)
  if (url.protocol !== "http:" && url.protocol !== "https:") return false
  return allowed.has(url.origin) || isLoopbackHost(url.hostname)
}

/** The origins of the given URLs (ignoring those that do not parse). */
export const originsOf = (urls: ReadonlyArray<string>): ReadonlySet<string> =>
  new Set(urls.filter((url) => URL.canParse(url)).map((url) => new URL(url).origin))

/**
 * A body-less Web `Request` with the request's method, URL and headers. The body
 * goes to the SDK already parsed (`parsedBody`), read here with a size limit.
 */
export const toWebRequest = (request: HttpServerRequest.HttpServerRequest): Request => {
  const url = Option.getOrElse(HttpServerRequest.toURL(request), () => new URL("http://127.0.0.1/mcp"))
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) headers.set(name, value)
  return new globalThis.Request(url, { method: request.method, headers })
}

/**
 * Turns the SDK's Web `Response` into an effect/http response. The returned finalizer,
 * added to the request's scope by the caller, cancels a body nobody read (the client
 * left before it was written), so the SDK releases the stream it keeps for the session.
 * `ended` says whether the body was read to its end (a response without one has).
 */
export const fromWebResponse = (
  response: Response
): {
  readonly response: HttpServerResponse.HttpServerResponse
  readonly release: Effect.Effect<void>
  readonly ended: () => boolean
} => {
  const body = response.body
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    if (name !== "content-type" && name !== "content-length") headers[name] = value
  })
  if (body === null) {
    return {
      response: HttpServerResponse.empty({ status: response.status, headers }),
      release: Effect.void,
      ended: () => true
    }
  }
  const contentType = response.headers.get("content-type") ?? undefined
  let ended = false
  const stream = Stream.fromReadableStream({ evaluate: () => body, onError: (error) => error }).pipe(
    Stream.onEnd(Effect.sync(() => (ended = true)))
  )
  return {
    response: HttpServerResponse.stream(stream, {
      status: response.status,
      headers,
      ...(contentType === undefined ? {} : { contentType })
    }),
    release: Effect.promise(() => (body.locked ? Promise.resolve() : body.cancel().catch(() => undefined))),
    ended: () => ended
  }
}
