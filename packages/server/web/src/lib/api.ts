/**
 * JSON requests to the gateway. Errors come back as the gateway's
 * `{error: {message, type, code?}}` (docs/http-api.md#errors), turned into `ApiError`.
 */
import type { ConfigIssue } from "../../../src/api/ApiErrors.ts"

export type { ConfigIssue } from "../../../src/api/ApiErrors.ts"

export class ApiError extends Error {
  readonly status: number
  readonly code: string | undefined
  readonly issues: ReadonlyArray<ConfigIssue>
  constructor(status: number, message: string, code?: string, issues: ReadonlyArray<ConfigIssue> = []) {
    super(message)
    this.name = "ApiError"
    this.status = status
    this.code = code
    this.issues = issues
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The gateway's error body as an `ApiError`; anything else (a proxy's page) gets a generic message. */
export const errorFrom = (status: number, body: unknown): ApiError => {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined
  const message =
    typeof error?.message === "string"
      ? error.message
      : `the gateway answered ${status} without an error message`
  const code = typeof error?.code === "string" ? error.code : undefined
  const issues = Array.isArray(error?.issues) ? (error.issues as ReadonlyArray<ConfigIssue>) : []
  return new ApiError(status, message, code, issues)
}

export interface RequestOptions {
  readonly method?: string
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
}

/** A JSON request; resolves with the parsed body of a 2xx answer, rejects with `ApiError` otherwise. */
export const requestJson = async <A>(url: string, options: RequestOptions = {}): Promise<A> => {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers }
  if (options.body !== undefined) headers["content-type"] = "application/json"
  let response: Response
  try {
    response = await fetch(url, {
      method: options.method ?? "GET",
      headers,
      credentials: "same-origin",
      cache: "no-store",
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      ...(options.signal === undefined ? {} : { signal: options.signal })
    })
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error
    throw new ApiError(0, "the gateway cannot be reached")
  }
  const text = await response.text()
  let body: unknown
  try {
    body = text === "" ? undefined : JSON.parse(text)
  } catch {
    body = undefined
  }
  if (!response.ok) throw errorFrom(response.status, body)
  return body as A
}

export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : "something went wrong"
