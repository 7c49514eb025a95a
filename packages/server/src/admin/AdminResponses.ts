/**
 * How the admin API answers (docs/gateway.md#admin-api, #errors): JSON with the
 * admin security headers, errors as `{error: {message, type, code}}`, config
 * errors with their `issues`.
 */
import type { ConfigError } from "@mcpgate/core/ConfigFile"
import type { OAuthError } from "@mcpgate/oauth/Errors"
import { Effect, Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import { Refused } from "../http/ErrorBody.ts"

/** Headers every admin response carries: no sniffing, no referrer, no caching, no framing. */
export const adminHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-frame-options": "DENY"
} as const

export const withAdminHeaders = (
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => HttpServerResponse.setHeaders(response, adminHeaders)

export const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })

/** The config editor's save was refused: the problems, each at its line. */
export class ConfigRejected extends Schema.TaggedError<ConfigRejected>()("ConfigRejected", {
  message: Schema.String,
  issues: Schema.Array(
    Schema.Struct({
      path: Schema.String,
      message: Schema.String,
      line: Schema.optionalKey(Schema.Number),
      column: Schema.optionalKey(Schema.Number)
    })
  )
}) {}

export const fromConfigError = (error: ConfigError) =>
  new ConfigRejected({ message: error.message, issues: error.issues })

const rejectedResponse = (error: ConfigRejected) =>
  HttpServerResponse.jsonUnsafe(
    {
      error: {
        message: error.message,
        type: "invalid_request_error",
        code: "invalid_config",
        issues: error.issues
      }
    },
    { status: 400 }
  )

export const badBody = (message: string) =>
  new Refused({ status: 400, type: "invalid_request_error", code: "invalid_body", message })

export const serverNotFound = (name: string) =>
  new Refused({
    status: 404,
    type: "not_found_error",
    code: "server_not_found",
    message: `no server named "${name}" in the config`
  })

/** OAuth failures: the authorization server's (502) unless the configuration is at fault (400). */
export const oauthRefusal = (error: OAuthError) =>
  new Refused({
    status: ["configuration", "insecure-endpoint", "pkce-unsupported"].includes(error.reason) ? 400 : 502,
    type: "oauth_error",
    code: error.reason,
    message: error.message
  })

/** A handler's outcome as the admin answer: its errors as JSON, a bug as a 500, the admin headers on all. */
export const finish = <R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, Refused | ConfigRejected, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  effect.pipe(
    Effect.catchTags({
      Refused: (refused) => Effect.succeed(ErrorBody.toResponse(refused)),
      ConfigRejected: (rejected) => Effect.succeed(rejectedResponse(rejected))
    }),
    Effect.catchDefect(ErrorBody.internalError),
    Effect.map(withAdminHeaders)
  )
