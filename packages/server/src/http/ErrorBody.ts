/**
 * Errors as the gateway's JSON routes answer them (docs/gateway.md#errors):
 * `{error: {message, type, code?}}` with the right status. `Refused` is the typed
 * form a handler fails with; `toResponse` turns it into that answer.
 */
import { Effect, Schema } from "effect"
import { HttpServerResponse } from "effect/http"

export interface ErrorObject {
  readonly message: string
  readonly type: string
  readonly code?: string
}

export const response = (status: number, error: ErrorObject): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe({ error }, { status })

/** A request refused before or by its handler; `toResponse` turns it into the JSON error. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", {
  status: Schema.Number,
  type: Schema.String,
  code: Schema.String,
  message: Schema.String,
  /** Sent as `WWW-Authenticate` (RFC 6750 §3) on 401s. */
  challenge: Schema.optionalKey(Schema.String),
  /** Seconds, sent as `Retry-After` (RFC 9110 §10.2.3) on 429s. */
  retryAfter: Schema.optionalKey(Schema.Number)
}) {}

/** The JSON error of a refusal, with `WWW-Authenticate` on 401s and `Retry-After` on 429s. */
export const toResponse = (refused: Refused): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    { error: { message: refused.message, type: refused.type, code: refused.code } },
    {
      status: refused.status,
      headers: {
        ...(refused.challenge === undefined ? {} : { "www-authenticate": refused.challenge }),
        ...(refused.retryAfter === undefined ? {} : { "retry-after": String(refused.retryAfter) })
      }
    }
  )

/** A bug must not take the connection down silently: the client still gets a JSON error. */
export const internalError = (): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.succeed(
    response(500, { message: "internal error in the gateway", type: "server_error", code: "internal_error" })
  )
