/**
 * What went wrong with an MCP connection, in words: whatever the SDK rejected with,
 * turned into a typed error whose message names the server and carries no secret
 * (URLs lose their userinfo, query and fragment), and how a stdio process ended.
 */
import type { ServerConfig, Transport } from "@mcpgate/core/Config"
import { SseError } from "@modelcontextprotocol/sdk/client/sse.js"
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import { Predicate } from "effect"
import { McpConnectionError } from "../Errors.ts"
import { StdioProcessTransport } from "./StdioProcessTransport.ts"

/** `1.5 s`: a duration for messages. */
export const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`

/** A URL for messages: no userinfo, query or fragment (they may carry secrets). */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return "(invalid URL)"
  }
}

/** An error's message, with the code of its cause (`ECONNREFUSED` …) when the message lacks it. */
export const errorText = (error: unknown): string => {
  if (error instanceof Error) {
    const cause: unknown = error.cause
    const causeCode =
      Predicate.hasProperty(cause, "code") && Predicate.isString(cause.code) ? cause.code : undefined
    return causeCode !== undefined && !error.message.includes(causeCode)
      ? `${error.message} (${causeCode})`
      : error.message
  }
  return String(error)
}

/** The HTTP status behind an SDK transport error, when there was one. */
export const httpStatusOf = (error: unknown): number | undefined => {
  if (error instanceof StreamableHTTPError || error instanceof SseError) {
    return Predicate.isNumber(error.code) && error.code > 0 ? error.code : undefined
  }
  return undefined
}

/** stdio: the last few lines of stderr, if any. */
export const stderrTail = (transport: SdkTransport): string | undefined => {
  if (!(transport instanceof StdioProcessTransport)) return undefined
  const tail = transport.stderrTail.trim().split("\n").slice(-5).join("\n").slice(-800)
  return tail.length > 0 ? tail : undefined
}

/** stdio: how the process ended, once it has. */
export const exitSummary = (transport: SdkTransport): string | undefined => {
  if (!(transport instanceof StdioProcessTransport) || transport.exit === undefined) return undefined
  const { code, signal } = transport.exit
  return signal !== null
    ? `the server process was killed by ${signal}`
    : `the server process exited with code ${code}`
}

/** Turns whatever the SDK rejected `connect` with into a typed, human error. */
export const classifyOpenError = (
  server: ServerConfig,
  kind: Transport,
  transport: SdkTransport,
  timeoutMs: number,
  error: unknown
): McpConnectionError => {
  const stderr = stderrTail(transport)
  const make = (reason: McpConnectionError["reason"], message: string, status?: number) =>
    new McpConnectionError({
      server: server.name,
      reason,
      message: `server "${server.name}": ${message}`,
      ...(status === undefined ? {} : { status }),
      ...(stderr === undefined ? {} : { stderr })
    })
  const where = server.url === undefined ? "" : ` from ${displayUrl(server.url)}`
  if (Predicate.isTagged(error, "AuthorizationRequired")) {
    // Its message already names the command that fixes it (a login, or one with more scope).
    return make("needs_auth", errorText(error))
  }
  const status = httpStatusOf(error)
  if (status === 401 || status === 403) {
    return server.auth !== undefined
      ? make(
          "needs_auth",
          `HTTP ${status}${where}: authorization needed; run \`mcpgate login ${server.name}\``,
          status
        )
      : make(
          "unauthorized",
          `HTTP ${status}${where}: the server refused our credentials; check the configured headers, or add "auth": {"type": "oauth2"}`,
          status
        )
  }
  if (status !== undefined)
    return make("transport", `HTTP ${status}${where} (${kind}): ${errorText(error)}`, status)
  if (error instanceof McpError) {
    if (error.code === ErrorCode.RequestTimeout) {
      return make("timeout", `initialize did not answer within ${seconds(timeoutMs)}`)
    }
    if (error.code === ErrorCode.ConnectionClosed) {
      const exit = exitSummary(transport)
      return make("transport", `${exit ?? "the connection closed"} before initialize completed`)
    }
    return make("protocol", `initialize failed: ${error.message}`)
  }
  if (
    Predicate.hasProperty(error, "syscall") &&
    Predicate.isString(error.syscall) &&
    error.syscall.startsWith("spawn")
  ) {
    return make("spawn", `could not start "${server.command ?? ""}": ${errorText(error)}`)
  }
  return make("transport", `${kind}${where}: ${errorText(error)}`)
}

/** Whether an error means the server answered (so the connection is alive). */
export const serverAnswered = (error: unknown): boolean =>
  error instanceof McpError &&
  error.code !== ErrorCode.ConnectionClosed &&
  error.code !== ErrorCode.RequestTimeout
