/**
 * Who a credential on `/v1/*` and `/mcp` stands for (docs/teams.md#principals):
 * a key of `server.apiKeys` (the shared identity), a key of `server.users`
 * (that user), or an access token of `server.auth`'s provider (the user its
 * `userClaim` names; an admin by `adminClaim` or `admin: true`).
 */
import type { GatewayAuthConfig, McpgateConfig } from "@mcpgate/core/Config"
import * as Principal from "@mcpgate/core/Principal"
import { Redacted } from "effect"
import { type Digest, digest, matches } from "./Tokens.ts"

/** The digests of every key in force, each with whom it names. */
export interface KeyTable {
  readonly shared: ReadonlyArray<Digest>
  readonly users: ReadonlyArray<{ readonly digest: Digest; readonly user: string; readonly admin: boolean }>
}

const nonBlank = (keys: ReadonlyArray<Redacted.Redacted<string>> | undefined) =>
  (keys ?? []).filter((key) => Redacted.value(key).trim() !== "")

export const keyTable = (config: McpgateConfig): KeyTable => ({
  shared: nonBlank(config.server.apiKeys).map((key) => digest(Redacted.value(key))),
  users: Object.entries(config.server.users ?? {}).flatMap(([user, settings]) =>
    nonBlank(settings.apiKeys).map((key) => ({
      digest: digest(Redacted.value(key)),
      user,
      admin: settings.admin
    }))
  )
})

export const isEmpty = (table: KeyTable): boolean => table.shared.length === 0 && table.users.length === 0

/**
 * The principal a key names, comparing against every key in constant time
 * (no early exit); `undefined` for an unknown key.
 */
export const principalOfKey = (table: KeyTable, candidate: Digest): Principal.Principal | undefined => {
  let found: Principal.Principal | undefined
  for (const key of table.shared) if (matches(candidate, key) && found === undefined) found = Principal.shared
  for (const entry of table.users) {
    if (matches(candidate, entry.digest) && found === undefined) {
      found = Principal.user(entry.user, entry.admin, "api-key")
    }
  }
  return found
}

/** A dotted claim path (`realm_access.roles`) read from the claims. */
const claimAt = (claims: Readonly<Record<string, unknown>>, path: string): unknown =>
  path.split(".").reduce<unknown>((value, segment) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
    return (value as Record<string, unknown>)[segment]
  }, claims)

/**
 * `adminClaim`: `<claim>` means the claim is `true`; `<claim>=<value>` means it
 * equals the value or is an array (or space-separated string) holding it.
 */
export const isAdminByClaim = (claims: Readonly<Record<string, unknown>>, adminClaim: string | undefined) => {
  if (adminClaim === undefined) return false
  const equals = adminClaim.indexOf("=")
  if (equals === -1) return claimAt(claims, adminClaim) === true
  const value = claimAt(claims, adminClaim.slice(0, equals))
  const wanted = adminClaim.slice(equals + 1)
  if (Array.isArray(value)) return value.includes(wanted)
  if (typeof value === "string") return value === wanted || value.split(" ").includes(wanted)
  return false
}

/** The user an access token's claims name; `undefined` when the `userClaim` is missing. */
export const userOfClaims = (
  config: McpgateConfig,
  auth: GatewayAuthConfig,
  claims: Readonly<Record<string, unknown>>,
  scopes: ReadonlyArray<string>,
  via: "access-token" | "session"
): Principal.User | undefined => {
  const id = claimAt(claims, auth.userClaim)
  if (typeof id !== "string" || id === "") return undefined
  const admin = isAdminByClaim(claims, auth.adminClaim) || config.server.users?.[id]?.admin === true
  return Principal.user(id, admin, via, via === "access-token" ? scopes : undefined)
}
