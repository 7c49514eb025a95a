/**
 * The `fetch` to connected MCP servers when nobody provided their own: undici's
 * `request` on one `Agent` (a pool of kept-alive connections per origin), the
 * answer handed back as a web `Response`.
 *
 * Node's `fetch` builds a web `Request`, its headers list, a web stream for the
 * request body and another for the answer, and ties an `AbortSignal` to each: on
 * the gateway's hop to a connected server that was most of the CPU per tool call
 * (bench/RESULTS.md, issue 18). Here a string body goes out as it is, and an
 * answer that is not an event stream is read whole as bytes (the SDK reads it
 * whole anyway), so only `text/event-stream` answers become web streams.
 *
 * What `fetch` does that the callers rely on is kept: a network failure rejects
 * with `TypeError("fetch failed", { cause })`, an abort with the signal's reason,
 * and redirects are followed (`redirect: "follow"`, the default) by handing the
 * request to `fallback` (the platform's `fetch`), as are requests this one does not
 * take (a body that is not a string, `redirect: "error"`).
 */
import { Readable } from "node:stream"
import type { Agent, Dispatcher } from "undici"

/** The shape of `fetch` the SDK transports accept. */
export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>

const redirectStatuses = new Set([301, 302, 303, 307, 308])

/** Statuses whose `Response` may not have a body (Fetch standard "null body status"). */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304])

const plainHeaders = (headers: RequestInit["headers"]): Record<string, string | undefined> => {
  // undici takes a plain object; `Headers` (what the SDK sends) are iterated once.
  const plain: Record<string, string | undefined> = {}
  if (headers instanceof Headers) {
    headers.forEach((value, name) => {
      plain[name] = value
    })
  } else if (Array.isArray(headers)) {
    for (const [name, value] of headers) if (name !== undefined) plain[name.toLowerCase()] = value
  } else if (headers !== undefined) {
    for (const name in headers) plain[name.toLowerCase()] = headers[name]
  }
  // What Node's fetch sends when the caller did not say (servers may look at them).
  plain.accept ??= "*/*"
  plain["user-agent"] ??= "node"
  return plain
}

const responseHeaders = (headers: Dispatcher.ResponseData["headers"]): Headers => {
  const result = new Headers()
  for (const name in headers) {
    const value = headers[name]
    if (typeof value === "string") result.append(name, value)
    else if (Array.isArray(value)) for (const each of value) result.append(name, each)
  }
  return result
}

const isEventStream = (headers: Dispatcher.ResponseData["headers"]): boolean => {
  const type = headers["content-type"]
  return typeof type === "string" && type.toLowerCase().includes("text/event-stream")
}

/** What `fetch` rejects with: the abort reason, or a `TypeError` whose cause is the network error. */
const asFetchError = (error: unknown, signal: AbortSignal | null | undefined): unknown =>
  signal?.aborted === true ? signal.reason : new TypeError("fetch failed", { cause: error })

/**
 * The process's one agent, as the platform's `fetch` has one global dispatcher: its idle
 * connections do not outlive their keep-alive timeout, and nothing has to close it. undici
 * is loaded with the first request, not when the gateway (or a CLI command) starts.
 */
let shared: Promise<Agent> | undefined
const sharedAgent = (): Promise<Agent> => {
  shared ??= import("undici").then((undici) => {
    // In an esbuild bundle (the CLI) a dynamic import of this CommonJS module gives its
    // exports as `default` only.
    const Agent = undici.Agent === undefined ? undici.default.Agent : undici.Agent
    return new Agent()
  })
  return shared
}

/** On the process's shared agent; `fallback` (the platform's `fetch`) takes what this one does not. */
export const platform = (fallback: Fetch): Fetch => make(sharedAgent, fallback)

export const make = (agentOf: () => Agent | Promise<Agent>, fallback: Fetch): Fetch => {
  const send = async (url: URL, init: RequestInit | undefined): Promise<Response> => {
    const signal = init?.signal ?? null
    let data: Dispatcher.ResponseData
    try {
      const agent = await agentOf()
      data = await agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: (init?.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod,
        headers: plainHeaders(init?.headers),
        body: typeof init?.body === "string" ? init.body : null,
        signal
      })
    } catch (error) {
      throw asFetchError(error, signal)
    }
    const status = data.statusCode
    const headers = responseHeaders(data.headers)
    const options = { status, statusText: data.statusText, headers }
    if (nullBodyStatuses.has(status)) {
      data.body.dump().catch(() => {})
      return new Response(null, options)
    }
    if (isEventStream(data.headers)) {
      // Read as it arrives: an event stream may stay open (notifications, progress).
      return new Response(Readable.toWeb(data.body) as ReadableStream<Uint8Array>, options)
    }
    const bytes = await data.body.bytes().catch((error: unknown) => {
      throw asFetchError(error, signal)
    })
    return new Response(bytes.byteLength === 0 ? null : bytes, options)
  }

  return async (input, init) => {
    const body = init?.body
    const redirect = init?.redirect ?? "follow"
    const url = typeof input === "string" ? new URL(input) : input
    const ours =
      (body === undefined || body === null || typeof body === "string") &&
      redirect !== "error" &&
      (url.protocol === "http:" || url.protocol === "https:") &&
      url.username === "" &&
      url.password === ""
    if (!ours) return fallback(input, init)
    const response = await send(url, init)
    if (
      redirect === "manual" ||
      !redirectStatuses.has(response.status) ||
      !response.headers.has("location")
    ) {
      return response
    }
    // A redirect to follow: the platform's fetch does it (rare: MCP servers answer where they are asked).
    await response.body?.cancel()
    return fallback(input, init)
  }
}
