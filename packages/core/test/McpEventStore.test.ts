import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as McpEventStore from "../src/McpEventStore.ts"

describe("McpEventStore.layerMemory", () => {
  it.effect("replays a stream's events after a given one, and only that stream's", () =>
    Effect.gen(function* () {
      const store = yield* McpEventStore.makeMemory()
      const first = yield* store.append("s1", "get", { n: 1 })
      yield* store.append("s1", "post-7", { n: 2 })
      yield* store.append("s1", "get", { n: 3 })
      yield* store.append("s2", "get", { n: 4 })
      assert.deepStrictEqual(yield* store.streamOf("s1", first), Option.some("get"))
      const replay = yield* store.after("s1", first)
      assert.deepStrictEqual(
        Option.map(replay, (r) => r.events.map((event) => event.message)),
        Option.some([{ n: 3 }])
      )
      // Another session's event ids mean nothing here.
      assert.isTrue(Option.isNone(yield* store.after("s2", first)))
    })
  )

  it.effect("keeps at most maxEventsPerSession: a resume from a dropped event is refused, not gapped", () =>
    Effect.gen(function* () {
      const store = yield* McpEventStore.makeMemory({ maxEventsPerSession: 2 })
      const first = yield* store.append("s", "get", { n: 1 })
      const second = yield* store.append("s", "get", { n: 2 })
      yield* store.append("s", "get", { n: 3 })
      assert.isTrue(Option.isNone(yield* store.after("s", first)))
      assert.deepStrictEqual(
        Option.map(yield* store.after("s", second), (r) => r.events.map((event) => event.message)),
        Option.some([{ n: 3 }])
      )
      yield* store.forget("s")
      assert.isTrue(Option.isNone(yield* store.after("s", second)))
    })
  )

  it.effect("keeps at most maxBytes over all sessions, the least recently active first", () =>
    Effect.gen(function* () {
      const store = yield* McpEventStore.makeMemory({ maxBytes: 50 })
      const old = yield* store.append("old", "get", { text: "aaaaaaaaaa" })
      const recent = yield* store.append("new", "get", { text: "bbbbbbbbbb" })
      yield* store.append("new", "get", { text: "cccccccccc" })
      assert.isTrue(Option.isNone(yield* store.streamOf("old", old)))
      assert.isTrue(Option.isSome(yield* store.streamOf("new", recent)))
    })
  )
})
