import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as Metrics from "../src/Metrics.ts"

const countOf = (snapshots: ReadonlyArray<Metric.Metric.Snapshot>, labels: Record<string, string>) =>
  snapshots.find(
    (snapshot) =>
      snapshot.id === "test_requests_total" &&
      Object.entries(labels).every(([name, value]) => snapshot.attributes?.[name] === value)
  )?.state

describe("Metrics", () => {
  it("makes one series per label set, once", () => {
    const counter = Metric.counter("test_series_total")
    const ok = Metrics.series(counter, { route: "/v1/models", status: "200" })
    assert.strictEqual(Metrics.series(counter, { route: "/v1/models", status: "200" }), ok)
    assert.notStrictEqual(Metrics.series(counter, { route: "/v1/models", status: "404" }), ok)
    // A value that contains the separator of another label does not collide with it.
    assert.notStrictEqual(
      Metrics.series(counter, { a: "x\u0001b\u0000y" }),
      Metrics.series(counter, { a: "x", b: "y" })
    )
  })

  it.effect("counts each label set in its own series", () =>
    Effect.gen(function* () {
      const counter = Metric.counter("test_requests_total", { incremental: true })
      yield* Metrics.increment(counter, { route: "/a", status: "200" })
      yield* Metrics.increment(counter, { route: "/a", status: "200" })
      yield* Metrics.increment(counter, { route: "/a", status: "500" })
      yield* Metrics.increment(counter, { route: "/a", status: "200" })
      const snapshots = yield* Metric.snapshot
      assert.deepStrictEqual(countOf(snapshots, { route: "/a", status: "200" }), {
        count: 3,
        incremental: true
      })
      assert.deepStrictEqual(countOf(snapshots, { route: "/a", status: "500" }), {
        count: 1,
        incremental: true
      })
    })
  )
})
