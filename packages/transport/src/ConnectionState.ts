/**
 * The state model of server connections (docs/connections.md#states), as the client manager reports it
 * to the CLI (`status`), the admin API and the UI's event stream.
 */
import type { Transport, TransportSetting } from "@mcpgate/core/Config"

/**
 * - `disabled`: `enabled: false` in the config; never connected.
 * - `disconnected`: not connected and not trying (stopped by `disconnect`), or lost and waiting to retry.
 * - `connecting`: opening, initializing or listing tools.
 * - `connected`: ready; its tools are exposed.
 * - `needs_auth`: the server wants authorization the gateway does not have; waits for a login.
 * - `error`: the last attempt failed; `nextRetryAt` says when the next one starts.
 */
export type ServerState = "disabled" | "disconnected" | "connecting" | "connected" | "needs_auth" | "error"

export const serverStates: ReadonlyArray<ServerState> = [
  "disabled",
  "disconnected",
  "connecting",
  "connected",
  "needs_auth",
  "error"
]

export interface ServerInfo {
  readonly name: string
  readonly version: string
  readonly title?: string
}

export interface ServerStatus {
  readonly name: string
  /** The transport in use while connected (`auto` resolved), else the configured one. */
  readonly transport: Transport | TransportSetting
  readonly state: ServerState
  /** A human message; never holds secrets (no headers, tokens or URL queries). */
  readonly lastError?: string
  /**
   * stdio: the last lines the process wrote to stderr when it failed or exited. A
   * detail of the host: the admin API and the CLI show it, `/v1/mcp/servers` does not.
   */
  readonly stderr?: string
  /** Epoch milliseconds of the last successful connection. */
  readonly lastConnectedAt?: number
  /** Epoch milliseconds of the next automatic attempt, while one is scheduled. */
  readonly nextRetryAt?: number
  /** Failed attempts since the last success. */
  readonly attempts: number
  /** Tools exposed after `tools.allow`/`deny` (0 while not connected). */
  readonly toolCount: number
  readonly serverInfo?: ServerInfo
  /** stdio: the server's pid while connected. */
  readonly pid?: number
}

/** What the manager publishes on `changes`. */
export type ManagerChange =
  | { readonly _tag: "StatusChanged"; readonly status: ServerStatus }
  | { readonly _tag: "ToolsChanged"; readonly server: string; readonly toolCount: number }
  | { readonly _tag: "ServerRemoved"; readonly server: string }
