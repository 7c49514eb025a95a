/**
 * Recent tool activity for the admin page (docs/observability.md#activity):
 * per server and tool, calls, errors and p50/p95 latency over the last hour,
 * by minute. Read from the tool-call histogram the metrics already keep
 * (`@mcpgate/core/Metrics`): a snapshot each minute, and the differences
 * between snapshots are the minutes. Percentiles are interpolated within the
 * histogram's buckets, as Prometheus's `histogram_quantile` does. Served as
 * the admin API's `activity` group (../api/AdminHttpApi.ts).
 */
import * as Metrics from "@mcpgate/core/Metrics"
import { Clock, Context, Effect, Layer, Metric, Ref, Schedule } from "effect"
import type { ActivityAnswer as ActivityReport, ToolActivity } from "../api/AdminSchemas.ts"

const minuteMs = 60_000
const windowMinutes = 60

/** One series' cumulative histogram at a moment: bucket upper bounds and cumulative counts. */
interface Cumulative {
  readonly server: string
  readonly tool: string
  readonly ok: boolean
  readonly buckets: ReadonlyArray<readonly [number, number]>
  readonly count: number
}

interface Snapshot {
  readonly at: number
  readonly series: ReadonlyMap<string, Cumulative>
}

const take = Effect.gen(function* () {
  const at = yield* Clock.currentTimeMillis
  const series = new Map<string, Cumulative>()
  for (const metric of yield* Metric.snapshot) {
    if (metric.id !== Metrics.toolCallDuration.id || metric.type !== "Histogram") continue
    const labels = metric.attributes ?? {}
    const server = String(labels.server ?? "")
    const tool = String(labels.tool ?? "")
    const outcome = String(labels.outcome ?? "")
    series.set(`${server}\u0000${tool}\u0000${outcome}`, {
      server,
      tool,
      ok: outcome === "ok",
      buckets: metric.state.buckets,
      count: metric.state.count
    })
  }
  return { at, series } satisfies Snapshot
})

/** `histogram_quantile` over bucket counts (cumulative, per upper bound). */
export const quantile = (q: number, buckets: ReadonlyArray<readonly [number, number]>): number | null => {
  const total = buckets.at(-1)?.[1] ?? 0
  if (total === 0) return null
  const rank = q * total
  let lower = 0
  let below = 0
  let lastFinite = 0
  for (const [bound, cumulative] of buckets) {
    if (Number.isFinite(bound)) lastFinite = bound
    if (cumulative >= rank) {
      if (!Number.isFinite(bound)) return lastFinite
      const inBucket = cumulative - below
      return inBucket === 0 ? bound : lower + ((bound - lower) * (rank - below)) / inBucket
    }
    lower = bound
    below = cumulative
  }
  return lastFinite
}

interface Delta {
  calls: number
  errors: number
  buckets: Array<[number, number]>
}

const addInto = (into: Delta, later: Cumulative, earlier: Cumulative | undefined) => {
  const calls = later.count - (earlier?.count ?? 0)
  if (calls <= 0) return
  into.calls += calls
  if (!later.ok) into.errors += calls
  later.buckets.forEach(([bound, cumulative], index) => {
    const before = earlier?.buckets[index]?.[1] ?? 0
    const slot = into.buckets[index]
    if (slot === undefined) into.buckets[index] = [bound, cumulative - before]
    else slot[1] += cumulative - before
  })
}

/** Per server and tool, what happened between two snapshots. */
const deltas = (earlier: Snapshot, later: Snapshot) => {
  const byTool = new Map<string, Delta & { server: string; tool: string }>()
  for (const [key, series] of later.series) {
    const toolKey = `${series.server}\u0000${series.tool}`
    let entry = byTool.get(toolKey)
    if (entry === undefined) {
      entry = { server: series.server, tool: series.tool, calls: 0, errors: 0, buckets: [] }
      byTool.set(toolKey, entry)
    }
    addInto(entry, series, earlier.series.get(key))
  }
  return byTool
}

/** The report from the kept snapshots (oldest first) and one taken now. */
export const report = (kept: ReadonlyArray<Snapshot>, now: Snapshot): ActivityReport => {
  const all = [...kept, now]
  const first = all[0] ?? now
  const totals = deltas(first, now)
  const perMinute = all.slice(1).map((snapshot, index) => ({
    at: all[index]?.at ?? first.at,
    byTool: deltas(all[index] ?? first, snapshot)
  }))
  const tools: Array<ToolActivity> = []
  for (const [key, total] of totals) {
    if (total.server === "" || total.calls === 0) continue
    tools.push({
      server: total.server,
      tool: total.tool,
      calls: total.calls,
      errors: total.errors,
      p50: quantile(0.5, total.buckets),
      p95: quantile(0.95, total.buckets),
      points: perMinute.map(({ at, byTool }) => {
        const minute = byTool.get(key)
        return {
          at,
          calls: minute?.calls ?? 0,
          errors: minute?.errors ?? 0,
          p50: minute === undefined ? null : quantile(0.5, minute.buckets),
          p95: minute === undefined ? null : quantile(0.95, minute.buckets)
        }
      })
    })
  }
  tools.sort((a, b) => a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool))
  return { windowMinutes, tools }
}

export interface ActivityShape {
  /** The last hour's tool activity, the current minute included. */
  readonly recent: Effect.Effect<ActivityReport>
}

const make = Effect.gen(function* () {
  const snapshots = yield* Ref.make<ReadonlyArray<Snapshot>>([yield* take])
  yield* Effect.forkScoped(
    Effect.repeat(
      Effect.flatMap(take, (snapshot) =>
        Ref.update(snapshots, (kept) => [...kept, snapshot].slice(-(windowMinutes + 1)))
      ),
      Schedule.spaced(minuteMs)
    )
  )
  return Activity.of({
    recent: Effect.flatMap(take, (now) => Effect.map(Ref.get(snapshots), (kept) => report(kept, now)))
  })
})

export class Activity extends Context.Service<Activity, ActivityShape>()("@mcpgate/server/Activity") {
  static readonly layer: Layer.Layer<Activity> = Layer.effect(Activity, make)
}
