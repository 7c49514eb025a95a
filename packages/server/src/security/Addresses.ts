/**
 * Where the gateway is reached, from the configuration only (never from a
 * request's `Host`): its own origin, the `Origin`s its pages send, the host
 * names accepted while the API has no keys (docs/gateway.md#public-url).
 */
import { isIP } from "node:net"
import { isLoopbackHost } from "@mcpgate/core/Address"
import type { McpgateConfig } from "@mcpgate/core/Config"

const unbracket = (host: string): string =>
  host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host

/** `0.0.0.0` and `::`: every interface, so a browser cannot use it as an origin. */
const isWildcardHost = (host: string): boolean => {
  const name = unbracket(host.trim())
  return name === "0.0.0.0" || name === "::" || name === ""
}

/** A host as it appears in a URL (IPv6 in brackets). */
const urlHost = (host: string): string => {
  const name = unbracket(host)
  return isIP(name) === 6 ? `[${name}]` : name
}

/** The host name of a `Host` header (port and IPv6 brackets removed). */
export const hostnameOf = (hostHeader: string): string => {
  const value = hostHeader.trim().toLowerCase()
  if (value.startsWith("[")) return value.slice(1, Math.max(1, value.indexOf("]")))
  const colon = value.lastIndexOf(":")
  return colon === -1 ? value : value.slice(0, colon)
}

/** `server.publicUrl`'s host when it is not a loopback name: the gateway is reached from elsewhere. */
export const exposedPublicHost = (config: McpgateConfig): string | undefined => {
  const publicUrl = config.server.publicUrl
  if (publicUrl === undefined) return undefined
  const parsed = URL.parse(publicUrl)
  if (parsed === null) return publicUrl
  return isLoopbackHost(parsed.hostname) ? undefined : parsed.host
}

export interface Addresses {
  /** The gateway's own origin: `server.publicUrl`'s, else `http://<host>:<port>`. */
  readonly origin: string
  /** Where the gateway is reached (no trailing slash); absent when it listens everywhere and `publicUrl` is unset. */
  readonly publicUrl: string | undefined
  /** Every `Origin` a browser page of this gateway may send. */
  readonly allowedOrigins: ReadonlySet<string>
  /** Host names a request may carry in `Host` when the API is open (DNS-rebinding guard). */
  readonly allowedHostnames: ReadonlySet<string>
  /** Whether cookies get `Secure` (an https `publicUrl`). */
  readonly secure: boolean
}

/** The origins of the gateway, from the configuration only (never from a request's `Host`). */
export const addresses = (config: McpgateConfig, host: string, port: number): Addresses => {
  const bound = `http://${urlHost(host)}:${port}`
  const configured = config.server.publicUrl === undefined ? undefined : URL.parse(config.server.publicUrl)
  const origin = configured?.origin ?? bound
  const publicUrl =
    configured === undefined || configured === null
      ? isWildcardHost(host)
        ? undefined
        : bound
      : `${configured.origin}${configured.pathname.replace(/\/+$/, "")}`
  const allowedOrigins = new Set([origin, bound])
  const allowedHostnames = new Set([unbracket(host).toLowerCase()])
  if (isLoopbackHost(host)) {
    for (const alias of ["127.0.0.1", "localhost", "[::1]"]) allowedOrigins.add(`http://${alias}:${port}`)
  }
  if (configured !== undefined && configured !== null) allowedHostnames.add(unbracket(configured.hostname))
  return { origin, publicUrl, allowedOrigins, allowedHostnames, secure: configured?.protocol === "https:" }
}
