/**
 * The audit log's events and pages (docs/store.md#audit-log), apart from the
 * log itself so that the web UI's code can read them without Node's modules.
 * An event holds names, outcomes, addresses and config paths, never a value of
 * the config or any secret.
 */
import { Schema } from "effect"

export const AuditKind = Schema.Literals([
  /** A login to an MCP server (CLI, web or step-up); `outcome` is `ok` or the failure's kind. */
  "login",
  /** A credential deleted (`mcpgate logout`, the admin UI's logout). */
  "logout",
  /** A refresh that failed; `outcome` is the failure's kind. */
  "refresh-failure",
  /** The admin token traded for a UI session; `outcome` is `ok` or `refused`, `address` the client's. */
  "admin-sign-in",
  /** The config saved or reloaded through the admin API; `paths` says what changed. */
  "config-change",
  /** An admin revoked one user's connection to a server. */
  "connection-revoke"
])
export type AuditKind = typeof AuditKind.Type

export const AuditEvent = Schema.Struct({
  kind: AuditKind,
  server: Schema.optionalKey(Schema.String),
  /** The user (per-user credentials); absent for the gateway's own identity. */
  principal: Schema.optionalKey(Schema.String),
  outcome: Schema.optionalKey(Schema.String),
  /** Who did it (`admin`). */
  actor: Schema.optionalKey(Schema.String),
  /** The client address. */
  address: Schema.optionalKey(Schema.String),
  /** Dotted config paths that changed (never their values). */
  paths: Schema.optionalKey(Schema.Array(Schema.String))
})
export type AuditEvent = typeof AuditEvent.Type

export const AuditEntry = Schema.Struct({
  /** Increasing: a newer entry has a larger id. */
  id: Schema.Number,
  /** Epoch ms. */
  at: Schema.Number,
  ...AuditEvent.fields
})
export type AuditEntry = typeof AuditEntry.Type

export interface AuditQuery {
  /** Only entries older than this id (the `next` of the previous page). */
  readonly before?: number | undefined
  /** Default 50. */
  readonly limit?: number | undefined
}

export interface AuditPage {
  /** Newest first. */
  readonly entries: ReadonlyArray<AuditEntry>
  /** The `before` of the next (older) page; absent on the last page. */
  readonly next?: number | undefined
}

export const defaultLimit = 50

/** The page of `limit` entries out of some newest-first ones that run past it. */
export const pageOf = (newestFirst: ReadonlyArray<AuditEntry>, limit: number): AuditPage => {
  const entries = newestFirst.slice(0, limit)
  const last = entries.at(-1)
  return newestFirst.length > limit && last !== undefined ? { entries, next: last.id } : { entries }
}

/**
 * The dotted paths where two config documents differ, down to `depth` levels
 * (`mcpServers.notes.url`); values are never part of the answer.
 */
export const changedPaths = (before: unknown, after: unknown, depth = 3, prefix = ""): Array<string> => {
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value)
  if (JSON.stringify(before) === JSON.stringify(after)) return []
  if (depth === 0 || !isRecord(before) || !isRecord(after)) return [prefix === "" ? "(root)" : prefix]
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
  return keys.flatMap((key) =>
    changedPaths(before[key], after[key], depth - 1, prefix === "" ? key : `${prefix}.${key}`)
  )
}
