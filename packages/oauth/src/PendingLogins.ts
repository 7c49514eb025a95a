/**
 * The web UI's logins between `OAuthManager.beginLogin` and `completeLogin`:
 * the browser is at the authorization server meanwhile, and the login is
 * found again by the `state` it comes back with (RFC 6749 §10.12), for 10
 * minutes at most.
 *
 * A service of its own so that a shared store can hold pending logins later
 * (one replica begins a login, another completes it). A `PendingLogin` is
 * plain data (no functions, no key handles) for that reason; it holds the PKCE
 * verifier, so it is as secret as a token and never logged.
 */

import type { ServerConfig } from "@mcpgate/core/Config"
import { ClientRegistration } from "@mcpgate/core/Credential"
import type { RecordStorage } from "@mcpgate/core/RecordStorage"
import { Clock, Context, Effect, Layer, Option, Predicate, Redacted, Ref, Schema } from "effect"
import type { PendingAuthorization } from "./AuthorizationFlow.ts"
import type { Discovered } from "./Discovery.ts"

/** A login between `beginLogin` and `completeLogin`: plain data, as secret as a token. */
export interface PendingLogin {
  readonly server: ServerConfig
  readonly discovered: Discovered
  readonly registration: ClientRegistration
  /** The scopes asked for (stored as granted when the response names none). */
  readonly scopes: ReadonlyArray<string>
  /** The authorization request: its `state`, PKCE verifier and redirect URI. */
  readonly authorization: PendingAuthorization
  /** Epoch ms. */
  readonly expiresAt: number
}

/** A shared store of pending logins cannot be reached now; the login may be started again later. */
export class PendingLoginsUnavailable extends Schema.TaggedError<PendingLoginsUnavailable>()(
  "PendingLoginsUnavailable",
  { message: Schema.String }
) {}

/** Where pending logins wait for their callback. */
export interface PendingLoginsShape {
  /** Keeps a login under its `authorization.state` until `expiresAt`. */
  readonly put: (login: PendingLogin) => Effect.Effect<void, PendingLoginsUnavailable>
  /** Removes and returns the login of `state`; none when it is unknown or expired. */
  readonly take: (state: string) => Effect.Effect<Option.Option<PendingLogin>, PendingLoginsUnavailable>
}

/** Pending logins in this process's memory; expired ones are dropped as new ones arrive. */
export const makeMemory: Effect.Effect<PendingLoginsShape> = Effect.gen(function* () {
  const logins = yield* Ref.make<ReadonlyMap<string, PendingLogin>>(new Map())
  return {
    put: (login) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(logins, (current) => {
          const next = new Map([...current].filter(([, entry]) => entry.expiresAt > now))
          return next.set(login.authorization.state, login)
        })
      ),
    take: (state) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(logins, (current) => {
          const login = current.get(state)
          if (login === undefined) return [Option.none(), current]
          const next = new Map(current)
          next.delete(state)
          return [login.expiresAt > now ? Option.some(login) : Option.none(), next]
        })
      )
  } satisfies PendingLoginsShape
})

/**
 * Where a shared store keeps pending logins as text (docs/store.md): a
 * document under an id until an expiry, taken (read and removed) once. The
 * store encrypts the documents; they hold the PKCE verifier.
 */
export type PendingLoginStorage = Pick<RecordStorage, "put" | "take">

// The document: the login as JSON, with the values JSON cannot hold (Redacted
// secrets, URLs) as tagged objects, so that it comes back as it went in.
const tag = "$mcpgate"

const encodeRegistration = Schema.encodeSync(ClientRegistration)

const toDocument = (login: PendingLogin): string =>
  // The registration goes in its own encoded form (a Schema class), read back by its decoder.
  JSON.stringify(
    { ...login, registration: encodeRegistration(login.registration) },
    function (this: Record<string, unknown>, key: string, value: unknown) {
      const original = this[key]
      if (Redacted.isRedacted(original)) return { [tag]: "redacted", value: Redacted.value(original) }
      if (original instanceof URL) return { [tag]: "url", href: original.href }
      return value
    }
  )

const revive = (_key: string, value: unknown): unknown => {
  if (!Predicate.isObject(value) || !Predicate.hasProperty(value, tag)) return value
  if (value[tag] === "redacted" && Predicate.hasProperty(value, "value")) return Redacted.make(value.value)
  if (value[tag] === "url" && Predicate.hasProperty(value, "href") && typeof value.href === "string") {
    return new URL(value.href)
  }
  return value
}

const isServerConfig = (u: unknown): u is ServerConfig =>
  Predicate.isObject(u) && Predicate.hasProperty(u, "name") && typeof u.name === "string"
const isDiscovered = (u: unknown): u is Discovered =>
  Predicate.isObject(u) &&
  Predicate.hasProperty(u, "serverUrl") &&
  typeof u.serverUrl === "string" &&
  Predicate.hasProperty(u, "authorizationServer") &&
  Predicate.isObject(u.authorizationServer)

const PendingLoginDocument = Schema.Struct({
  server: Schema.declare(isServerConfig),
  discovered: Schema.declare(isDiscovered),
  registration: Schema.declare((u): u is ClientRegistration => u instanceof ClientRegistration),
  scopes: Schema.Array(Schema.String),
  authorization: Schema.Struct({
    url: Schema.instanceOf(URL),
    state: Schema.String,
    codeVerifier: Schema.declare((u): u is Redacted.Redacted<string> => Redacted.isRedacted(u)),
    redirectUri: Schema.String
  }),
  expiresAt: Schema.Finite
})
const decodeDocument = Schema.decodeUnknownOption(PendingLoginDocument)

/** A stored document as a login again; none when it does not read (a damaged document is a spent login). */
const fromDocument = (document: string): Option.Option<PendingLogin> =>
  Option.flatMap(Option.liftThrowable(() => JSON.parse(document, revive) as unknown)(), (parsed) => {
    if (!Predicate.isObject(parsed) || !Predicate.hasProperty(parsed, "registration")) return Option.none()
    // The registration is a Schema class: rebuilt (and checked) from its fields.
    const registration = Schema.decodeUnknownOption(ClientRegistration)(parsed.registration)
    return Option.flatMap(registration, (value) => decodeDocument({ ...parsed, registration: value }))
  })

const unavailable = (error: { readonly message: string }) =>
  new PendingLoginsUnavailable({ message: `pending web logins: ${error.message}` })

/**
 * Pending logins in a shared store, so that any replica completes a login
 * another one began. A storage failure is `PendingLoginsUnavailable`: the
 * admin API answers 503 and the user starts the login again later.
 */
export const makeShared = (storage: PendingLoginStorage): PendingLoginsShape => ({
  put: (login) =>
    storage
      .put(login.authorization.state, toDocument(login), login.expiresAt)
      .pipe(Effect.mapError(unavailable)),
  take: (state) =>
    storage.take(state).pipe(
      Effect.mapError(unavailable),
      Effect.map((document) => Option.flatMap(document, fromDocument)),
      Effect.flatMap((login) =>
        Effect.map(Clock.currentTimeMillis, (now) => Option.filter(login, (entry) => entry.expiresAt > now))
      )
    )
})

/** The web UI's pending logins, found again by their `state`. */
export class PendingLogins extends Context.Service<PendingLogins, PendingLoginsShape>()(
  "@mcpgate/oauth/PendingLogins"
) {
  /** In this process only: a login must complete in the process that began it. */
  static readonly layerMemory: Layer.Layer<PendingLogins> = Layer.effect(PendingLogins, makeMemory)

  /** In a shared store: a login begun on one replica completes on any other. */
  static readonly layerShared = (storage: PendingLoginStorage): Layer.Layer<PendingLogins> =>
    Layer.succeed(PendingLogins, makeShared(storage))
}
