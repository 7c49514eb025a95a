/**
 * A credential store of the host's own making. mcpgate's `OAuthManager` keeps
 * client registrations and tokens in whatever `CredentialStore` it is given:
 * here a map in memory (a host would use its database or secret manager), and
 * a log line on every write that names the key, never a secret.
 *
 * `withLock` follows the contract (see `CredentialStoreShape` in
 * `@mcpgate/core/CredentialStore`): while one fiber holds a key's lock no other
 * runs `withLock` for that key, and a fiber that holds it may take it again.
 * One lock for the whole store is the simplest way to get there.
 */
import { Credential, CredentialStore } from "@mcpgate/core"
import { Context, Duration, Effect, Layer, Option, Ref, Semaphore } from "effect"

/** The keys the current fiber holds (re-entrancy). */
const HeldKeys = Context.Reference<ReadonlySet<string>>("embed-example/HostCredentialStore/HeldKeys", {
  defaultValue: () => new Set()
})

export const make = Effect.gen(function* () {
  const credentials = yield* Ref.make<ReadonlyMap<string, Credential.Credential>>(new Map())
  const lock = yield* Semaphore.make(1)

  const store: CredentialStore.CredentialStoreShape = {
    backend: "memory",
    description: "the host app's own store",
    lockTimeout: Duration.seconds(30),
    get: (key) =>
      Effect.map(Ref.get(credentials), (all) => Option.fromUndefinedOr(all.get(Credential.keyOf(key)))),
    set: (credential) =>
      Ref.update(credentials, (all) => new Map(all).set(Credential.keyOf(credential), credential)).pipe(
        Effect.tap(() => Effect.log(`host store: saved the credential of ${Credential.keyOf(credential)}`))
      ),
    delete: (key) =>
      Ref.modify(credentials, (all) => {
        const rest = new Map(all)
        return [rest.delete(Credential.keyOf(key)), rest]
      }),
    list: Effect.map(Ref.get(credentials), (all) => Credential.sortByKey(all.values())),
    withLock: (key, effect) =>
      Effect.gen(function* () {
        const id = Credential.keyOf(key)
        const held = yield* HeldKeys
        if (held.has(id)) return yield* effect
        return yield* lock.withPermit(Effect.provideService(effect, HeldKeys, new Set([...held, id])))
      })
  }
  return store
})

export const layer = Layer.effect(CredentialStore.CredentialStore, make)
