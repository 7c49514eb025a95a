/**
 * An upstream failure as the OpenAI-compatible routes answer it
 * (docs/gateway.md#upstream): the upstream's own error status and body when it
 * sent one, as a faithful proxy would, else a gateway error with a stable code.
 */
import { HttpServerResponse } from "effect/http"
import { isJsonObject } from "./ChatFormat.ts"
import type { UpstreamError } from "./Upstream.ts"

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The status and `error` object for an upstream failure (the upstream's own error object when it sent one). */
export const fromUpstream = (error: UpstreamError): { readonly status: number; readonly error: unknown } => {
  switch (error._tag) {
    case "UpstreamNotConfigured":
      return {
        status: 503,
        error: { message: error.message, type: "upstream_error", code: "upstream_not_configured" }
      }
    case "UpstreamUnreachable":
      return {
        status: 502,
        error: { message: error.message, type: "upstream_error", code: "upstream_unreachable" }
      }
    case "UpstreamProtocolError":
      return {
        status: 502,
        error: { message: error.message, type: "upstream_error", code: "upstream_invalid_response" }
      }
    case "UpstreamStatusError": {
      const parsed = parseJson(error.body)
      return {
        status: error.status,
        error:
          isJsonObject(parsed) && parsed.error !== undefined
            ? parsed.error
            : { message: error.message, type: "upstream_error", code: `upstream_status_${error.status}` }
      }
    }
  }
}

/**
 * An upstream failure as a response; an error status of the upstream passes
 * through with its own body, as a faithful proxy would.
 */
export const upstreamResponse = (error: UpstreamError): HttpServerResponse.HttpServerResponse => {
  if (error._tag === "UpstreamStatusError") {
    return HttpServerResponse.text(error.body, {
      status: error.status,
      contentType: error.contentType ?? "application/json"
    })
  }
  const { status, error: body } = fromUpstream(error)
  return HttpServerResponse.jsonUnsafe({ error: body }, { status })
}
