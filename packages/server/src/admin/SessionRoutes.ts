/**
 * `POST|DELETE /admin/api/session` (docs/gateway.md#admin-sessions): the web UI
 * trades the admin token for an HttpOnly session cookie, and ends it. The token
 * is the credential here, so only the Origin rule applies before it.
 */
import { Effect, Schema } from "effect"
import type { HttpServerRequest, HttpServerResponse } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import type { SecurityShape } from "../security/Security.ts"
import type { AdminContext } from "./AdminContext.ts"
import { badBody, json } from "./AdminResponses.ts"

/** The body of `POST session`. */
export const SessionRequest = Schema.Struct({ token: Schema.String })
export type SessionRequest = typeof SessionRequest.Type

const decodeSessionRequest = Schema.decodeUnknownEffect(SessionRequest)

/** The body as `POST session` needs it, else 400 `invalid_body`. */
export const decodeOpen = (body: unknown): Effect.Effect<SessionRequest, Refused> =>
  decodeSessionRequest(body).pipe(
    Effect.mapError(() => badBody('expected a JSON object {"token": "<the admin token>"}'))
  )

/** A page of another origin may not sign in or out. */
export const checkOrigin = (security: SecurityShape, request: HttpServerRequest.HttpServerRequest) => {
  const origin = request.headers.origin
  return origin === undefined || security.addresses.allowedOrigins.has(origin)
    ? Effect.void
    : Effect.fail(
        new Refused({
          status: 403,
          type: "permission_error",
          code: "cross_origin",
          message: `cross-origin request refused: the admin API answers only pages of ${security.addresses.origin}`
        })
      )
}

/** `POST session` `{token}` → `{ok}` with the session cookie. */
export const openSession = (
  ctx: AdminContext,
  request: HttpServerRequest.HttpServerRequest,
  body: SessionRequest
): Effect.Effect<HttpServerResponse.HttpServerResponse, Refused> =>
  Effect.map(ctx.security.openSession(request, body.token), (session) =>
    ctx.security.setSessionCookie(json({ ok: true }), session)
  )

/** `DELETE session` → `{ok}`, the cookie expired. */
export const closeSession = (
  ctx: AdminContext,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.as(ctx.security.closeSession(request), ctx.security.clearSessionCookie(json({ ok: true })))
