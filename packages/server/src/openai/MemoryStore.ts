/**
 * A bounded key-value store in memory: entries expire after `timeToLive`, and
 * beyond `maxEntries` the oldest go first. What the gateway keeps between
 * requests (stored responses, pending tool results) lives in one of these, so
 * no client can make it grow without bound.
 */
import { Clock, Duration, Effect, Option, Ref } from "effect"

export interface MemoryStore<A> {
  readonly get: (key: string) => Effect.Effect<Option.Option<A>>
  readonly set: (key: string, value: A) => Effect.Effect<void>
  readonly remove: (key: string) => Effect.Effect<boolean>
}

export interface MemoryStoreOptions {
  readonly maxEntries: number
  readonly timeToLive: Duration.Input
}

interface Entry<A> {
  readonly value: A
  readonly expiresAt: number
}

export const make = <A>(options: MemoryStoreOptions): Effect.Effect<MemoryStore<A>> =>
  Effect.map(Ref.make(new Map<string, Entry<A>>()), (ref) => {
    const ttl = Duration.toMillis(options.timeToLive)
    const max = Math.max(1, options.maxEntries)
    return {
      get: (key) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.modify(ref, (entries) => {
            const entry = entries.get(key)
            if (entry === undefined) return [Option.none(), entries]
            if (entry.expiresAt > now) return [Option.some(entry.value), entries]
            entries.delete(key)
            return [Option.none(), entries]
          })
        ),
      set: (key, value) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(ref, (entries) => {
            for (const [name, entry] of entries) if (entry.expiresAt <= now) entries.delete(name)
            entries.delete(key)
            entries.set(key, { value, expiresAt: now + ttl })
            // A Map iterates in insertion order: the first keys are the oldest.
            for (const name of entries.keys()) {
              if (entries.size <= max) break
              entries.delete(name)
            }
            return entries
          })
        ),
      remove: (key) => Ref.modify(ref, (entries) => [entries.delete(key), entries])
    }
  })
