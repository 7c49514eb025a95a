/**
 * Exclusive locks: a per-id semaphore for the fibers of this process, plus an
 * optional lock file for other processes.
 *
 * The lock file is created with O_EXCL (`open(path, "wx")`) and holds
 * `{pid, hostname, createdAt, token}`. While held, a heartbeat refreshes its
 * mtime, so "stale" can be decided without trusting clocks of live holders:
 * a lock is stale when its holder is a dead pid on this host, or when its mtime
 * is older than `staleAfter` (a crashed holder elsewhere, a reused pid, a frozen
 * machine). A stale file is renamed to a unique name before it is removed, and
 * the renamed content is compared with what was judged stale, so two waiters can
 * never both remove a lock that was freshly taken in between.
 *
 * Locks are re-entrant per fiber (and the fibers it forks while holding it):
 * `withExclusive(id, …)` inside `withExclusive(id, …)` runs directly instead of
 * deadlocking.
 */
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Clock, Context, Data, Duration, Effect, Random, Scope, Semaphore } from "effect"
import { nodeCrypto } from "./NodeCrypto.ts"

export class FileLockError extends Data.TaggedError("FileLockError")<{
  readonly reason: "timeout" | "io"
  readonly message: string
}> {}

export interface FileLockOptions {
  /** How long to wait for the lock before failing with reason "timeout". */
  readonly timeout: Duration.Input
  /** A lock file whose mtime is older than this is stale (the heartbeat runs at a quarter of it). */
  readonly staleAfter: Duration.Input
}

export const defaultOptions: FileLockOptions = { timeout: "30 seconds", staleAfter: "60 seconds" }

/** The ids of the locks held by the current fiber (re-entrancy). */
const HeldLocks = Context.Reference<ReadonlySet<string>>("@mcpgate/core/internal/FileLock/HeldLocks", {
  defaultValue: () => new Set()
})

// One semaphore per lock id for the whole process, so two stores on the same
// directory also queue in memory rather than polling the lock file.
const semaphores = new Map<string, Semaphore.Semaphore>()
const semaphoreFor = (id: string): Semaphore.Semaphore => {
  let semaphore = semaphores.get(id)
  if (semaphore === undefined) {
    semaphore = Semaphore.makeUnsafe(1)
    semaphores.set(id, semaphore)
  }
  return semaphore
}

/**
 * Runs `effect` while holding the lock `id`: the in-process semaphore, then (if
 * given) the lock file. Both are released when `effect` ends, fails or is
 * interrupted. `onError` builds the error when the lock is not obtained within
 * `options.timeout` (the wait for both parts counts) or the lock file fails.
 */
export const withExclusive = <A, E, R, E2>(
  id: string,
  options: {
    readonly file?: string
    readonly lock?: FileLockOptions
    readonly onError: (error: FileLockError) => E2
  },
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | E2, R> =>
  Effect.gen(function* () {
    const held = yield* HeldLocks
    if (held.has(id)) return yield* effect
    const lockOptions = options.lock ?? defaultOptions
    const timeout = Duration.fromInputUnsafe(lockOptions.timeout)
    return yield* Effect.scopedWith((scope) =>
      Effect.gen(function* () {
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
        yield* semaphoreFor(id)
          .takeScoped(1)
          .pipe(
            Scope.provide(scope),
            Effect.timeoutOrElse({
              duration: timeout,
              orElse: () =>
                Effect.fail(
                  new FileLockError({
                    reason: "timeout",
                    message: `timed out after ${Duration.format(timeout)} waiting for another task of this process to release the lock`
                  })
                )
            }),
            Effect.mapError(options.onError)
          )
        if (options.file !== undefined) {
          yield* acquireFile(options.file, { deadline, staleAfter: lockOptions.staleAfter }).pipe(
            Scope.provide(scope),
            Effect.mapError(options.onError)
          )
        }
        return yield* Effect.provideService(effect, HeldLocks, new Set([...held, id]))
      })
    )
  })

interface LockOwner {
  readonly pid: number
  readonly hostname: string
  readonly createdAt: number
  readonly token: string
}

type Attempt =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Retry" }
  | { readonly _tag: "Wait"; readonly holder: string }

/**
 * Takes the lock file at `file` for the current scope (released by a finalizer,
 * also on interruption), waiting with jittered backoff until `deadline` (epoch
 * ms). Each attempt is uninterruptible (it is short) so a created file always
 * gets its finalizer; the waits between attempts are interruptible.
 */
export const acquireFile = (
  file: string,
  options: { readonly deadline: number; readonly staleAfter: Duration.Input }
): Effect.Effect<void, FileLockError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* io(`create the lock directory ${path.dirname(file)}`, () =>
      fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
    )
    const staleAfter = Duration.toMillis(Duration.fromInputUnsafe(options.staleAfter))
    const token = nodeCrypto().randomUUID()
    let delay = 5
    for (;;) {
      const attempt = yield* Effect.uninterruptible(tryAcquire(file, token, staleAfter))
      if (attempt._tag === "Acquired") break
      if (attempt._tag === "Wait") {
        const now = yield* Clock.currentTimeMillis
        if (now >= options.deadline) {
          return yield* new FileLockError({
            reason: "timeout",
            message: `timed out waiting for the lock file ${file}, held by ${attempt.holder}`
          })
        }
        const jitter = yield* Random.next
        const wait = Math.min(Math.round(delay * (0.5 + jitter)), options.deadline - now)
        yield* Effect.sleep(Duration.millis(wait))
        delay = Math.min(delay * 1.6, 50)
      }
    }
    yield* Effect.forkScoped(heartbeat(file, Math.max(10, Math.floor(staleAfter / 4))))
  })

const tryAcquire = (
  file: string,
  token: string,
  staleAfter: number
): Effect.Effect<Attempt, FileLockError, Scope.Scope> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const owner: LockOwner = { pid: process.pid, hostname: os.hostname(), createdAt: now, token }
    const created = yield* io(`create the lock file ${file}`, () =>
      createExclusive(file, JSON.stringify(owner))
    )
    if (created) {
      yield* Effect.addFinalizer(() => release(file, token))
      return { _tag: "Acquired" } as const
    }
    const seen = yield* io(`read the lock file ${file}`, () => inspect(file))
    if (seen === undefined) return { _tag: "Retry" } as const // released meanwhile
    const parsed = parseOwner(seen.raw)
    const deadHere = parsed !== undefined && parsed.hostname === os.hostname() && !pidAlive(parsed.pid)
    if (deadHere || now - seen.mtimeMs > staleAfter) {
      yield* io(`remove the stale lock file ${file}`, () => breakStale(file, seen.raw))
      return { _tag: "Retry" } as const
    }
    return {
      _tag: "Wait",
      holder: parsed === undefined ? "another process" : `pid ${parsed.pid} on ${parsed.hostname}`
    } as const
  })

/** Resolves false when the file exists (EEXIST). */
const createExclusive = async (file: string, content: string): Promise<boolean> => {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, "wx", 0o600)
  } catch (error) {
    if (errorCode(error) === "EEXIST") return false
    throw error
  }
  try {
    await handle.writeFile(content)
    await handle.close()
    return true
  } catch (error) {
    await handle.close().catch(() => undefined)
    await fs.unlink(file).catch(() => undefined)
    throw error
  }
}

const inspect = async (file: string): Promise<{ raw: string; mtimeMs: number } | undefined> => {
  try {
    const [raw, stat] = await Promise.all([fs.readFile(file, "utf8"), fs.stat(file)])
    return { raw, mtimeMs: stat.mtimeMs }
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined
    throw error
  }
}

const breakStale = async (file: string, staleContent: string): Promise<void> => {
  const grave = `${file}.stale-${process.pid}-${nodeCrypto().randomUUID()}`
  try {
    await fs.rename(file, grave)
  } catch (error) {
    if (errorCode(error) === "ENOENT") return // another waiter removed it first
    throw error
  }
  const moved = await fs.readFile(grave, "utf8").catch(() => staleContent)
  if (moved !== staleContent) {
    // We moved a lock taken after our inspection: put it back (link fails if yet another exists).
    await fs.link(grave, file).catch(() => undefined)
  }
  await fs.unlink(grave).catch(() => undefined)
}

/** Removes the lock file only while it is still ours (it may have been broken as stale and re-taken). */
const release = (file: string, token: string): Effect.Effect<void> =>
  Effect.promise(async () => {
    const raw = await fs.readFile(file, "utf8").catch(() => undefined)
    if (raw !== undefined && parseOwner(raw)?.token === token) await fs.unlink(file).catch(() => undefined)
  })

const heartbeat = (file: string, everyMillis: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (;;) {
      yield* Effect.sleep(Duration.millis(everyMillis))
      const now = new Date(yield* Clock.currentTimeMillis)
      yield* Effect.promise(() => fs.utimes(file, now, now).catch(() => undefined))
    }
  })

const parseOwner = (raw: string): LockOwner | undefined => {
  try {
    const value: unknown = JSON.parse(raw)
    if (typeof value !== "object" || value === null) return undefined
    const { pid, hostname, createdAt, token } = value as Record<string, unknown>
    if (typeof pid !== "number" || typeof hostname !== "string" || typeof token !== "string") return undefined
    return { pid, hostname, createdAt: typeof createdAt === "number" ? createdAt : 0, token }
  } catch {
    return undefined
  }
}

/** `kill(pid, 0)`: ESRCH means no such process; EPERM means it exists (another user's). */
export const pidAlive = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errorCode(error) === "EPERM"
  }
}

export const errorCode = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined
  return typeof error.code === "string" ? error.code : undefined
}

/** A file-system promise as an Effect failing with FileLockError "io" (the OS message has no secrets). */
const io = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, FileLockError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new FileLockError({
        reason: "io",
        message: `could not ${what}: ${error instanceof Error ? error.message : String(error)}`
      })
  })
