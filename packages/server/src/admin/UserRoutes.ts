/**
 * The admin API's users (docs/teams.md#connections): `GET users` (each user
 * with the metadata of their own connections) and
 * `DELETE users/{user}/connections/{server}` (revoke one user's credential).
 */
import type { CredentialMetadata } from "@mcpgate/core/Credential"
import { Effect, Ref } from "effect"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import { userServers } from "../teams/UserCredentials.ts"
import type { AdminContextShape } from "./AdminContext.ts"
import { oauthRefusal } from "./AdminResponses.ts"

const connectionOf = (entry: CredentialMetadata) => ({
  server: entry.server,
  url: entry.url,
  ...(entry.issuer === undefined ? {} : { issuer: entry.issuer }),
  ...(entry.clientId === undefined ? {} : { clientId: entry.clientId }),
  hasAccessToken: entry.hasAccessToken,
  hasRefreshToken: entry.hasRefreshToken,
  ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
  ...(entry.scope === undefined ? {} : { scope: entry.scope }),
  updatedAt: entry.updatedAt
})

/** `GET users` → `{users}`: configured users and anyone holding a credential, by name. */
export const users = (ctx: AdminContextShape) =>
  Effect.gen(function* () {
    const config = yield* Ref.get(ctx.applied)
    const stored = ctx.users === undefined ? [] : yield* ctx.users.list.pipe(Effect.orElseSucceed(() => []))
    const names = new Set([
      ...Object.keys(config.server.users ?? {}),
      ...stored.flatMap((entry) => (entry.principal === undefined ? [] : [entry.principal]))
    ])
    return {
      users: [...names].sort().map((user) => ({
        user,
        admin: config.server.users?.[user]?.admin === true,
        connections: stored.filter((entry) => entry.principal === user).map(connectionOf)
      }))
    }
  })

/** `DELETE users/{user}/connections/{server}` → `{ok, removed, revoked}`. */
export const revoke = (ctx: AdminContextShape, user: string, name: string) =>
  Effect.gen(function* () {
    const config = yield* Ref.get(ctx.applied)
    const server = userServers(config.mcpServers).find((entry) => entry.name === name)
    if (server === undefined || ctx.users === undefined) {
      return yield* AdminErrors.serverNotFound.make(
        `no server named "${name}" with "auth.identity": "user" in the config`
      )
    }
    const result = yield* ctx.users.disconnect(user, server).pipe(Effect.mapError(oauthRefusal))
    if (!result.removed) {
      return yield* AdminErrors.noCredential.make(
        `user "${user}" has no credential of "${name}"; nothing was changed`
      )
    }
    yield* ctx.audit({
      kind: "connection-revoke",
      actor: "admin",
      principal: user,
      server: name,
      outcome: "ok"
    })
    return { ok: true as const, removed: result.removed, revoked: result.revoked }
  })
