/**
 * Where the web UI keeps its short-lived records (docs/teams.md#sign-in):
 * sessions and pending sign-ins, each kind a document store of its own found
 * again by id until an expiry. In this process's memory by default; over the
 * shared store's records (docs/store.md) when the gateway has one, so a
 * sign-in on one replica is valid on every other.
 */
import type { RecordStorage as Records } from "@mcpgate/core/RecordStorage"
import { Clock, Context, Effect, Layer, Option, Ref } from "effect"

/** One kind of record: a document under an id until `expiresAt` (epoch ms). */
export type RecordStorage = Pick<Records, "put" | "take" | "get" | "remove">

export interface UiRecordsShape {
  readonly forKind: (kind: string) => Effect.Effect<RecordStorage>
}

/** At most this many records of a kind in memory (the oldest go first), so a flood of sign-ins cannot grow memory without bound. */
export const maxMemoryRecords = 1024

type Entries = ReadonlyMap<string, { readonly document: string; readonly expiresAt: number }>

/** One kind in memory; expired records go as new ones arrive. */
export const memoryStorage: Effect.Effect<RecordStorage> = Effect.map(
  Ref.make<Entries>(new Map()),
  (entries) => {
    const live = (id: string, now: number) => (current: Entries) => {
      const entry = current.get(id)
      return entry !== undefined && entry.expiresAt > now
        ? Option.some(entry.document)
        : Option.none<string>()
    }
    const without = (current: Entries, id: string): Entries => {
      const next = new Map(current)
      next.delete(id)
      return next
    }
    return {
      put: (id, document, expiresAt) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.update(entries, (current) => {
            const kept = [...without(current, id)].filter(([, entry]) => entry.expiresAt > now)
            return new Map([
              ...kept.slice(Math.max(0, kept.length - maxMemoryRecords + 1)),
              [id, { document, expiresAt }]
            ])
          })
        ),
      take: (id) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Ref.modify(entries, (current) => [live(id, now)(current), without(current, id)])
        ),
      get: (id) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(Ref.get(entries), live(id, now))),
      remove: (id) => Ref.update(entries, (current) => without(current, id))
    } satisfies RecordStorage
  }
)

export class UiRecords extends Context.Service<UiRecords, UiRecordsShape>()("@mcpgate/server/UiRecords") {
  /** In this process only. */
  static readonly layerMemory: Layer.Layer<UiRecords> = Layer.effect(
    UiRecords,
    Effect.gen(function* () {
      const kinds = yield* Ref.make<ReadonlyMap<string, RecordStorage>>(new Map())
      return UiRecords.of({
        forKind: (kind) =>
          Effect.flatMap(Ref.get(kinds), (known) => {
            const found = known.get(kind)
            if (found !== undefined) return Effect.succeed(found)
            return Effect.tap(memoryStorage, (made) =>
              Ref.update(kinds, (current) => new Map(current).set(kind, made))
            )
          })
      })
    })
  )

  /** Over a shared store: `make` gives the storage of a kind. */
  static readonly layerShared = (
    make: (kind: string) => Effect.Effect<RecordStorage>
  ): Layer.Layer<UiRecords> => Layer.succeed(UiRecords, UiRecords.of({ forKind: make }))
}
