/**
 * Who is asking (docs/teams.md#principals): a named user (by an API key of
 * `server.users`, or signed in through `server.auth`), the shared identity
 * (a key of `server.apiKeys`), or the local owner (the API without keys, on
 * loopback only). Credentials of `identity: "user"` servers, per-user
 * connections, access logs and audit entries carry it.
 */
import { Schema } from "effect"

/** How a user proved who they are. */
export const UserVia = Schema.Literals(["api-key", "access-token", "session"])
export type UserVia = typeof UserVia.Type

export const User = Schema.TaggedStruct("User", {
  /** The name in `server.users`, or the `userClaim` of the provider's token. */
  id: Schema.String,
  admin: Schema.Boolean,
  via: UserVia,
  /** Scopes of the access token (absent for API keys and sessions). */
  scopes: Schema.optionalKey(Schema.Array(Schema.String))
})
export type User = typeof User.Type

/** A key of `server.apiKeys`: everyone holding one acts as the same identity. */
export const Shared = Schema.TaggedStruct("Shared", {})
export type Shared = typeof Shared.Type

/** The API without keys, reachable from this machine only. */
export const Local = Schema.TaggedStruct("Local", {})
export type Local = typeof Local.Type

export const Principal = Schema.Union([User, Shared, Local])
export type Principal = typeof Principal.Type

export const user = (id: string, admin: boolean, via: UserVia, scopes?: ReadonlyArray<string>): User =>
  scopes === undefined ? { _tag: "User", id, admin, via } : { _tag: "User", id, admin, via, scopes }

export const shared: Shared = { _tag: "Shared" }

export const local: Local = { _tag: "Local" }

/**
 * The principal in one short word for logs and audit lines: `user:<id>`,
 * `shared` or `local`. Never a key or a token.
 */
export const label = (principal: Principal): string => {
  switch (principal._tag) {
    case "User":
      return `user:${principal.id}`
    case "Shared":
      return "shared"
    case "Local":
      return "local"
  }
}

/** The user's id, when the principal is a user. */
export const userId = (principal: Principal): string | undefined =>
  principal._tag === "User" ? principal.id : undefined
