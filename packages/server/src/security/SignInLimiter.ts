/**
 * Failed admin sign-ins per client address, in a sliding window: after
 * `failures` wrong tokens within `window` the address is blocked until the
 * oldest of them is older than the window (then one more try is allowed, and so
 * on). The admin token is 32 random bytes, so this only keeps a guesser slow
 * and visible; behind a proxy every client shares the proxy's address.
 */
import { Clock, Duration, Effect, Ref } from "effect"

export interface SignInLimitOptions {
  /** Failures allowed per window before the address is blocked (default 10). */
  readonly failures?: number | undefined
  /** The window (default one minute). */
  readonly window?: Duration.Input | undefined
}

export interface SignInLimiter {
  /** Seconds until the address may try again; 0 when it may now. */
  readonly retryAfter: (address: string) => Effect.Effect<number>
  readonly recordFailure: (address: string) => Effect.Effect<void>
}

/** Addresses remembered at most: a flood from many addresses cannot grow memory without bound. */
const maxAddresses = 10_000

type Failures = ReadonlyMap<string, ReadonlyArray<number>>

const recent = (times: ReadonlyArray<number> | undefined, since: number): ReadonlyArray<number> =>
  (times ?? []).filter((time) => time > since)

const prune = (failures: Failures, since: number): Map<string, ReadonlyArray<number>> => {
  const kept = new Map<string, ReadonlyArray<number>>()
  for (const [address, times] of failures) {
    const left = recent(times, since)
    if (left.length > 0) kept.set(address, left)
  }
  return kept
}

export const make = (options: SignInLimitOptions = {}): Effect.Effect<SignInLimiter> =>
  Effect.gen(function* () {
    const limit = options.failures ?? 10
    const windowMs = Duration.toMillis(Duration.fromInputUnsafe(options.window ?? Duration.minutes(1)))
    const state = yield* Ref.make<Failures>(new Map())

    const retryAfter = (address: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const times = recent((yield* Ref.get(state)).get(address), now - windowMs)
        if (times.length < limit) return 0
        // Free again once enough of the failures have left the window.
        const freedAt = (times[times.length - limit] ?? now) + windowMs
        return Math.max(1, Math.ceil((freedAt - now) / 1000))
      })

    const recordFailure = (address: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(state, (failures) => {
          const since = now - windowMs
          const next = failures.size >= maxAddresses ? prune(failures, since) : new Map(failures)
          // Still full of active addresses: forget the one seen first.
          if (next.size >= maxAddresses && !next.has(address)) {
            const first = next.keys().next()
            if (first.done !== true) next.delete(first.value)
          }
          next.set(address, [...recent(next.get(address), since), now].slice(-limit))
          return next
        })
      )

    return { retryAfter, recordFailure }
  })
