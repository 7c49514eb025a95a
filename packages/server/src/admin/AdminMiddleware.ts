/**
 * The admin groups' middleware (declared in ../api/AdminHttpApi.ts), over the
 * security layer (docs/gateway.md#security-rules):
 *
 * - `AdminAccess`: the admin token or a session, with the Origin and CSRF
 *   rules and the sign-in rate limit (`Security.authorizeAdmin`).
 * - `AdminOrigin`: the sign-in routes' Origin rule; the token is in the body.
 * - `AdminBody`: a write's JSON body, read and checked before the handler
 *   (size, media type, syntax), used or not; the handler finds it in `RequestBody`.
 *
 * `authorize` and `notFoundRoute` answer admin paths no group declares, after
 * the same check.
 */
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerRespondable } from "effect/http"
import { AdminAccess, AdminBody, AdminErrors, AdminOrigin } from "../api/AdminHttpApi.ts"
import * as ApiErrors from "../api/ApiErrors.ts"
import { adminBodyLimit, readJson } from "../security/BodyLimits.ts"
import { refusedAs } from "../security/Refusals.ts"
import { Security, type SecurityShape } from "../security/Security.ts"

/** The JSON body `AdminBody` read: `undefined` when it was empty. */
export const RequestBody = Context.Reference<unknown>("@mcpgate/server/admin/RequestBody", {
  defaultValue: () => undefined
})

/** The admin token or a session (`Security.authorizeAdmin`), as the group's errors. */
export const authorize = (security: SecurityShape, request: HttpServerRequest.HttpServerRequest) =>
  security
    .authorizeAdmin(request)
    .pipe(Effect.catch(refusedAs([ApiErrors.Unauthorized, ApiErrors.Forbidden, ApiErrors.TooManyRequests])))

/** A present `Origin` must be one of the gateway's own pages. */
export const checkOrigin = (security: SecurityShape, request: HttpServerRequest.HttpServerRequest) => {
  const origin = request.headers.origin
  return origin === undefined || security.addresses.allowedOrigins.has(origin)
    ? Effect.void
    : Effect.fail(
        AdminErrors.crossOriginSignIn.make(
          `cross-origin request refused: the admin API answers only pages of ${security.addresses.origin}`
        )
      )
}

export const adminAccessLayer = Layer.effect(
  AdminAccess,
  Effect.map(Security, (security) =>
    AdminAccess.of((httpEffect) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.andThen(authorize(security, request), httpEffect)
      )
    )
  )
)

export const adminOriginLayer = Layer.effect(
  AdminOrigin,
  Effect.map(Security, (security) =>
    AdminOrigin.of((httpEffect) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.andThen(checkOrigin(security, request), httpEffect)
      )
    )
  )
)

export const adminBodyLayer = Layer.succeed(
  AdminBody,
  AdminBody.of((httpEffect) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      readJson(request, adminBodyLimit).pipe(
        Effect.catch(
          refusedAs([ApiErrors.BadRequest, ApiErrors.PayloadTooLarge, ApiErrors.UnsupportedMediaType])
        ),
        Effect.flatMap((body) => Effect.provideService(httpEffect, RequestBody, body))
      )
    )
  )
)

/** Any other admin path: the admin token first (the body is not read), then 404 `route_not_found`. */
export const notFoundRoute = HttpRouter.use((router) =>
  Effect.flatMap(Security, (security) =>
    router.add("*", "/admin/api/*", (request) =>
      authorize(security, request).pipe(
        Effect.andThen(
          Effect.fail(
            AdminErrors.routeNotFound.make(
              `no admin route for ${request.method} ${new URL(request.url, "http://x").pathname}`
            )
          )
        ),
        Effect.catch(HttpServerRespondable.toResponse)
      )
    )
  )
)
