/**
 * The OpenAI-compatible model endpoint behind the gateway (`server.upstream`,
 * docs/gateway.md#upstream).
 *
 * Two ways in: `forward` passes a request through untouched and hands back the
 * response unread (the pass-through path stays lean: no JSON, bytes as they
 * come); `chat` / `chatStream` are for the tool loop, which needs the answers
 * parsed. Every request lives in the caller's `Scope`: closing it (the client
 * went away) aborts the upstream request.
 *
 * Needs an `HttpClient` that leaves `content-encoding` alone (undici's
 * dispatcher or `node:http`, e.g. `NodeHttpClient.layerUndici`), not `fetch`,
 * which decompresses and would break the byte-for-byte pass-through.
 */
import type { UpstreamConfig } from "@mcpgate/core/Config"
import * as Metrics from "@mcpgate/core/Metrics"
import type { Scope } from "effect"
import { Context, Effect, Layer, Metric, Option, Predicate, Redacted, Schema, Stream } from "effect"
import {
  type Headers,
  HttpBody,
  HttpClient,
  type HttpClientError,
  HttpClientRequest,
  HttpMethod
} from "effect/http"
import type { HttpClientResponse } from "effect/http/HttpClientResponse"
import * as Sse from "../http/Sse.ts"

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
}

export interface ForwardResponse {
  readonly status: number
  /** The upstream's headers minus hop-by-hop ones, `set-cookie` and `content-length`. */
  readonly headers: Readonly<Record<string, string>>
  readonly contentLength: number | undefined
  /** The body as it arrives, unread until consumed. */
  readonly body: Stream.Stream<Uint8Array, UpstreamUnreachable>
}

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

const requestBody = (
  body: Uint8Array | Stream.Stream<Uint8Array, unknown>,
  contentType: string,
  length: string | undefined
) =>
  body instanceof Uint8Array
    ? HttpBody.uint8Array(body, contentType)
    : HttpBody.stream(
        body,
        contentType,
        length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined
      )

const isSuccess = (status: number) => status >= 200 && status < 300

/** The service for a given `server.upstream` (or none); needs an `HttpClient` (see the module comment). */
/** The request's model as a metric label (`""` when the body is passed through unread). */
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

/** Adds the token counts a (non-streamed) completion reports in `usage`. */
const countUsage = (model: string) => (completion: Record<string, unknown>) => {
  const usage = completion.usage
  if (!Predicate.isObject(usage)) return Effect.void
  const count = (type: string, value: unknown) =>
    typeof value === "number" && value > 0
      ? Metric.update(Metric.withAttributes(Metrics.upstreamTokens, { model, type }), value)
      : Effect.void
  const input = "prompt_tokens" in usage ? usage.prompt_tokens : undefined
  const output = "completion_tokens" in usage ? usage.completion_tokens : undefined
  return Effect.all([
    count("input", input),
    count("output", output),
    Effect.annotateCurrentSpan({
      ...(typeof input === "number" ? { "gen_ai.usage.input_tokens": input } : {}),
      ...(typeof output === "number" ? { "gen_ai.usage.output_tokens": output } : {})
    })
  ])
}

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

  const forward = (request: ForwardRequest) => {
    const url = baseUrl + request.path
    const headers = withKey(filterHeaders(request.headers, notForwardedUpstream))
    // The body was validated as JSON; a client that did not say so still sends JSON.
    const contentType = request.headers["content-type"] ?? "application/json"
    const outgoing = HttpClientRequest.make(request.method)(url, {
      headers,
      ...(request.body === undefined || !HttpMethod.hasBody(request.method)
        ? {}
        : { body: requestBody(request.body, contentType, request.headers["content-length"]) })
    })
    return Effect.map(execute(outgoing, url).pipe(measuredUpstream("")), (response): ForwardResponse => {
      const length = response.headers["content-length"]
      return {
        status: response.status,
        headers: filterHeaders(response.headers, notForwardedToClient),
        contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
        body: bodyStream(response, url)
      }
    })
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

  const chat = (body: Readonly<Record<string, unknown>>) =>
    chatOnce(body).pipe(
      measuredUpstream(modelOf(body)),
      Effect.tap(countUsage(modelOf(body))),
      Effect.withSpan(...chatSpan(body))
    )

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

  const chatStream = (body: Readonly<Record<string, unknown>>) =>
    chatStreamOpen(body).pipe(measuredUpstream(modelOf(body)), Effect.withSpan(...chatSpan(body)))

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
