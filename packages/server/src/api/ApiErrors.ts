/**
 * The errors of the JSON APIs (docs/http-api.md#errors, docs/gateway.md#errors):
 * one class per HTTP status, each answered as `{error: {message, type, code}}`;
 * a 401 also sends `WWW-Authenticate` (RFC 9110 §11.6.1), a 429 `Retry-After`
 * (RFC 9110 §10.2.3), and a refused config adds `issues`.
 *
 * The classes are what handlers fail with; `…Json` are their wire schemas,
 * declared as the endpoints' errors (the builder encodes with them, the typed
 * client decodes with them). Each class is also `HttpServerRespondable`, so a
 * route outside the groups answers it the same way.
 *
 * `ErrorCode` declares one `code` once: the handler makes the error from it and
 * docs/http-api.md lists it under each endpoint that declares it.
 */
import { Context, Effect, Schema, SchemaTransformation } from "effect"
import { HttpServerRespondable, HttpServerResponse } from "effect/http"
import { HttpApiSchema } from "effect/http-api"

/** One problem of a refused config, at its line when known. */
export const ConfigIssue = Schema.Struct({
  path: Schema.String.annotate({ description: "the key's JSON path, e.g. `mcpServers.alpha.url`" }),
  message: Schema.String,
  line: Schema.optionalKey(Schema.Int),
  column: Schema.optionalKey(Schema.Int)
}).annotate({ identifier: "ConfigIssue" })
export type ConfigIssue = typeof ConfigIssue.Type

const errorFields = {
  message: Schema.String.annotate({ description: "a sentence for people" }),
  type: Schema.String.annotate({ description: "the kind of error, e.g. `invalid_request_error`" }),
  code: Schema.String.annotate({ description: "a stable identifier for programs, e.g. `server_not_found`" })
}

/** What every error answer holds under `error`. */
export const ErrorObject = Schema.Struct({
  ...errorFields,
  issues: Schema.optionalKey(Schema.Array(ConfigIssue)).annotate({
    description: "with `invalid_config`: each problem of the config"
  })
}).annotate({ identifier: "ErrorObject" })
export type ErrorObject = typeof ErrorObject.Type

/** An error answer. */
export const ErrorBody = Schema.Struct({ error: ErrorObject }).annotate({ identifier: "ErrorBody" })
export type ErrorBody = typeof ErrorBody.Type

const bodyOf = (error: ErrorObject): ErrorBody => ({
  error: {
    message: error.message,
    type: error.type,
    code: error.code,
    ...(error.issues === undefined ? {} : { issues: error.issues })
  }
})

const respond = (status: number, error: ErrorObject, headers: Readonly<Record<string, string>> = {}) =>
  Effect.succeed(HttpServerResponse.jsonUnsafe(bodyOf(error), { status, headers }))

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { ...errorFields, issues: Schema.optionalKey(Schema.Array(ConfigIssue)) },
  { httpApiStatus: 400 }
) {
  static readonly status = 400;
  [HttpServerRespondable.symbol]() {
    return respond(400, this)
  }
}

/** Sends `challenge` as `WWW-Authenticate` (RFC 6750 §3). */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { ...errorFields, challenge: Schema.String },
  { httpApiStatus: 401 }
) {
  static readonly status = 401;
  [HttpServerRespondable.symbol]() {
    return respond(401, this, { "www-authenticate": this.challenge })
  }
}

/** Sends `challenge`, when set, as `WWW-Authenticate` (RFC 6750 §3.1 `insufficient_scope`). */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { ...errorFields, challenge: Schema.optionalKey(Schema.String) },
  { httpApiStatus: 403 }
) {
  static readonly status = 403;
  [HttpServerRespondable.symbol]() {
    return respond(403, this, this.challenge === undefined ? {} : { "www-authenticate": this.challenge })
  }
}

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", errorFields, {
  httpApiStatus: 404
}) {
  static readonly status = 404;
  [HttpServerRespondable.symbol]() {
    return respond(404, this)
  }
}

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", errorFields, {
  httpApiStatus: 409
}) {
  static readonly status = 409;
  [HttpServerRespondable.symbol]() {
    return respond(409, this)
  }
}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", errorFields, {
  httpApiStatus: 413
}) {
  static readonly status = 413;
  [HttpServerRespondable.symbol]() {
    return respond(413, this)
  }
}

export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  errorFields,
  { httpApiStatus: 415 }
) {
  static readonly status = 415;
  [HttpServerRespondable.symbol]() {
    return respond(415, this)
  }
}

/** Sends `retryAfter` (seconds) as `Retry-After`. */
export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()(
  "TooManyRequests",
  { ...errorFields, retryAfter: Schema.Int.annotate({ description: "seconds until the next try" }) },
  { httpApiStatus: 429 }
) {
  static readonly status = 429;
  [HttpServerRespondable.symbol]() {
    return respond(429, this, { "retry-after": String(this.retryAfter) })
  }
}

export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", errorFields, {
  httpApiStatus: 500
}) {
  static readonly status = 500;
  [HttpServerRespondable.symbol]() {
    return respond(500, this)
  }
}

export class BadGateway extends Schema.TaggedError<BadGateway>()("BadGateway", errorFields, {
  httpApiStatus: 502
}) {
  static readonly status = 502;
  [HttpServerRespondable.symbol]() {
    return respond(502, this)
  }
}

export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  errorFields,
  { httpApiStatus: 503 }
) {
  static readonly status = 503;
  [HttpServerRespondable.symbol]() {
    return respond(503, this)
  }
}

export class GatewayTimeout extends Schema.TaggedError<GatewayTimeout>()("GatewayTimeout", errorFields, {
  httpApiStatus: 504
}) {
  static readonly status = 504;
  [HttpServerRespondable.symbol]() {
    return respond(504, this)
  }
}

/** Any of the classes above: a status and a constructor from the error object's fields. */
export type ErrorClass<E> = Schema.Constraint & {
  readonly status: number
  new (fields: ErrorObject): E
}

/** A class's wire form: its status, the body `{error: {…}}`. */
const json = <S extends Schema.Constraint & (new (fields: ErrorObject) => S["Type"])>(self: S) =>
  ErrorBody.pipe(
    Schema.decodeTo(
      Schema.toType(self),
      SchemaTransformation.transform({
        decode: (body: ErrorBody) => new self(body.error),
        encode: (error: S["Type"]) => bodyOf(error as ErrorObject)
      })
    )
  )

export const BadRequestJson = json(BadRequest)
export const NotFoundJson = json(NotFound)
export const ConflictJson = json(Conflict)
export const PayloadTooLargeJson = json(PayloadTooLarge)
export const UnsupportedMediaTypeJson = json(UnsupportedMediaType)
export const InternalErrorJson = json(InternalError)
export const BadGatewayJson = json(BadGateway)
export const ServiceUnavailableJson = json(ServiceUnavailable)
export const GatewayTimeoutJson = json(GatewayTimeout)

export const UnauthorizedJson = Unauthorized.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: ErrorBody.pipe(HttpApiSchema.status(401)),
      headers: { "www-authenticate": Schema.String }
    },
    {
      decode: ({ body, headers }) =>
        new Unauthorized({ ...body.error, challenge: headers["www-authenticate"] }),
      encode: (error) => ({ body: bodyOf(error), headers: { "www-authenticate": error.challenge } })
    }
  )
)

/** 403, with `WWW-Authenticate` when the refusal carries a challenge (RFC 6750 §3.1 `insufficient_scope`). */
export const ForbiddenJson = Forbidden.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: ErrorBody.pipe(HttpApiSchema.status(403)),
      headers: { "www-authenticate": Schema.optionalKey(Schema.String) }
    },
    {
      decode: ({ body, headers }) =>
        new Forbidden(
          headers["www-authenticate"] === undefined
            ? body.error
            : { ...body.error, challenge: headers["www-authenticate"] }
        ),
      encode: (error) => ({
        body: bodyOf(error),
        headers: error.challenge === undefined ? {} : { "www-authenticate": error.challenge }
      })
    }
  )
)

export const TooManyRequestsJson = TooManyRequests.pipe(
  HttpApiSchema.encodeToWithHeaders(
    {
      body: ErrorBody.pipe(HttpApiSchema.status(429)),
      headers: { "retry-after": Schema.NumberFromString }
    },
    {
      decode: ({ body, headers }) =>
        new TooManyRequests({ ...body.error, retryAfter: headers["retry-after"] }),
      encode: (error) => ({ body: bodyOf(error), headers: { "retry-after": error.retryAfter } })
    }
  )
)

/**
 * One error `code`, declared once: its status and `type`, and when it is
 * answered (for docs/http-api.md).
 */
export interface DocumentedCode {
  readonly status: number
  readonly type: string
  /** The `code`, or what it is when it varies (written in `<…>`). */
  readonly code: string
  readonly when: string
}

/** A code a handler makes the error of. */
export interface ErrorCode<E> extends DocumentedCode {
  /** The error with this code; `code` overrides a varying one. */
  readonly make: (message: string, code?: string) => E
}

/** A code the security layer answers (../security/): its errors carry more than a message. */
export const documentedCode = (
  self: { readonly status: number },
  type: string,
  code: string,
  when: string
): DocumentedCode => ({ status: self.status, type, code, when })

export const errorCode = <E>(
  self: ErrorClass<E>,
  type: string,
  code: string,
  when: string
): ErrorCode<E> => ({
  ...documentedCode(self, type, code, when),
  make: (message, actual) => new self({ message, type, code: actual ?? code })
})

/** The codes an endpoint answers besides its middleware's, for docs/http-api.md. */
export class ErrorCodes extends Context.Service<ErrorCodes, ReadonlyArray<DocumentedCode>>()(
  "@mcpgate/server/api/ErrorCodes"
) {}
