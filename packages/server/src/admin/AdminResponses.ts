/**
 * How the admin API answers (docs/http-api.md#admin-api, docs/gateway.md#errors):
 * every answer carries the admin security headers and a bug is a 500 JSON
 * error (`adminResponses`, around every admin route); config and OAuth
 * failures become the group's typed errors.
 */
import type { ConfigError } from "@mcpgate/core/ConfigFile"
import type { OAuthError } from "@mcpgate/oauth/Errors"
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import { BadRequest, type ConfigIssue } from "../api/ApiErrors.ts"
import * as ErrorBody from "../http/ErrorBody.ts"

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

/** Around every admin route: a bug still gets a JSON error, and every answer the admin headers. */
export const adminResponses = HttpRouter.middleware((httpEffect) =>
  httpEffect.pipe(Effect.catchDefect(ErrorBody.internalError), Effect.map(withAdminHeaders))
).layer

/** A config the editor or a reload refused: 400 `invalid_config` with each problem at its line. */
export const configRejected = (message: string, issues: ReadonlyArray<ConfigIssue>): BadRequest =>
  new BadRequest({
    message,
    type: AdminErrors.invalidConfig.type,
    code: AdminErrors.invalidConfig.code,
    issues
  })

export const fromConfigError = (error: ConfigError): BadRequest => configRejected(error.message, error.issues)

/** OAuth failures: the authorization server's (502) unless the configuration is at fault (400). */
export const oauthRefusal = (error: OAuthError) => {
  // The shared store out of reach (docs/store.md#outage): 503, try again once it is back.
  if (error.reason === "store" && error.retryable) return AdminErrors.storeUnavailable.make(error.message)
  return ["configuration", "insecure-endpoint", "pkce-unsupported"].includes(error.reason)
    ? AdminErrors.oauthMisconfigured.make(error.message, error.reason)
    : AdminErrors.oauthFailed.make(error.message, error.reason)
}
