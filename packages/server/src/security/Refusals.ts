/**
 * A refusal of the security rules or the body limits (a `Refused`, which the
 * OpenAI routes answer as it is) as the typed error an http-api group declares
 * (../api/ApiErrors.ts): the class of its status, same message, type and code,
 * `WWW-Authenticate` and `Retry-After` kept.
 */
import { Effect } from "effect"
import * as ApiErrors from "../api/ApiErrors.ts"
import type { Refused } from "../http/ErrorBody.ts"

type Constructor = abstract new (...args: never) => unknown
type Instance<C> = C extends abstract new (...args: never) => infer I ? I : never

const byStatus = (refused: Refused): unknown => {
  const fields = { message: refused.message, type: refused.type, code: refused.code }
  switch (refused.status) {
    case 400:
      return new ApiErrors.BadRequest(fields)
    case 401:
      // RFC 9110 §15.5.2: a 401 always names a scheme; every 401 of the security layer sets it.
      return new ApiErrors.Unauthorized({
        ...fields,
        challenge: refused.challenge ?? 'Bearer realm="mcpgate"'
      })
    case 403:
      return new ApiErrors.Forbidden(
        refused.challenge === undefined ? fields : { ...fields, challenge: refused.challenge }
      )
    case 404:
      return new ApiErrors.NotFound(fields)
    case 413:
      return new ApiErrors.PayloadTooLarge(fields)
    case 415:
      return new ApiErrors.UnsupportedMediaType(fields)
    case 503:
      return new ApiErrors.ServiceUnavailable(fields)
    case 429:
      return new ApiErrors.TooManyRequests({ ...fields, retryAfter: refused.retryAfter ?? 1 })
    default:
      return undefined
  }
}

/**
 * Fails with the refusal as one of `classes`; a status none of them has is a
 * bug of the caller (the group would not declare it), so a defect.
 */
export const refusedAs =
  <const C extends ReadonlyArray<Constructor>>(classes: C) =>
  (refused: Refused): Effect.Effect<never, Instance<C[number]>> => {
    const error = byStatus(refused)
    const declared = (value: unknown): value is Instance<C[number]> =>
      classes.some((self) => value instanceof self)
    return declared(error)
      ? Effect.fail(error)
      : Effect.die(
          new Error(`a ${refused.status} refusal (${refused.code}) where the route does not declare it`)
        )
  }
