/**
 * Locks across every replica (docs/store.md#locks): PostgreSQL session-level
 * advisory locks, held on a connection reserved from the pool for as long as
 * the work runs. A replica that dies loses its connection and with it the
 * lock, so a crashed holder never blocks the others for longer than the
 * server takes to notice the dead connection.
 *
 * In this process the fibers wanting one lock queue on a semaphore first, so
 * a replica takes at most one connection per lock. The wait for both counts
 * against the timeout; the server enforces the rest with `lock_timeout`
 * (SQLSTATE 55P03), so a waiter never polls. Re-entrant per fiber.
 */
import { createHash } from "node:crypto"
import { Context, Duration, Effect, Scope, Semaphore } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/** The names of the locks the current fiber holds. */
export const HeldLocks = Context.Reference<ReadonlySet<string>>(
  "@mcpgate/store/internal/AdvisoryLock/HeldLocks",
  {
    defaultValue: () => new Set()
  }
)

/** A lock name as the signed 64-bit key `pg_advisory_lock` takes (the first 8 bytes of its SHA-256). */
export const lockKey = (name: string): string =>
  createHash("sha256").update(`mcpgate:${name}`).digest().readBigInt64BE(0).toString()

export type LockFailure = { readonly _tag: "Timeout" } | { readonly _tag: "Sql"; readonly error: SqlError }

export const make = (sql: SqlClient) => {
  const semaphores = new Map<string, Semaphore.Semaphore>()
  const semaphoreFor = (name: string) => {
    let semaphore = semaphores.get(name)
    if (semaphore === undefined) {
      semaphore = Semaphore.makeUnsafe(1)
      semaphores.set(name, semaphore)
    }
    return semaphore
  }

  /** Runs `effect` holding the lock `name` in every replica; `onFailure` builds the error of a timeout or a SQL failure. */
  const withLock = <A, E, R, E2>(
    name: string,
    timeout: Duration.Duration,
    onFailure: (failure: LockFailure) => E2,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | E2, R> =>
    Effect.gen(function* () {
      const held = yield* HeldLocks
      if (held.has(name)) return yield* effect
      return yield* Effect.scopedWith((scope) =>
        Effect.gen(function* () {
          const started = Date.now()
          yield* semaphoreFor(name)
            .takeScoped(1)
            .pipe(
              Scope.provide(scope),
              Effect.timeoutOrElse({
                duration: timeout,
                orElse: () => Effect.fail(onFailure({ _tag: "Timeout" }))
              })
            )
          const left = Math.max(1, Duration.toMillis(timeout) - (Date.now() - started))
          yield* acquire(sql, name, left).pipe(
            Scope.provide(scope),
            Effect.mapError((error) =>
              onFailure(
                error.reason._tag === "LockTimeoutError" ? { _tag: "Timeout" } : { _tag: "Sql", error }
              )
            )
          )
          return yield* Effect.provideService(effect, HeldLocks, new Set([...held, name]))
        })
      )
    })

  return { withLock }
}

/**
 * Reserves a connection and takes the advisory lock on it for the scope. The
 * finalizer releases every advisory lock of the session (also one granted just
 * as the wait was interrupted) and resets `lock_timeout` before the connection
 * goes back to the pool.
 */
const acquire = (
  sql: SqlClient,
  name: string,
  timeoutMillis: number
): Effect.Effect<void, SqlError, Scope.Scope> =>
  Effect.gen(function* () {
    const connection = yield* sql.reserve
    yield* Effect.addFinalizer(() =>
      connection
        .executeRaw("SELECT pg_advisory_unlock_all(), set_config('lock_timeout', '0', false)", [])
        .pipe(Effect.ignore)
    )
    yield* connection.executeRaw("SELECT set_config('lock_timeout', $1, false)", [
      `${Math.ceil(timeoutMillis)}ms`
    ])
    yield* connection.executeRaw("SELECT pg_advisory_lock($1::bigint)", [lockKey(name)])
  })
