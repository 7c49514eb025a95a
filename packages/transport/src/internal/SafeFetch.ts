/**
 * GET with the SSRF guard on every hop: each URL is vetted (`Ssrf.vetTarget`), the
 * socket is pinned to the vetted addresses, redirects are followed by hand, and the
 * body is read up to a byte cap (after decompression, so a small gzip bomb cannot
 * fill memory).
 *
 * `node:http` rather than `fetch`: it takes a per-request `lookup`, which is what
 * pins the connection; Node's bundled undici `Agent` is not importable here.
 */

import type { IncomingHttpHeaders, IncomingMessage } from "node:http"
import * as http from "node:http"
import * as https from "node:https"
import type { Readable, Transform } from "node:stream"
import * as zlib from "node:zlib"
import { Effect, Schema } from "effect"
import { type GuardPolicy, pinnedLookup, type ResolvedAddress, vetTarget } from "./Ssrf.ts"

/** Any reason a fetch produced no response: refused, unresolvable, network, protocol. */
export class FetchFailure extends Schema.TaggedError<FetchFailure>()("FetchFailure", {
  url: Schema.String,
  message: Schema.String
}) {}

export interface SafeFetchOptions extends GuardPolicy {
  /** Decompressed bytes read at most; the rest is dropped and `truncated` set. */
  readonly maxBytes: number
  readonly maxRedirects: number
  readonly headers: Readonly<Record<string, string>>
  /** Decides from the final status and headers whether the body is worth reading. */
  readonly wantsBody: (status: number, headers: IncomingHttpHeaders) => boolean
}

export interface SafeResponse {
  /** The URL that answered, after redirects. */
  readonly url: URL
  readonly status: number
  readonly statusText: string
  readonly headers: IncomingHttpHeaders
  /** Absent when `wantsBody` said no. */
  readonly body: Uint8Array | undefined
  /** The body went past `maxBytes` and was cut there. */
  readonly truncated: boolean
}

interface Hop {
  readonly status: number
  readonly statusText: string
  readonly headers: IncomingHttpHeaders
  readonly body: Uint8Array | undefined
  readonly truncated: boolean
}

const redirectStatuses = new Set([301, 302, 303, 307, 308])

const describeNetworkError = (url: URL, error: NodeJS.ErrnoException): string => {
  const where = url.host
  switch (error.code) {
    case "ECONNREFUSED":
      return `connection refused by ${where}`
    case "ECONNRESET":
      return `connection reset by ${where}`
    case "ETIMEDOUT":
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return `${where} is unreachable (${error.code})`
    case "ENOTFOUND":
      return `could not resolve ${url.hostname}`
    default:
      return error.code !== undefined && /CERT|TLS|SSL|SELF_SIGNED/.test(error.code)
        ? `TLS certificate problem with ${where}: ${error.message}`
        : `could not fetch ${url.href}: ${error.message}`
  }
}

const decoderFor = (encoding: string | undefined): Transform | "identity" | undefined => {
  switch ((encoding ?? "identity").trim().toLowerCase()) {
    case "":
    case "identity":
      return "identity"
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip()
    case "deflate":
      return zlib.createInflate()
    case "br":
      return zlib.createBrotliDecompress()
    default:
      return undefined
  }
}

/** URL userinfo may hold a stray `%`, which `decodeURIComponent` would throw on. */
const percentDecode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** One request to vetted addresses; the body is read only when asked, up to the cap. */
const requestOnce = (url: URL, addresses: ReadonlyArray<ResolvedAddress>, options: SafeFetchOptions) =>
  Effect.callback<Hop, FetchFailure>((resume) => {
    let settled = false
    let response: IncomingMessage | undefined
    let decoder: Transform | undefined
    const settle = (outcome: Effect.Effect<Hop, FetchFailure>) => {
      if (settled) return
      settled = true
      resume(outcome)
    }
    const fail = (message: string) => settle(Effect.fail(new FetchFailure({ url: url.href, message })))
    const stop = () => {
      decoder?.destroy()
      response?.destroy()
      request.destroy()
    }

    const client = url.protocol === "https:" ? https : http
    const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
    const request = client.request({
      method: "GET",
      hostname,
      port: url.port === "" ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: options.headers,
      // A fresh agent per request: a pooled socket must not outlive its vetting.
      agent: false,
      lookup: pinnedLookup(addresses),
      ...(url.username !== "" || url.password !== ""
        ? { auth: `${percentDecode(url.username)}:${percentDecode(url.password)}` }
        : {})
    })

    request.on("error", (error: NodeJS.ErrnoException) => fail(describeNetworkError(url, error)))
    request.on("response", (res) => {
      response = res
      const status = res.statusCode ?? 0
      const hop = { status, statusText: res.statusMessage ?? "", headers: res.headers }
      if (!options.wantsBody(status, res.headers)) {
        settle(Effect.succeed({ ...hop, body: undefined, truncated: false }))
        stop()
        return
      }
      const decoding = decoderFor(res.headers["content-encoding"])
      if (decoding === undefined) {
        fail(
          `unsupported Content-Encoding ${JSON.stringify(res.headers["content-encoding"])} from ${url.href}`
        )
        stop()
        return
      }
      const source: Readable = decoding === "identity" ? res : res.pipe(decoding)
      if (decoding !== "identity") decoder = decoding

      const chunks: Array<Uint8Array> = []
      let size = 0
      const finish = (truncated: boolean) =>
        settle(Effect.succeed({ ...hop, body: Buffer.concat(chunks, size), truncated }))
      source.on("data", (chunk: Buffer) => {
        if (settled) return
        const room = options.maxBytes - size
        if (chunk.length >= room) {
          // Exactly at the cap counts as truncated only if more data was on its way.
          chunks.push(chunk.subarray(0, room))
          size += room
          if (chunk.length > room) {
            finish(true)
            stop()
          }
          return
        }
        chunks.push(chunk)
        size += chunk.length
      })
      source.on("end", () => finish(false))
      res.on("error", (error: NodeJS.ErrnoException) => fail(describeNetworkError(url, error)))
      decoder?.on("error", (error) =>
        fail(
          `could not decode the ${res.headers["content-encoding"]} body from ${url.href}: ${error.message}`
        )
      )
    })
    request.end()

    // Interruption (the caller's timeout) tears the sockets down.
    return Effect.sync(stop)
  })

/** Follows up to `maxRedirects` redirects, vetting every hop before connecting to it. */
export const safeFetch = Effect.fn("SafeFetch.safeFetch")(function* (start: URL, options: SafeFetchOptions) {
  let url = start
  for (let redirects = 0; ; redirects++) {
    const addresses = yield* vetTarget(url, options).pipe(
      Effect.mapError((error) => new FetchFailure({ url: url.href, message: error.message }))
    )
    const current = url
    const hop = yield* requestOnce(url, addresses, {
      ...options,
      // Redirect bodies are never read; the final one only when the caller wants it.
      wantsBody: (status, headers) =>
        redirectStatuses.has(status) && headers.location !== undefined
          ? false
          : options.wantsBody(status, headers)
    })
    const location = hop.headers.location
    if (!redirectStatuses.has(hop.status) || location === undefined) {
      return { url: current, ...hop } satisfies SafeResponse
    }
    if (redirects >= options.maxRedirects) {
      return yield* new FetchFailure({
        url: start.href,
        message: `too many redirects (more than ${options.maxRedirects}) starting at ${start.href}`
      })
    }
    const next = URL.canParse(location, current.href) ? new URL(location, current) : undefined
    if (next === undefined) {
      return yield* new FetchFailure({
        url: current.href,
        message: `${current.href} redirected to an invalid URL: ${JSON.stringify(location)}`
      })
    }
    url = next
  }
})
