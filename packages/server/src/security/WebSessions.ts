/**
 * The web UI's sessions (docs/teams.md#sign-in, docs/gateway.md#admin-sessions):
 * a random id in the session cookie, kept in `UiRecords` (kind "ui-session")
 * only under its SHA-256 digest, with whom it stands for (the admin token's
 * holder, or a user signed in through `server.auth`) and its expiry. Over the
 * shared store a session opened on one replica is valid on all of them.
 */
import { randomBytes } from "node:crypto"
import * as Principal from "@mcpgate/core/Principal"
import { Clock, Effect, Option, Redacted, Schema } from "effect"
import { digest } from "./Tokens.ts"
import type { RecordStorage } from "./UiRecords.ts"

/** Whom a session stands for: whoever signed in with the admin token, or a user. */
export const Holder = Schema.Union([Schema.TaggedStruct("AdminToken", {}), Principal.User])
export type Holder = typeof Holder.Type

export const adminTokenHolder: Holder = { _tag: "AdminToken" }

/** The sessions could not be read or written (the shared store is down). */
export class SessionsUnavailable extends Schema.TaggedError<SessionsUnavailable>()("SessionsUnavailable", {
  message: Schema.String
}) {}

export interface WebSessions {
  /** A new session for `holder`; the id goes into the cookie and nowhere else. */
  readonly open: (holder: Holder) => Effect.Effect<Redacted.Redacted<string>, SessionsUnavailable>
  /** Whom the id's session stands for; none when it is unknown, expired or closed. */
  readonly get: (id: string) => Effect.Effect<Option.Option<Holder>, SessionsUnavailable>
  readonly close: (id: string) => Effect.Effect<void, SessionsUnavailable>
}

const keyOf = (id: string): string => digest(id).toString("hex")

const decode = Schema.decodeUnknownOption(Schema.fromJsonString(Holder))
const encode = Schema.encodeSync(Schema.fromJsonString(Holder))

const unavailable = (error: { readonly message: string }) =>
  new SessionsUnavailable({ message: `the web sessions cannot be read: ${error.message}` })

export const make = (storage: RecordStorage, ttlMs: number): WebSessions => ({
  open: (holder) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const id = randomBytes(32).toString("base64url")
      yield* storage.put(keyOf(id), encode(holder), now + ttlMs).pipe(Effect.mapError(unavailable))
      return Redacted.make(id)
    }),
  get: (id) =>
    id === ""
      ? Effect.succeedNone
      : storage.get(keyOf(id)).pipe(
          Effect.mapError(unavailable),
          Effect.map((document) => Option.flatMap(document, decode))
        ),
  close: (id) => storage.remove(keyOf(id)).pipe(Effect.mapError(unavailable))
})
