/**
 * `CredentialStore` on PostgreSQL (docs/store.md): one row per credential in
 * `mcpgate_credentials`, the whole credential sealed with AES-256-GCM (core's
 * Encryption) and bound to its row, so a dump of the database holds no token
 * in clear.
 *
 * Each replica keeps the credentials it has read in a cache, so a tool call
 * with a valid token costs no database round trip. A trigger announces every
 * change on a LISTEN/NOTIFY channel and each replica drops that entry; while
 * the listening connection is down the cache is not used at all (a notice may
 * be missed), and it starts empty again once listening resumes. Inside
 * `withLock` reads always go to the database: a refresh must decide on the
 * newest tokens, never on a cached copy another replica has just rotated.
 */

import { PgClient } from "@effect/sql-pg/PgClient"
import {
  type Credential,
  type CredentialKey,
  formatDocument,
  keyOf,
  parseDocument,
  sortByKey
} from "@mcpgate/core/Credential"
import { CredentialChanges } from "@mcpgate/core/CredentialChanges"
import {
  CredentialStore,
  CredentialStoreError,
  type CredentialStoreShape,
  type LockOptions
} from "@mcpgate/core/CredentialStore"
import * as Encryption from "@mcpgate/core/Encryption"
import {
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  PubSub,
  Queue,
  Redacted,
  Ref,
  Schedule,
  Schema,
  Stream
} from "effect"
import type { SqlError } from "effect/sql/SqlError"
import * as AdvisoryLock from "./internal/AdvisoryLock.ts"
import { observed } from "./internal/StoreSpan.ts"
import * as Migrations from "./Migrations.ts"
import * as StoreDatabase from "./StoreDatabase.ts"
import { describeDatabase, fromSqlError, type StoreError } from "./StoreError.ts"

/** The principal of the gateway's own (shared) credentials; per-user credentials will use the user's id. */
const sharedPrincipal = ""

interface CacheState {
  /** False while the LISTEN connection is down: every read then goes to the database. */
  readonly listening: boolean
  /** Bumped by every change notice, so a read that raced a change does not fill the cache with the old value. */
  readonly generation: number
  readonly entries: ReadonlyMap<string, Option.Option<Credential>>
}

const ChangeNotice = Schema.fromJsonString(Schema.Struct({ principal: Schema.String, key: Schema.String }))
const decodeNotice = Schema.decodeUnknownOption(ChangeNotice)

/** What a sealed credential is bound to: a ciphertext copied to another row does not open. */
const associatedData = (principal: string, key: string) => `mcpgate:credential:${principal}:${key}`

export const toCredentialStoreError = (error: StoreError): CredentialStoreError =>
  new CredentialStoreError({
    reason:
      error.reason === "unavailable" || error.reason === "locked" || error.reason === "corrupt"
        ? error.reason
        : error.reason === "encryption"
          ? "invalid-config"
          : error.reason === "schema-newer"
            ? "unsupported-version"
            : "io",
    message: error.message
  })

const fromEncryptionError = (what: string) => (error: Encryption.EncryptionError) =>
  new CredentialStoreError({
    reason: error.reason === "corrupt" ? "corrupt" : "invalid-config",
    message: `${what}: ${error.message}`
  })

/** Seals one credential as its versioned document (the same as a keychain entry), bound to its row. */
export const sealCredential = (keyring: Encryption.Keyring, principal: string, credential: Credential) =>
  Effect.map(formatDocument([credential], { compact: true }), (document) =>
    Encryption.seal(keyring, document, associatedData(principal, keyOf(credential)))
  )

/** Opens a row sealed by `sealCredential`. */
export const openCredential = (
  keyring: Encryption.Keyring,
  principal: string,
  key: string,
  sealed: string
): Effect.Effect<Credential, CredentialStoreError> =>
  Effect.gen(function* () {
    const what = `the stored credential ${key}`
    const document = yield* Encryption.open(keyring, sealed, associatedData(principal, key)).pipe(
      Effect.mapError(fromEncryptionError(what))
    )
    const credentials = yield* parseDocument(document).pipe(
      Effect.mapError(
        (error) =>
          new CredentialStoreError({
            reason: error.reason === "corrupt" ? "corrupt" : "unsupported-version",
            message: `${what} ${error.message}`
          })
      )
    )
    const credential = credentials.get(key)
    if (credential === undefined) {
      return yield* new CredentialStoreError({
        reason: "corrupt",
        message: `${what} holds another credential`
      })
    }
    return credential
  })

export interface PostgresOptions extends LockOptions {
  /** `postgres://user:password@host:port/database`. */
  readonly url: Redacted.Redacted<string>
  /** The encryption keys; default: `MCPGATE_ENCRYPTION_KEY` (read through `Config`). */
  readonly keyring?: Encryption.Keyring | undefined
}

/**
 * The store over a connected, migrated database. The returned store is only
 * valid inside the scope, which also runs the change listener.
 */
export const makePostgres = Effect.fnUntraced(function* (
  sql: StoreDatabase.Sql,
  keyring: Encryption.Keyring,
  database: string,
  options: LockOptions = {}
) {
  const lockTimeout = Duration.fromInputUnsafe(options.lockTimeout ?? "30 seconds")
  const locks = AdvisoryLock.make(sql)
  const cache = yield* Ref.make<CacheState>({ listening: false, generation: 0, entries: new Map() })
  const sqlFailure = (what: string) => (error: SqlError) =>
    toCredentialStoreError(fromSqlError(database, what)(error))
  const lockName = (key: string) => `credential:${sharedPrincipal}:${key}`

  const changed = yield* PubSub.sliding<string>(1024)
  yield* Effect.forkScoped(listenForChanges(sql, cache, changed))

  const readRow = (key: string) =>
    sql<{ readonly sealed: string }>`
      SELECT sealed FROM mcpgate_credentials WHERE principal = ${sharedPrincipal} AND key = ${key}`.pipe(
      Effect.mapError(sqlFailure(`reading the credential ${key}`)),
      Effect.flatMap((rows) =>
        rows[0] === undefined
          ? Effect.succeedNone
          : Effect.asSome(openCredential(keyring, sharedPrincipal, key, rows[0].sealed))
      )
    )

  const get = (credentialKey: CredentialKey) =>
    Effect.gen(function* () {
      const key = keyOf(credentialKey)
      const held = yield* AdvisoryLock.HeldLocks
      const before = yield* Ref.get(cache)
      const useCache = before.listening && !held.has(lockName(key))
      const cached = useCache ? before.entries.get(key) : undefined
      if (cached !== undefined) return cached
      const value = yield* readRow(key)
      if (useCache) {
        yield* Ref.update(cache, (state) =>
          state.listening && state.generation === before.generation
            ? { ...state, entries: new Map(state.entries).set(key, value) }
            : state
        )
      }
      return value
    })

  const set = (credential: Credential) =>
    Effect.gen(function* () {
      const key = keyOf(credential)
      const sealed = yield* sealCredential(keyring, sharedPrincipal, credential)
      yield* sql`
        INSERT INTO mcpgate_credentials (principal, key, server, url, sealed, key_id, version, updated_at)
        VALUES (${sharedPrincipal}, ${key}, ${credential.server}, ${credential.url}, ${sealed},
                ${keyring.current.id}, nextval('mcpgate_change_seq'), ${Date.now()})
        ON CONFLICT (principal, key) DO UPDATE SET
          server = EXCLUDED.server, url = EXCLUDED.url, sealed = EXCLUDED.sealed,
          key_id = EXCLUDED.key_id, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`.pipe(
        Effect.mapError(sqlFailure(`saving the credential ${key}`))
      )
    })

  const remove = (credentialKey: CredentialKey) =>
    Effect.gen(function* () {
      const key = keyOf(credentialKey)
      const rows = yield* sql`
        DELETE FROM mcpgate_credentials WHERE principal = ${sharedPrincipal} AND key = ${key} RETURNING key`.pipe(
        Effect.mapError(sqlFailure(`deleting the credential ${key}`))
      )
      return rows.length > 0
    })

  const list = Effect.gen(function* () {
    const rows = yield* sql<{ readonly key: string; readonly sealed: string }>`
      SELECT key, sealed FROM mcpgate_credentials WHERE principal = ${sharedPrincipal}`.pipe(
      Effect.mapError(sqlFailure("listing the credentials"))
    )
    const credentials = yield* Effect.forEach(rows, (row) =>
      openCredential(keyring, sharedPrincipal, row.key, row.sealed)
    )
    return sortByKey(credentials)
  })

  const store = {
    backend: "postgres",
    description: `postgres ${database} (secrets encrypted with key ${keyring.current.id})`,
    lockTimeout,
    get: (credentialKey) => get(credentialKey).pipe(observed("credential.get")),
    set: (credential) => set(credential).pipe(observed("credential.set")),
    delete: (credentialKey) => remove(credentialKey).pipe(observed("credential.delete")),
    list: list.pipe(observed("credential.list")),
    withLock: (credentialKey, effect) => {
      const key = keyOf(credentialKey)
      // The span covers the wait for the lock and the work done holding it.
      return locks
        .withLock(
          lockName(key),
          lockTimeout,
          (failure) =>
            failure._tag === "Timeout"
              ? new CredentialStoreError({
                  reason: "locked",
                  message: `could not lock the credential "${credentialKey.server}" within ${Duration.format(lockTimeout)}: another replica or process holds it`
                })
              : sqlFailure(`locking the credential "${credentialKey.server}"`)(failure.error),
          effect
        )
        .pipe(observed("lock"))
    }
  } satisfies CredentialStoreShape
  return { store, changes: Stream.fromPubSub(changed) }
})

/**
 * Keeps the cache honest: LISTEN on the change channel, drop the entry each
 * notice names; when the connection fails, stop using the cache until LISTEN
 * works again (retried every half second), then start from an empty cache.
 */
const listenForChanges = (
  sql: StoreDatabase.Sql,
  cache: Ref.Ref<CacheState>,
  changed: PubSub.PubSub<string>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const notices = yield* sql.listen(Migrations.changeChannel)
      yield* Ref.update(cache, (state) => ({
        listening: true,
        generation: state.generation + 1,
        entries: new Map()
      }))
      while (true) {
        const notice = yield* Queue.take(notices)
        const change = decodeNotice(notice.payload)
        yield* Ref.update(cache, (state) => {
          const entries = new Map(state.entries)
          if (Option.isSome(change) && change.value.principal === sharedPrincipal)
            entries.delete(change.value.key)
          else if (Option.isNone(change)) entries.clear()
          return { ...state, generation: state.generation + 1, entries }
        })
        if (Option.isSome(change) && change.value.principal === sharedPrincipal) {
          yield* PubSub.publish(changed, change.value.key)
        }
      }
    })
  ).pipe(
    Effect.ensuring(
      Ref.update(cache, (state) => ({
        listening: false,
        generation: state.generation + 1,
        entries: new Map()
      }))
    ),
    Effect.retry(Schedule.spaced("500 millis"))
  )

/**
 * `CredentialStore` on PostgreSQL: connects, runs the migrations (refusing a
 * newer schema), and needs `MCPGATE_ENCRYPTION_KEY` (a Postgres store without
 * a key refuses to start).
 */
export const layerPostgres = (
  options: PostgresOptions
): Layer.Layer<CredentialStore | CredentialChanges, CredentialStoreError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const keyring =
        options.keyring ??
        (yield* Encryption.keyringFromConfig.pipe(Effect.mapError(fromEncryptionError("the Postgres store"))))
      const sql = yield* PgClient
      const database = describeDatabase(Redacted.value(options.url))
      yield* StoreDatabase.migrate.pipe(Effect.mapError(toCredentialStoreError))
      const made = yield* makePostgres(sql, keyring, database, options)
      return Context.make(CredentialStore, made.store).pipe(
        Context.add(CredentialChanges, { changes: made.changes })
      )
    })
  ).pipe(
    Layer.provide(
      StoreDatabase.layer(options.url).pipe(
        Layer.catchTag("StoreError", (error) =>
          Layer.effect(PgClient, Effect.fail(toCredentialStoreError(error)))
        )
      )
    )
  )
