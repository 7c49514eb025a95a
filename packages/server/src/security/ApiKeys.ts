/**
 * Who may use `/v1/*` and `/mcp` (docs/gateway.md#api-keys): with
 * `server.apiKeys`, a request needs one of them as a bearer token; without keys
 * the API is open, which the bind check allows only on loopback, and there a
 * foreign `Host` (DNS rebinding) or `Origin` (a web page driving the local
 * gateway) is refused.
 */
import { isLoopbackHost } from "@mcpgate/core/Address"
import { Effect, Ref } from "effect"
import type { HttpServerRequest } from "effect/http"
import { Refused } from "../http/ErrorBody.ts"
import { type Addresses, hostnameOf } from "./Addresses.ts"
import { bearerToken, type Digest, digest, matchesAny } from "./Tokens.ts"

export interface ApiKeysState {
  /** Digests of the keys in force; a reload replaces them. */
  readonly keys: Ref.Ref<ReadonlyArray<Digest>>
  readonly addresses: Addresses
}

/** Without keys: only requests a page of another site could not have sent. */
const checkOpenRequest = (addresses: Addresses, request: HttpServerRequest.HttpServerRequest) => {
  const hostHeader = request.headers.host
  if (
    hostHeader !== undefined &&
    !addresses.allowedHostnames.has(hostnameOf(hostHeader)) &&
    !isLoopbackHost(hostnameOf(hostHeader))
  ) {
    return Effect.fail(
      new Refused({
        status: 403,
        type: "permission_error",
        code: "forbidden_host",
        message: `the Host "${hostnameOf(hostHeader)}" is not this gateway's (a DNS-rebinding guard); without "server.apiKeys" the API answers only on loopback names or server.publicUrl`
      })
    )
  }
  const origin = request.headers.origin
  if (origin !== undefined && !addresses.allowedOrigins.has(origin)) {
    return Effect.fail(
      new Refused({
        status: 403,
        type: "permission_error",
        code: "forbidden_origin",
        message:
          'cross-origin requests are refused while the API has no keys; set "server.apiKeys" to let other web pages use it'
      })
    )
  }
  return Effect.succeed(undefined)
}

/**
 * Fails with 401/403 when the request may not use the API; else who is calling:
 * `key:` and the hex SHA-256 of its key, or `undefined` while the API has no keys.
 */
export const authorizeApi = (
  state: ApiKeysState,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<string | undefined, Refused> =>
  Effect.flatMap(Ref.get(state.keys), (keys) => {
    if (keys.length === 0) return checkOpenRequest(state.addresses, request)
    const token = bearerToken(request)
    const candidate = typeof token === "string" ? digest(token) : undefined
    if (candidate === undefined || !matchesAny(candidate, keys)) {
      return Effect.fail(
        new Refused({
          status: 401,
          type: "authentication_error",
          code: "invalid_api_key",
          message:
            token === undefined
              ? 'an API key is required: send "Authorization: Bearer <key>" with one of server.apiKeys'
              : "the API key is not valid",
          challenge:
            token === undefined ? 'Bearer realm="mcpgate"' : 'Bearer realm="mcpgate", error="invalid_token"'
        })
      )
    }
    return Effect.succeed(`key:${candidate.toString("hex")}`)
  })
