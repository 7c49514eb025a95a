/**
 * The OS keychain through `@napi-rs/keyring` (macOS Keychain, Windows
 * Credential Manager, Secret Service on Linux), as Effects with a timeout:
 * a Secret Service that is absent or waiting on an unlock prompt can hang.
 */
import type { AsyncEntry } from "@napi-rs/keyring"
import { Data, Duration, Effect, Option } from "effect"
import { nodeCrypto } from "./NodeCrypto.ts"

export class KeychainError extends Data.TaggedError("KeychainError")<{ readonly message: string }> {}

/**
 * On Linux the library falls back to the kernel keyring when Secret Service is
 * missing; that keyring forgets everything at logout, so pin Secret Service and
 * let its absence be an error (and `auto` choose the file).
 */
const entryOptions = { linux: { store: "secret-service" } } as const

export const platformName =
  process.platform === "darwin"
    ? "macOS Keychain"
    : process.platform === "win32"
      ? "Windows Credential Manager"
      : "Secret Service"

/**
 * Entry objects are reused, one per service and account (the most recent 256):
 * on Linux, constructing one opens a D-Bus connection, synchronously on the main
 * thread, that lives until the object is garbage collected. An object per call
 * piled connections up between collections, and past 1,024 open descriptors
 * libdbus's select() spins forever. An entry whose call failed is replaced.
 */
const entries = new Map<string, AsyncEntry>()
const maxEntries = 256

/**
 * The native module is loaded on first use (Node caches the import): a process that
 * keeps its credentials in a file never opens it, which keeps the CLI's start short.
 */
const entryFor = async (service: string, account: string): Promise<AsyncEntry> => {
  const { AsyncEntry } = await import("@napi-rs/keyring")
  // From here on synchronous, so concurrent calls share one entry.
  const id = `${service}\u0000${account}`
  const cached = entries.get(id)
  entries.delete(id)
  const entry = cached ?? new AsyncEntry(service, account, entryOptions)
  entries.set(id, entry)
  for (const oldest of entries.keys()) {
    if (entries.size <= maxEntries) break
    entries.delete(oldest)
  }
  return entry
}

const call = <A>(
  what: string,
  timeout: Duration.Input,
  service: string,
  account: string,
  run: (entry: AsyncEntry, signal: AbortSignal) => Promise<A>
): Effect.Effect<A, KeychainError> =>
  Effect.tryPromise({
    try: (signal) =>
      entryFor(service, account)
        .then((entry) => run(entry, signal))
        .catch((error: unknown) => {
          entries.delete(`${service}\u0000${account}`)
          throw error
        }),
    // The library's messages describe the platform failure (no bus, locked), never the secret.
    catch: (error) =>
      new KeychainError({
        message: `${platformName} could not ${what}: ${error instanceof Error ? error.message : String(error)}`
      })
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new KeychainError({
            message: `${platformName} did not answer within ${Duration.format(Duration.fromInputUnsafe(timeout))} when asked to ${what} (is it locked or absent?)`
          })
        )
    })
  )

export const getPassword = (
  service: string,
  account: string,
  timeout: Duration.Input
): Effect.Effect<Option.Option<string>, KeychainError> =>
  call(`read the entry "${account}"`, timeout, service, account, (entry, signal) =>
    entry.getPassword(signal)
  ).pipe(Effect.map(Option.fromNullishOr))

export const setPassword = (
  service: string,
  account: string,
  password: string,
  timeout: Duration.Input
): Effect.Effect<void, KeychainError> =>
  call(`write the entry "${account}"`, timeout, service, account, (entry, signal) =>
    entry.setPassword(password, signal)
  )

/** Succeeds with whether an entry was there. */
export const deletePassword = (
  service: string,
  account: string,
  timeout: Duration.Input
): Effect.Effect<boolean, KeychainError> =>
  call(`delete the entry "${account}"`, timeout, service, account, (entry, signal) =>
    entry.deleteCredential(signal)
  )

/**
 * Proves the keychain usable (README "Credentials"): write a random value, read it back,
 * delete it, all within `timeout`.
 */
export const probe = (service: string, timeout: Duration.Input): Effect.Effect<void, KeychainError> => {
  const account = `__probe__${process.pid}-${nodeCrypto().randomUUID()}`
  const value = nodeCrypto().randomUUID()
  return Effect.gen(function* () {
    yield* setPassword(service, account, value, timeout)
    const back = yield* getPassword(service, account, timeout)
    yield* deletePassword(service, account, timeout)
    if (Option.getOrUndefined(back) !== value) {
      return yield* new KeychainError({
        message: `${platformName} did not return the value just written to it`
      })
    }
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new KeychainError({
            message: `${platformName} did not complete a write, read and delete within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
          })
        )
    })
  )
}
