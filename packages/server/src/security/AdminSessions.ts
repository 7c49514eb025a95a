/**
 * The web UI's admin sessions (docs/gateway.md#admin-sessions): random ids handed
 * out in the session cookie, kept here only as digests with their expiry, at most
 * `maxSessions` of them (the oldest go first, so a flood of sign-ins cannot grow
 * memory without bound).
 */
import { randomBytes } from "node:crypto"
import { Clock, Effect, Redacted, Ref } from "effect"
import { digest } from "./Tokens.ts"

export const maxSessions = 64

export interface AdminSessions {
  /** A new session; the id goes into the cookie and nowhere else. */
  readonly open: Effect.Effect<Redacted.Redacted<string>>
  /** Whether the id names a session that has not expired (an expired one is forgotten). */
  readonly isValid: (id: string) => Effect.Effect<boolean>
  readonly close: (id: string) => Effect.Effect<void>
}

/** Session id digests (hex) → expiry (epoch ms), oldest first. */
type Sessions = ReadonlyMap<string, number>

const keyOf = (id: string): string => digest(id).toString("hex")

const withNew = (sessions: Sessions, key: string, now: number, ttlMs: number): Sessions => {
  const kept = [...sessions].filter(([, expiresAt]) => expiresAt > now)
  return new Map([...kept.slice(Math.max(0, kept.length - maxSessions + 1)), [key, now + ttlMs]])
}

export const make = (ttlMs: number): Effect.Effect<AdminSessions> =>
  Effect.map(Ref.make<Sessions>(new Map()), (sessions) => ({
    open: Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const id = randomBytes(32).toString("base64url")
      yield* Ref.update(sessions, (current) => withNew(current, keyOf(id), now, ttlMs))
      return Redacted.make(id)
    }),
    isValid: (id) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(sessions, (current) => {
          const key = keyOf(id)
          const expiresAt = current.get(key)
          if (expiresAt === undefined) return [false, current]
          if (expiresAt > now) return [true, current]
          const next = new Map(current)
          next.delete(key)
          return [false, next]
        })
      ),
    close: (id) =>
      Ref.update(sessions, (current) => {
        const next = new Map(current)
        next.delete(keyOf(id))
        return next
      })
  }))
