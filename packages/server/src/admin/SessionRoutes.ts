/**
 * `POST|DELETE /admin/api/session` (docs/gateway.md#admin-sessions): the web UI
 * trades the admin token for an HttpOnly session cookie, and ends it. The token
 * is the credential here, so only the Origin rule applies before it
 * (`AdminOrigin`, ./AdminMiddleware.ts).
 */
import { Effect, Exit, Option, Schema } from "effect"
import { HttpEffect, type HttpServerRequest } from "effect/http"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import { SessionRequest } from "../api/AdminSchemas.ts"
import * as ApiErrors from "../api/ApiErrors.ts"
import type { Refused } from "../http/ErrorBody.ts"
import { refusedAs } from "../security/Refusals.ts"
import type { AdminContextShape } from "./AdminContext.ts"
import { RequestBody } from "./AdminMiddleware.ts"

/** A sign-in's outcome as the audit log names it. */
const signInOutcome = (exit: Exit.Exit<unknown, Refused>) => {
  if (Exit.isSuccess(exit)) return "ok"
  const refused = Exit.findErrorOption(exit)
  return Option.isSome(refused) && refused.value.status === 429 ? "rate-limited" : "refused"
}

const decodeSessionRequest = Schema.decodeUnknownEffect(SessionRequest)

/** The body as `POST session` needs it, else 400 `invalid_body`. */
const sessionRequest = Effect.gen(function* () {
  return yield* decodeSessionRequest(yield* RequestBody).pipe(
    Effect.mapError(() =>
      AdminErrors.invalidBody.make('expected a JSON object {"token": "<the admin token>"}')
    )
  )
})

/** `POST session` `{token}` → `{ok}`, the session cookie set; a wrong token counts against the sign-in limit. */
export const openSession = (ctx: AdminContextShape, request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    const { token } = yield* sessionRequest
    // The audit log names the outcome and the address, never the token (docs/store.md#audit-log).
    const address = Option.getOrElse(request.remoteAddress, () => "unknown")
    const session = yield* ctx.security.openSession(request, token).pipe(
      Effect.onExit((exit) =>
        ctx.audit({
          kind: "admin-sign-in",
          outcome: signInOutcome(exit),
          address
        })
      ),
      Effect.catch(refusedAs([ApiErrors.Unauthorized, ApiErrors.TooManyRequests]))
    )
    yield* HttpEffect.appendPreResponseHandler((_, response) =>
      Effect.succeed(ctx.security.setSessionCookie(response, session))
    )
    return { ok: true } as const
  })

/** `DELETE session` → `{ok}`, the cookie expired. */
export const closeSession = (ctx: AdminContextShape, request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function* () {
    yield* ctx.security.closeSession(request)
    yield* HttpEffect.appendPreResponseHandler((_, response) =>
      Effect.succeed(ctx.security.clearUserSessionCookie(ctx.security.clearSessionCookie(response)))
    )
    return { ok: true } as const
  })
