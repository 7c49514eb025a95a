/**
 * The activity panel's percentiles, interpolated within histogram buckets as
 * Prometheus's `histogram_quantile` does.
 */
import { assert, describe, it } from "@effect/vitest"
import { quantile } from "../src/admin/Activity.ts"

describe("Activity.quantile", () => {
  it("interpolates within the bucket that holds the rank", () => {
    // 10 calls: 4 under 10 ms, 4 more under 50 ms, 2 more under 100 ms.
    const buckets: ReadonlyArray<readonly [number, number]> = [
      [0.01, 4],
      [0.05, 8],
      [0.1, 10],
      [Number.POSITIVE_INFINITY, 10]
    ]
    assert.closeTo(quantile(0.5, buckets) ?? 0, 0.02, 1e-9)
    assert.closeTo(quantile(0.95, buckets) ?? 0, 0.0875, 1e-9)
    assert.closeTo(quantile(0.2, buckets) ?? 0, 0.005, 1e-9)
  })

  it("is null without calls and the last finite bound for calls above it", () => {
    assert.isNull(
      quantile(0.5, [
        [0.01, 0],
        [Number.POSITIVE_INFINITY, 0]
      ])
    )
    assert.strictEqual(
      quantile(0.95, [
        [0.01, 0],
        [Number.POSITIVE_INFINITY, 3]
      ]),
      0.01
    )
  })
})
