/**
 * Sends a forwarded answer's body to the client the way a plain Node proxy does
 * (`body.pipe(res)`), for the pass-through routes.
 *
 * The platform writes a Node stream body with `stream.pipeline`, which costs an
 * `AbortController`, a `DOMException` and an error object per request when it
 * finishes; at thousands of short answers a second that was a tenth of the
 * gateway's CPU (bench/RESULTS.md). Here the route registers a pre-response
 * handler: it runs once middleware has had its say, writes the final status and
 * headers and pipes the body, and leaves every case it does not cover (HTTP/2, a
 * request body not read yet, HEAD, a response replaced on the way) to the
 * platform. The route stays an ordinary route returning an `HttpServerResponse`.
 */
import { IncomingMessage, ServerResponse } from "node:http"
import type { Readable } from "node:stream"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect } from "effect"
import { Cookies, HttpEffect, type HttpServerRequest, HttpServerResponse } from "effect/http"

/** Statuses whose answer has no body (RFC 9110 §6.4.1): left to the platform. */
const withoutBody = (status: number) => status < 200 || status === 204 || status === 205 || status === 304

/**
 * Pipes `body` to Node's response and waits until it is sent, or cut: a client
 * that goes away destroys the body (which aborts the upstream request), an
 * upstream that breaks off cuts the client's connection, as the platform does.
 */
const pipeTo = (body: Readable, res: ServerResponse, response: HttpServerResponse.HttpServerResponse) =>
  Effect.callback<HttpServerResponse.HttpServerResponse>((resume) => {
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      res.off("close", onClose)
      res.off("finish", settle)
      body.off("error", onError)
      resume(Effect.succeed(response))
    }
    const onClose = () => {
      if (!res.writableFinished) body.destroy()
      settle()
    }
    const onError = () => {
      res.destroy()
      settle()
    }
    res.writeHead(response.status, response.statusText, response.headers)
    res.once("finish", settle)
    res.once("close", onClose)
    body.once("error", onError)
    body.pipe(res)
    return Effect.sync(() => {
      body.destroy()
      res.destroy()
    })
  }).pipe(Effect.interruptible)

/** The pre-response step for `served`, whose raw body is `body`. */
const sendDirectly =
  (body: Readable, served: HttpServerResponse.HttpServerResponse) =>
  (
    request: HttpServerRequest.HttpServerRequest,
    response: HttpServerResponse.HttpServerResponse
  ): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
    const source = request.source
    if (response.body !== served.body || !(source instanceof IncomingMessage)) return Effect.succeed(response)
    const res = NodeHttpServerRequest.toServerResponse(request)
    if (
      source.httpVersionMajor !== 1 ||
      !source.complete ||
      request.method === "HEAD" ||
      !(res instanceof ServerResponse) ||
      res.headersSent ||
      res.destroyed ||
      withoutBody(response.status) ||
      !Cookies.isEmpty(response.cookies)
    ) {
      return Effect.succeed(response)
    }
    return pipeTo(body, res, response)
  }

/**
 * An answer from upstream as an `HttpServerResponse` whose body the client gets
 * byte for byte. Needs the current request (a route handler has it).
 */
export const respond = (
  body: Readable,
  options: HttpServerResponse.Options
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest> => {
  const served = HttpServerResponse.raw(body, options)
  return Effect.as(HttpEffect.appendPreResponseHandler(sendDirectly(body, served)), served)
}
