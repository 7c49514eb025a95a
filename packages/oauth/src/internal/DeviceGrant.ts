/**
 * The device authorization grant (RFC 8628, docs/oauth.md#device-flow): the
 * device authorization request, then polling the token endpoint every
 * `interval` seconds (5 unless told), 5 s slower for good on `slow_down`,
 * doubling (up to a minute) after a failed request, until approval, denial
 * or the code's expiry (RFC 8628 §3.4, §3.5).
 */
import { Clock, Duration, Effect, Redacted } from "effect"
import * as oauth from "oauth4webapi"
import type { DeviceCodeInfo, GrantContext } from "../AuthorizationFlow.ts"
import { OAuthError } from "../Errors.ts"
import { request } from "./Http.ts"
import {
  audienceParameter,
  endpoint,
  resourceParameter,
  scopeParameter,
  withDpopRetry
} from "./TokenRequest.ts"

/** Seconds; the polling interval never grows past this after network errors. */
const maxDeviceInterval = 60

/**
 * Starts the device authorization, tells `onDeviceCode` what to show the
 * user, and polls until the token response. Fails with reason "timeout"
 * (the code expired), "access-denied", "authorization" (the start was
 * refused), "token", or "discovery" / "insecure-endpoint" for an unusable
 * device authorization endpoint.
 */
export const device = Effect.fn("AuthorizationFlow.device")(function* (
  context: GrantContext,
  onDeviceCode: (info: DeviceCodeInfo) => Effect.Effect<void>
) {
  const { server, authorizationServer, session } = context
  const name = server.name
  const as = authorizationServer.metadata
  const deviceEndpoint = yield* endpoint(
    context,
    "device_authorization_endpoint",
    "device authorization endpoint"
  )
  const started = yield* request(
    name,
    "authorization",
    `starting the device authorization at ${deviceEndpoint.origin}${deviceEndpoint.pathname}`,
    async (http) => {
      const response = await oauth.deviceAuthorizationRequest(
        as,
        session.client,
        session.auth,
        { ...scopeParameter(context), ...resourceParameter(context), ...audienceParameter(context) },
        http
      )
      return oauth.processDeviceAuthorizationResponse(as, session.client, response)
    }
  )
  yield* onDeviceCode({
    userCode: started.user_code,
    verificationUri: started.verification_uri,
    verificationUriComplete: started.verification_uri_complete,
    expiresIn: started.expires_in
  })
  const deadline = (yield* Clock.currentTimeMillis) + started.expires_in * 1000
  const deviceCode = Redacted.make(started.device_code)
  // RFC 8628 §3.5: 5 s unless told otherwise; `slow_down` adds 5 s for good.
  let interval = typeof started.interval === "number" && started.interval > 0 ? started.interval : 5
  for (;;) {
    yield* Effect.sleep(Duration.seconds(interval))
    if ((yield* Clock.currentTimeMillis) >= deadline) {
      return yield* OAuthError.of(
        name,
        "timeout",
        "the device code expired before the login was approved; start again"
      )
    }
    const polled = yield* request(
      name,
      "token",
      "polling the token endpoint",
      withDpopRetry(context.dpop, async (http) => {
        const response = await oauth.deviceCodeGrantRequest(
          as,
          session.client,
          session.auth,
          Redacted.value(deviceCode),
          {
            ...http,
            additionalParameters: resourceParameter(context),
            ...(context.dpop === undefined ? {} : { DPoP: context.dpop })
          }
        )
        return oauth.processDeviceCodeResponse(as, session.client, response)
      })
    ).pipe(Effect.result)
    if (polled._tag === "Success") return polled.success
    const error = polled.failure
    switch (error.oauthError) {
      case "authorization_pending":
        continue
      case "slow_down":
        interval += 5
        yield* Effect.logDebug(`${name}: the server asked to poll more slowly (every ${interval} s)`)
        continue
      case "expired_token":
        return yield* OAuthError.of(
          name,
          "timeout",
          "the device code expired before the login was approved; start again",
          {
            oauthError: "expired_token"
          }
        )
      case "access_denied":
        return yield* OAuthError.of(name, "access-denied", "the login was denied on the device page", {
          oauthError: "access_denied"
        })
    }
    if (error.retryable) {
      // RFC 8628 §3.5: poll less often after a failed request (doubling, as it recommends).
      interval = Math.min(interval * 2, maxDeviceInterval)
      yield* Effect.logWarning(`${error.message}; polling again in ${interval} s`)
      continue
    }
    return yield* error
  }
})
