/**
 * The OpenAI-compatible model endpoint behind the gateway (`server.upstream`,
 * docs/gateway.md#upstream).
 *
 * Two ways in: `forward` passes a request through untouched and hands back the
 * response unread, as a Node stream that `toServerResponse` pipes to the client
 * (the pass-through stays as cheap as a plain proxy: an undici pool of kept-alive
 * connections, no JSON; for a model answer only its last bytes are kept, to
 * read the usage at its end, ./UpstreamUsage.ts; bench/RESULTS.md has the profiles);
 * `chat` / `chatStream` are for the tool loop, which needs the answers parsed.
 * Every request lives in the caller's `Scope`: closing it (the client went away)
 * aborts the upstream request.
 *
 * `chat` / `chatStream` need an `HttpClient` that leaves `content-encoding` alone
 * (undici's dispatcher or `node:http`, e.g. `NodeHttpClient.layerUndici`), not
 * `fetch`, which decompresses.
 */
import type { IncomingHttpHeaders } from "node:http"
import { Readable } from "node:stream"
import type { UpstreamConfig } from "@mcpgate/core/Config"
import * as Metrics from "@mcpgate/core/Metrics"
import * as TraceContext from "@mcpgate/core/TraceContext"
import type { Scope } from "effect"
import { Clock, Context, Effect, Exit, Layer, Option, Predicate, Redacted, Ref, Schema, Stream } from "effect"
import {
  type Headers,
  HttpBody,
  HttpClient,
  type HttpClientError,
  HttpClientRequest,
  HttpMethod
} from "effect/http"
import type { HttpClientResponse } from "effect/http/HttpClientResponse"
import type { Dispatcher, Pool } from "undici"
import * as PassThrough from "../http/PassThrough.ts"
import * as Sse from "../http/Sse.ts"
import * as UpstreamUsage from "./UpstreamUsage.ts"

/** `server.upstream` is missing from the config. */
export class UpstreamNotConfigured extends Schema.TaggedError<UpstreamNotConfigured>()(
  "UpstreamNotConfigured",
  {
    message: Schema.String
  }
) {}

/** The upstream could not be reached, or the connection broke while reading its answer. */
export class UpstreamUnreachable extends Schema.TaggedError<UpstreamUnreachable>()("UpstreamUnreachable", {
  url: Schema.String,
  message: Schema.String
}) {}

/** The upstream answered with an error status; its body is kept to be passed on as it is. */
export class UpstreamStatusError extends Schema.TaggedError<UpstreamStatusError>()("UpstreamStatusError", {
  url: Schema.String,
  status: Schema.Number,
  contentType: Schema.optionalKey(Schema.String),
  body: Schema.String,
  message: Schema.String
}) {}

/** The upstream answered 2xx with something that is not an OpenAI-compatible answer. */
export class UpstreamProtocolError extends Schema.TaggedError<UpstreamProtocolError>()(
  "UpstreamProtocolError",
  {
    url: Schema.String,
    message: Schema.String
  }
) {}

export type UpstreamError =
  | UpstreamNotConfigured
  | UpstreamUnreachable
  | UpstreamStatusError
  | UpstreamProtocolError

export interface ForwardRequest {
  readonly method: HttpMethod.HttpMethod
  /** Below the base URL, query included: `/chat/completions`, `/models`. */
  readonly path: string
  /** The client's headers; hop-by-hop ones and its credentials are dropped here. */
  readonly headers: Headers.Headers
  /** Bytes read already, or the client's body streamed on as it arrives (uploads). */
  readonly body?: Uint8Array | Stream.Stream<Uint8Array, unknown> | undefined
  /** The body's `model`, when the caller read the body: the metrics' label (./UpstreamUsage.ts). */
  readonly model?: string | undefined
  /** The answer may report token `usage` (chat completions, responses): counted as it passes. */
  readonly reportsUsage?: boolean | undefined
}

export interface ForwardResponse {
  readonly status: number
  /** The upstream's headers minus hop-by-hop ones, `set-cookie` and `content-length`. */
  readonly headers: Readonly<Record<string, string>>
  readonly contentLength: number | undefined
  /** The body as it arrives, unread until consumed; destroyed when the caller's scope closes. */
  readonly body: Readable
  /** Reads the whole body as text (an error answer to look into). */
  readonly text: Effect.Effect<string, UpstreamUnreachable>
}

/** The answer as it came: status, headers and the body piped on untouched (http/PassThrough.ts). */
export const toServerResponse = (response: ForwardResponse) =>
  PassThrough.respond(response.body, {
    status: response.status,
    headers: response.headers,
    contentLength: response.contentLength
  })

export interface UpstreamShape {
  /** The configured base URL (for messages), if any. */
  readonly baseUrl: string | undefined
  /** How `/v1/responses` reaches it (`server.upstream.responses`, docs/gateway.md#responses). */
  readonly responses: "auto" | "native" | "translate"
  /** Sends a request unchanged (but for credentials) and returns the answer unread, whatever its status. */
  readonly forward: (
    request: ForwardRequest
  ) => Effect.Effect<ForwardResponse, UpstreamNotConfigured | UpstreamUnreachable, Scope.Scope>
  /** `POST /chat/completions` with a JSON body; the parsed JSON answer. */
  readonly chat: (
    body: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Record<string, unknown>, UpstreamError>
  /**
   * `POST /chat/completions` for a streamed answer: succeeds once the upstream
   * answered 2xx, then yields the `data` of each SSE event as it arrives.
   */
  readonly chatStream: (
    body: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Stream.Stream<string, UpstreamUnreachable>, UpstreamError, Scope.Scope>
}

// RFC 9110 §7.6.1: connection-specific fields are not forwarded by intermediaries.
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

// The client's `authorization` is its key for the gateway, never the upstream's; `host` and
// `content-length` belong to the new request; `cookie` may carry the admin session.
const notForwardedUpstream = new Set([
  ...hopByHop,
  "host",
  "content-length",
  "authorization",
  "cookie",
  "expect"
])

// Cookies are the gateway's own business; `content-length` is passed separately so that it stays exact.
const notForwardedToClient = new Set([...hopByHop, "set-cookie", "content-length"])

const filterHeaders = (headers: Headers.Headers, drop: ReadonlySet<string>): Record<string, string> => {
  // Fields named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
  const named = (headers.connection ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0)
  const result: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!drop.has(name) && !named.includes(name)) result[name] = value
  }
  return result
}

/** Like `filterHeaders`, for undici's answer headers (a repeated field is an array). */
const filterAnswerHeaders = (
  headers: IncomingHttpHeaders,
  drop: ReadonlySet<string>
): Record<string, string> => {
  const connection = headers.connection
  const named = (Array.isArray(connection) ? connection.join(",") : (connection ?? ""))
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0)
  const result: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || drop.has(name) || named.includes(name)) continue
    result[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return result
}

/** The most specific error code (`ECONNREFUSED`, `ENOTFOUND` …) in a cause chain, else its message. */
const describeCause = (cause: unknown): string => {
  let current: unknown = cause
  let message: string | undefined
  for (let depth = 0; depth < 6 && Predicate.isObject(current); depth++) {
    if ("code" in current && Predicate.isString(current.code)) return current.code
    if (
      message === undefined &&
      "message" in current &&
      Predicate.isString(current.message) &&
      current.message
    ) {
      message = current.message
    }
    const errors = "errors" in current && Array.isArray(current.errors) ? current.errors : undefined
    current = "cause" in current && current.cause !== undefined ? current.cause : errors?.[0]
  }
  return message ?? "unknown error"
}

const unreachable = (url: string, error: HttpClientError.HttpClientError) =>
  new UpstreamUnreachable({
    url,
    message:
      error.reason._tag === "TransportError" || error.reason._tag === "InvalidUrlError"
        ? `upstream ${url} is unreachable: ${describeCause(error.reason.cause)}`
        : `the connection to upstream ${url} broke: ${describeCause(error.reason.cause ?? error)}`
  })

const unreachableCause = (url: string, cause: unknown) =>
  new UpstreamUnreachable({ url, message: `upstream ${url} is unreachable: ${describeCause(cause)}` })

const brokenCause = (url: string, cause: unknown) =>
  new UpstreamUnreachable({
    url,
    message: `the connection to upstream ${url} broke: ${describeCause(cause)}`
  })

const notConfigured = new UpstreamNotConfigured({
  message:
    'no upstream model endpoint is configured: set "server.upstream": { "baseUrl": "http://…/v1", "apiKey": "…" } in the mcpgate config'
})

const bodyStream = (
  response: HttpClientResponse,
  url: string
): Stream.Stream<Uint8Array, UpstreamUnreachable> =>
  response.stream.pipe(
    Stream.catchIf(
      (error) => error.reason._tag === "EmptyBodyError",
      () => Stream.empty
    ),
    Stream.mapError((error) => unreachable(url, error))
  )

const readText = (response: HttpClientResponse, url: string): Effect.Effect<string, UpstreamUnreachable> =>
  response.text.pipe(
    Effect.catchIf(
      (error) => error.reason._tag === "EmptyBodyError",
      () => Effect.succeed("")
    ),
    Effect.mapError((error) => unreachable(url, error))
  )

const statusError = (response: HttpClientResponse, url: string) =>
  Effect.flatMap(readText(response, url), (body) => {
    const contentType = response.headers["content-type"]
    return Effect.fail(
      new UpstreamStatusError({
        url,
        status: response.status,
        body,
        ...(contentType === undefined ? {} : { contentType }),
        message: `upstream ${url} answered ${response.status}: ${body.slice(0, 500)}`
      })
    )
  })

const isSuccess = (status: number) => status >= 200 && status < 300

/**
 * The pass-through's connections: one undici pool for the upstream's origin, made by
 * the first forward (undici, 1.4 MB of code, is loaded then rather than while the
 * gateway starts: bench/RESULTS.md, issue 18), kept alive across requests, closed
 * with the layer. `undefined` for a base URL that is no URL (each forward then fails
 * as unreachable, like the tool loop's requests).
 */
const makePool = Effect.fnUntraced(function* (baseUrl: string) {
  if (!URL.canParse(baseUrl)) return undefined
  const origin = new URL(baseUrl).origin
  const made = yield* Ref.make(Option.none<Pool>())
  yield* Effect.addFinalizer(() =>
    Effect.flatMap(Ref.get(made), (pool) =>
      Option.isSome(pool) ? Effect.promise(() => pool.value.destroy()) : Effect.void
    )
  )
  return yield* Effect.cached(
    // `default` (the CommonJS exports): the split bundle's dynamic import keeps no named exports.
    Effect.promise(() => import("undici")).pipe(
      Effect.map(({ default: undici }) => new undici.Pool(origin)),
      Effect.tap((pool) => Ref.set(made, Option.some(pool)))
    )
  )
})

const uploadBody = (body: Uint8Array | Stream.Stream<Uint8Array, unknown>): Uint8Array | Readable =>
  body instanceof Uint8Array ? body : Readable.from(Stream.toAsyncIterable(body))

const ignoreError = () => {}

/** `forward` on undici: no per-request objects beyond undici's own, the body left as a Node stream. */
const makeForward = (
  pool: Effect.Effect<Pool> | undefined,
  baseUrl: string,
  apiKey: Option.Option<Redacted.Redacted<string>>
) => {
  const basePath = URL.canParse(baseUrl) ? new URL(baseUrl).pathname.replace(/\/+$/, "") : ""
  return (
    request: ForwardRequest,
    trace: Readonly<Record<string, string>> | undefined
  ): Effect.Effect<ForwardResponse, UpstreamUnreachable, Scope.Scope> => {
    const url = baseUrl + request.path
    if (pool === undefined) return Effect.fail(unreachableCause(url, new Error("invalid URL")))
    const path = basePath + request.path
    // A fresh object: the trace context and the key go in without copying the client's headers again.
    const headers = filterHeaders(request.headers, notForwardedUpstream)
    if (trace !== undefined) Object.assign(headers, trace)
    if (Option.isSome(apiKey)) headers.authorization = `Bearer ${Redacted.value(apiKey.value)}`
    const body = request.body === undefined || !HttpMethod.hasBody(request.method) ? undefined : request.body
    if (body !== undefined) {
      // The body was validated as JSON; a client that did not say so still sends JSON.
      headers["content-type"] = request.headers["content-type"] ?? "application/json"
      const length = request.headers["content-length"]
      if (!(body instanceof Uint8Array) && length !== undefined && /^\d+$/.test(length)) {
        headers["content-length"] = length
      }
    }
    const send = Effect.flatMap(pool, (pool) =>
      Effect.callback<Dispatcher.ResponseData, UpstreamUnreachable>((resume, signal) => {
        pool.request(
          {
            method: request.method,
            path,
            headers,
            body: body === undefined ? null : uploadBody(body),
            signal
          },
          (error, data) =>
            resume(error === null ? Effect.succeed(data) : Effect.fail(unreachableCause(url, error)))
        )
      })
    )
    // Closing the scope before the body was read to its end (the client went away) aborts the request.
    const answer = Effect.acquireRelease(send, (data) =>
      Effect.sync(() => {
        if (!data.body.readableEnded) data.body.destroy()
      })
    )
    return Effect.map(answer, (data): ForwardResponse => {
      // Destroying a body not read to its end (the client went away) emits an `AbortError`; whoever
      // reads the body reports failures their own way, and an unheard 'error' would crash the process.
      data.body.on("error", ignoreError)
      const length = data.headers["content-length"]
      return {
        status: data.statusCode,
        headers: filterAnswerHeaders(data.headers, notForwardedToClient),
        contentLength: typeof length === "string" && /^\d+$/.test(length) ? Number(length) : undefined,
        body: data.body,
        text: Effect.tryPromise({ try: () => data.body.text(), catch: (cause) => brokenCause(url, cause) })
      }
    })
  }
}

/** The request's model as the spans name it. */
const modelOf = (body: Readonly<Record<string, unknown>>) =>
  typeof body.model === "string" ? body.model : ""

/** Counts an upstream request to its response head, by model and outcome (docs/observability.md#metrics). */
const measuredUpstream =
  (model: string) =>
  <A, E extends { readonly _tag: string }, R>(self: Effect.Effect<A, E, R>) =>
    Metrics.measured(self, Metrics.upstreamRequests, Metrics.upstreamDuration, (exit) => ({
      model,
      outcome: Metrics.outcomeOf(exit, (error) => error._tag)
    }))

/** The GenAI semantic conventions' client span of a model call (`chat {gen_ai.request.model}`). */
const chatSpan = (body: Readonly<Record<string, unknown>>) =>
  [
    `chat ${modelOf(body)}`,
    {
      kind: "client",
      attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": modelOf(body) }
    }
  ] as const

/** The service for a given `server.upstream` (or none); needs an `HttpClient` (see the module comment). */
export const make = Effect.fnUntraced(function* (config: UpstreamConfig | undefined) {
  // Each request is bound to the caller's scope: closing it aborts the request.
  const client = HttpClient.withScope(yield* HttpClient.HttpClient)
  if (config === undefined) {
    return Upstream.of({
      baseUrl: undefined,
      responses: "native",
      forward: () => Effect.fail(notConfigured),
      chat: () => Effect.fail(notConfigured),
      chatStream: () => Effect.fail(notConfigured)
    })
  }
  const baseUrl = config.baseUrl.replace(/\/+$/, "")
  const apiKey = Option.fromUndefinedOr(config.apiKey)
  const withKey = (headers: Record<string, string>): Record<string, string> =>
    Option.match(apiKey, {
      onNone: () => headers,
      onSome: (key) => ({ ...headers, authorization: `Bearer ${Redacted.value(key)}` })
    })

  const execute = (request: HttpClientRequest.HttpClientRequest, url: string) =>
    client.execute(request).pipe(Effect.mapError((error) => unreachable(url, error)))

  const modelLabel = UpstreamUsage.makeModelLabels()
  const forwardUnread = makeForward(yield* makePool(baseUrl), baseUrl, apiKey)
  // The pass-through sends on undici, not the HttpClient: it carries the trace context itself.
  const forward = (request: ForwardRequest) => {
    const model = modelLabel(request.model)
    const sent = Effect.flatMap(TraceContext.currentHeaders, (trace) => forwardUnread(request, trace))
    return (
      request.reportsUsage === true
        ? Effect.tap(sent, (answer) =>
            isSuccess(answer.status) ? UpstreamUsage.countPassed(model, answer.body) : Effect.void
          )
        : sent
    ).pipe(measuredUpstream(model))
  }

  const chatUrl = `${baseUrl}/chat/completions`

  const post = (body: Readonly<Record<string, unknown>>, accept: string) =>
    execute(
      HttpClientRequest.post(chatUrl, {
        headers: withKey({ accept }),
        body: HttpBody.text(JSON.stringify(body), "application/json")
      }),
      chatUrl
    )

  const chat = (body: Readonly<Record<string, unknown>>) => {
    const model = modelLabel(body.model)
    return chatOnce(body).pipe(
      measuredUpstream(model),
      Effect.tap((completion) => UpstreamUsage.count(model, completion.usage)),
      Effect.withSpan(...chatSpan(body))
    )
  }

  const chatOnce = (body: Readonly<Record<string, unknown>>) =>
    Effect.scoped(
      Effect.gen(function* () {
        const response = yield* post(body, "application/json")
        if (!isSuccess(response.status)) return yield* statusError(response, chatUrl)
        const text = yield* readText(response, chatUrl)
        const parsed = yield* Effect.try({
          try: (): unknown => JSON.parse(text),
          catch: () =>
            new UpstreamProtocolError({
              url: chatUrl,
              message: `upstream ${chatUrl} did not answer with JSON`
            })
        })
        if (!Predicate.isObject(parsed) || Array.isArray(parsed)) {
          return yield* new UpstreamProtocolError({
            url: chatUrl,
            message: `upstream ${chatUrl} answered with JSON that is not an object`
          })
        }
        return parsed as Record<string, unknown>
      })
    )

  // The span lasts until the stream ends (its usage comes last), or the caller's scope closes.
  const chatStream = Effect.fnUntraced(function* (body: Readonly<Record<string, unknown>>) {
    const model = modelLabel(body.model)
    const span = yield* Effect.makeSpan(...chatSpan(body))
    const end = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.flatMap(Clock.currentTimeNanos, (now) =>
        Effect.sync(() => {
          if (span.status._tag !== "Ended") span.end(now, exit)
        })
      )
    yield* Effect.addFinalizer(end)
    const events = yield* chatStreamOpen(body).pipe(
      measuredUpstream(model),
      Effect.withParentSpan(span),
      Effect.tapCause((cause) => end(Exit.failCause(cause)))
    )
    return UpstreamUsage.countStreamed(events, model, span, end)
  })

  const chatStreamOpen = Effect.fnUntraced(function* (body: Readonly<Record<string, unknown>>) {
    const response = yield* post(body, "text/event-stream")
    if (!isSuccess(response.status)) return yield* statusError(response, chatUrl)
    const contentType = response.headers["content-type"] ?? ""
    if (!contentType.includes("text/event-stream")) {
      return yield* new UpstreamProtocolError({
        url: chatUrl,
        message: `upstream ${chatUrl} answered a streaming request with ${contentType || "no content type"}`
      })
    }
    return Sse.decode(bodyStream(response, chatUrl))
  })

  return Upstream.of({ baseUrl, responses: config.responses ?? "auto", forward, chat, chatStream })
})

export class Upstream extends Context.Service<Upstream, UpstreamShape>()("@mcpgate/server/Upstream") {
  /** `server.upstream` of the config; `undefined` answers every request with `UpstreamNotConfigured`. */
  static readonly layer = (
    config: UpstreamConfig | undefined
  ): Layer.Layer<Upstream, never, HttpClient.HttpClient> => Layer.effect(Upstream, make(config))
}
