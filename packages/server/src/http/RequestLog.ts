/**
 * Around every request (docs/observability.md#access-log): a request id
 * (`X-Request-Id` kept when the client sent a sane one, else made, and returned
 * on the response), one access line when the response is written, and the HTTP
 * metrics by route, method and status. The principal is whoever the auth check
 * of the route let in (`setPrincipal`); the line never holds a credential.
 */
import { randomUUID } from "node:crypto"
import * as Metrics from "@mcpgate/core/Metrics"
import { Clock, Context, Effect, Layer } from "effect"
import { HttpEffect, HttpMiddleware, HttpServerRequest, HttpServerResponse } from "effect/http"

/** What the access line says about the request; the auth checks fill in `principal`. */
export interface RequestInfo {
  readonly id: string
  /** `none` until a route's auth check names the caller (`admin`, `key:<digest prefix>`, `metrics`). */
  principal: string
  status: number
}

/** The current request's info; `undefined` outside a request (e.g. in unit tests of a handler). */
export const CurrentRequest = Context.Reference<RequestInfo | undefined>(
  "@mcpgate/server/RequestLog/CurrentRequest",
  {
    defaultValue: () => undefined
  }
)

/** Records who the request is from; called by the auth check that let it in. */
export const setPrincipal = (principal: string) =>
  Effect.map(CurrentRequest, (info) => {
    if (info !== undefined) info.principal = principal
  })

// A client's id is kept only when it cannot break a log line or grow without bound.
const saneId = /^[A-Za-z0-9._:@/+=-]{1,128}$/

/**
 * A bounded route label: the path's shape, not the path (ids, server names
 * and tool names in paths would make one series per value).
 */
export const routeOf = (pathname: string): string => {
  if (
    pathname === "/health" ||
    pathname === "/metrics" ||
    pathname === "/v1/chat/completions" ||
    pathname === "/v1/responses" ||
    pathname === "/v1/models" ||
    pathname === "/mcp" ||
    pathname === "/admin"
  )
    return pathname
  for (const prefix of ["/v1/responses/", "/v1/mcp/", "/mcp/", "/admin/api/", "/admin/", "/v1/"]) {
    if (pathname.startsWith(prefix)) return `${prefix}*`
  }
  return "other"
}

const pathOf = (url: string) => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/**
 * Server spans named `{method} {route}` (the OpenTelemetry HTTP conventions'
 * form), with the bounded route of `routeOf`; provide it under the server.
 */
export const spanNames = Layer.succeed(
  HttpMiddleware.SpanNameGenerator,
  (request: HttpServerRequest.HttpServerRequest) => `${request.method} ${routeOf(pathOf(request.url))}`
)

/** The middleware for `HttpRouter.serve(…, { middleware })`. */
export const middleware = <E, R>(
  httpApp: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const sent = request.headers["x-request-id"]
    const info: RequestInfo = {
      id: sent !== undefined && saneId.test(sent) ? sent : randomUUID(),
      principal: "none",
      status: 500
    }
    const start = yield* Clock.currentTimeNanos
    // The response is written inside `httpApp`; the pre-response handler is the last look at it.
    yield* HttpEffect.appendPreResponseHandler((_, response) => {
      info.status = response.status
      return Effect.succeed(HttpServerResponse.setHeader(response, "x-request-id", info.id))
    })
    return yield* Effect.provideService(httpApp, CurrentRequest, info).pipe(
      Effect.onExit(() =>
        Effect.gen(function* () {
          const seconds = Number((yield* Clock.currentTimeNanos) - start) / 1e9
          const path = pathOf(request.url)
          const labels = { route: routeOf(path), method: request.method, status: String(info.status) }
          yield* Metrics.increment(Metrics.httpRequests, labels)
          yield* Metrics.observe(Metrics.httpRequestDuration, labels, seconds)
          yield* Effect.logInfo(`${request.method} ${path} ${info.status}`).pipe(
            Effect.annotateLogs({
              request_id: info.id,
              principal: info.principal,
              "http.request.method": request.method,
              "url.path": path,
              "http.response.status_code": info.status,
              duration_ms: Math.round(seconds * 1000)
            })
          )
        })
      )
    )
  })
