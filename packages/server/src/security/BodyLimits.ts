/**
 * Request bodies read with a size limit (413) and JSON parsed strictly (400)
 * (docs/gateway.md#security-rules, "Bodies").
 */
import { ByteSize, Effect, Option } from "effect"
import { HttpIncomingMessage, type HttpServerError, type HttpServerRequest } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import * as Json from "../http/Json.ts"

/** Admin JSON bodies and the config editor's PUT stay below this. */
export const adminBodyLimit = 1024 * 1024

const tooLarge = (limit: number) =>
  new Refused({
    status: 413,
    type: "invalid_request_error",
    code: "body_too_large",
    message: `the request body is larger than ${limit} bytes`
  })

/**
 * The body's bytes, at most `limit` of them: a larger `Content-Length` is
 * refused before reading, a longer stream while reading (413).
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<Uint8Array, Refused> => {
  const declared = request.headers["content-length"]
  if (declared !== undefined && Number(declared) > limit) return Effect.fail(tooLarge(limit))
  return request.arrayBuffer.pipe(
    Effect.map((buffer) => new Uint8Array(buffer)),
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)),
    Effect.mapError((error: HttpServerError.HttpServerError) =>
      error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
        ? tooLarge(limit)
        : new Refused({
            status: 400,
            type: "invalid_request_error",
            code: "unreadable_body",
            message: "the request body could not be read"
          })
    )
  )
}

const isJsonType = (contentType: string | undefined): boolean => {
  const type = contentType?.split(";")[0]?.trim().toLowerCase()
  return type === "application/json" || (type?.endsWith("+json") ?? false)
}

/**
 * The JSON body, or `undefined` when there is none. A body must be declared
 * `application/json`, which a cross-site form cannot send without a CORS
 * preflight; malformed JSON is a 400.
 */
export const readJson = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number = adminBodyLimit
): Effect.Effect<unknown, Refused> =>
  Effect.flatMap(readBody(request, limit), (bytes) => {
    if (bytes.length === 0) return Effect.succeed(undefined)
    if (!isJsonType(request.headers["content-type"])) {
      return Effect.fail(
        new Refused({
          status: 415,
          type: "invalid_request_error",
          code: "unsupported_media_type",
          message: 'the request body must be JSON, sent with "Content-Type: application/json"'
        })
      )
    }
    const parsed = Json.parseBytes(bytes)
    return Option.isSome(parsed)
      ? Effect.succeed(parsed.value)
      : Effect.fail(
          new Refused({
            status: 400,
            type: "invalid_request_error",
            code: "invalid_json",
            message: "the request body is not valid JSON"
          })
        )
  })
