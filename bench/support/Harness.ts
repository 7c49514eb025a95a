/**
 * The measuring side of `pnpm bench`: timing, statistics, the comparison rows and
 * the Markdown they are printed as.
 *
 * Every comparison measures its candidate and its baseline in the same run, one
 * after the other and in alternating order (ABBA), so that drift (a warming JIT, a
 * neighbour on the machine, thermal throttling) lands on both sides alike.
 */
import { readFileSync } from "node:fs"
import * as Os from "node:os"

/** Summary of latency samples, in milliseconds. */
export interface Stats {
  readonly n: number
  readonly p50: number
  readonly p99: number
  readonly mean: number
  readonly min: number
  readonly max: number
  /** Sequential operations per second (1000 / mean). */
  readonly opsPerSec: number
}

/** A target and whether the candidate met it. */
export interface Goal {
  readonly text: string
  readonly met: boolean
}

interface RowBase {
  /** The benchmark's name as `--only` takes it. */
  readonly benchmark: string
  /** "candidate vs baseline", in words. */
  readonly comparison: string
  readonly goal?: Goal
  readonly note?: string
}

/** Latencies of candidate and baseline. */
export interface LatencyRow extends RowBase {
  readonly kind: "latency"
  readonly candidate: Stats
  readonly baseline: Stats
  /** Operations ran concurrently: 1000 / mean is no rate then, so the ops/s cell stays empty. */
  readonly concurrent?: boolean
}

/** Throughput (operations per second) of candidate and baseline, the median of several rounds. */
export interface ThroughputRow extends RowBase {
  readonly kind: "throughput"
  readonly candidate: number
  readonly baseline: number
  readonly rounds: number
  /** What one operation is, for the table ("calls", "requests"). */
  readonly unit: string
  /** Smallest and largest candidate/baseline ratio of rounds run back to back: the noise. */
  readonly ratioRange?: readonly [number, number]
}

/** Heap bytes per item (e.g. per idle session) of candidate and baseline, each after forced GCs. */
export interface MemoryRow extends RowBase {
  readonly kind: "memory"
  readonly candidate: number
  readonly baseline: number
  /** How many items were measured, and what one is ("idle sessions"). */
  readonly n: number
  readonly unit: string
}

/** A comparison that could not be made; says why instead of inventing numbers. */
export interface UnavailableRow extends RowBase {
  readonly kind: "unavailable"
  readonly reason: string
}

export type Row = LatencyRow | ThroughputRow | MemoryRow | UnavailableRow

export interface BenchOptions {
  /** Fewer samples, for trying the benchmarks out; numbers are noisier. */
  readonly quick: boolean
  /** Progress lines go here (stderr), so stdout stays the table. */
  readonly log: (line: string) => void
}

export interface Benchmark {
  readonly name: string
  readonly title: string
  readonly run: (options: BenchOptions) => Promise<ReadonlyArray<Row>>
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank quantile of sorted samples. */
const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}

export const stats = (samples: ReadonlyArray<number>): Stats => {
  const sorted = [...samples].sort((a, b) => a - b)
  const mean = sorted.reduce((sum, x) => sum + x, 0) / Math.max(1, sorted.length)
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    opsPerSec: mean > 0 ? 1000 / mean : Number.NaN
  }
}

export const median = (values: ReadonlyArray<number>): number =>
  quantile(
    [...values].sort((a, b) => a - b),
    0.5
  )

// ---------------------------------------------------------------------------------------------
// Running

/** Times one run of `op` in milliseconds. */
export const timed =
  (op: () => Promise<unknown>): (() => Promise<number>) =>
  async () => {
    const start = performance.now()
    await op()
    return performance.now() - start
  }

export interface Alternated<T> {
  readonly candidate: Array<T>
  readonly baseline: Array<T>
}

/**
 * Runs `warmup` unrecorded rounds, then `samples` recorded rounds of every variant,
 * rotating which one goes first, so that drift and order effects fall on all alike.
 */
export const rotate = async <K extends string, T>(
  variants: Readonly<Record<K, () => Promise<T>>>,
  options: { readonly warmup: number; readonly samples: number }
): Promise<Record<K, Array<T>>> => {
  const names = Object.keys(variants) as Array<K>
  const result = Object.fromEntries(names.map((name) => [name, [] as Array<T>])) as Record<K, Array<T>>
  for (let i = 0; i < options.warmup + options.samples; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length] as K
      const value = await variants[name]()
      if (i >= options.warmup) result[name].push(value)
    }
  }
  return result
}

/** `rotate` for the usual pair (with two variants, rotating is ABBA-style alternation). */
export const alternate = async <T>(
  candidate: () => Promise<T>,
  baseline: () => Promise<T>,
  options: { readonly warmup: number; readonly samples: number }
): Promise<Alternated<T>> => rotate({ candidate, baseline }, options)

export interface ThroughputRound {
  readonly opsPerSec: number
  /** Latency of every operation of the round, in ms. */
  readonly latencies: Array<number>
}

/** `total` operations by `concurrency` workers that each run `op` back to back. */
export const throughput = async (
  op: () => Promise<unknown>,
  options: { readonly concurrency: number; readonly total: number }
): Promise<ThroughputRound> => {
  let next = 0
  const latencies: Array<number> = []
  const worker = async () => {
    while (next < options.total) {
      next += 1
      const start = performance.now()
      await op()
      latencies.push(performance.now() - start)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  const elapsed = performance.now() - start
  return { opsPerSec: (options.total * 1000) / elapsed, latencies }
}

/**
 * Throughput of every variant: one unrecorded quarter-size round each (warm-up),
 * then `rounds` recorded rounds of each, rotating the order.
 */
export const rotateThroughput = async <K extends string>(
  variants: Readonly<Record<K, () => Promise<unknown>>>,
  options: { readonly rounds: number; readonly concurrency: number; readonly total: number }
): Promise<Record<K, Array<ThroughputRound>>> => {
  const names = Object.keys(variants) as Array<K>
  for (const name of names) {
    await throughput(variants[name], {
      concurrency: options.concurrency,
      total: Math.ceil(options.total / 4)
    })
  }
  const result = Object.fromEntries(names.map((name) => [name, [] as Array<ThroughputRound>])) as Record<
    K,
    Array<ThroughputRound>
  >
  for (let round = 0; round < options.rounds; round++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(round + j) % names.length] as K
      result[name].push(await throughput(variants[name], options))
    }
  }
  return result
}

/** Every latency of every round. */
export const allLatencies = (rounds: ReadonlyArray<ThroughputRound>): Array<number> =>
  rounds.flatMap((round) => round.latencies)

/** Smallest and largest ratio of paired rounds (round i of each ran back to back). */
export const pairedRange = (
  candidate: ReadonlyArray<ThroughputRound>,
  baseline: ReadonlyArray<ThroughputRound>
): readonly [number, number] => {
  const ratios = candidate.flatMap((round, i) => {
    const other = baseline[i]
    return other === undefined ? [] : [round.opsPerSec / other.opsPerSec]
  })
  return [Math.min(...ratios), Math.max(...ratios)]
}

/** The median rate of the rounds. */
export const medianRate = (rounds: ReadonlyArray<ThroughputRound>): number =>
  median(rounds.map((round) => round.opsPerSec))

// ---------------------------------------------------------------------------------------------
// Reporting

const ms = (value: number): string =>
  Number.isNaN(value)
    ? "–"
    : value >= 100
      ? value.toFixed(0)
      : value >= 10
        ? value.toFixed(1)
        : value.toFixed(3)

const count = (value: number): string =>
  Number.isNaN(value) ? "–" : value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1)

const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : "–")

const signed = (value: number, digits: number): string =>
  `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(digits)}`

const cell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ")

export const tableHeader = [
  "| Benchmark | Candidate vs baseline | n | p50 ms (cand / base) | p99 ms (cand / base) | Ratio p50 (p99) | Overhead p50 | ops/s (cand / base) | Goal | Met |",
  "|---|---|---:|---:|---:|---:|---:|---:|---|:---:|"
].join("\n")

const verdict = (goal: Goal | undefined): [string, string] =>
  goal === undefined ? ["", ""] : [goal.text, goal.met ? "yes" : "**no**"]

/** One Markdown table row. */
export const tableRow = (row: Row): string => {
  const [goal, met] = verdict(row.goal)
  const cells = ((): Array<string> => {
    switch (row.kind) {
      case "latency": {
        const { candidate: c, baseline: b } = row
        const overhead = c.p50 - b.p50
        return [
          String(c.n),
          `${ms(c.p50)} / ${ms(b.p50)}`,
          `${ms(c.p99)} / ${ms(b.p99)}`,
          `${ratio(c.p50, b.p50)} (${ratio(c.p99, b.p99)})`,
          `${signed(overhead, overhead !== 0 && Math.abs(overhead) < 1 ? 3 : 1)} ms (${signed((overhead / b.p50) * 100, 1)}%)`,
          row.concurrent === true ? "" : `${count(c.opsPerSec)} / ${count(b.opsPerSec)}`
        ]
      }
      case "throughput": {
        const change = (row.candidate / row.baseline - 1) * 100
        return [
          `${row.rounds} rounds`,
          "",
          "",
          `${ratio(row.candidate, row.baseline)} (${row.unit}/s)${
            row.ratioRange === undefined
              ? ""
              : `, rounds ${row.ratioRange[0].toFixed(2)}–${row.ratioRange[1].toFixed(2)}`
          }`,
          `${signed(change, 1)}% ${row.unit}/s`,
          `${count(row.candidate)} / ${count(row.baseline)}`
        ]
      }
      case "memory": {
        const kb = (bytes: number) => (bytes / 1024).toFixed(1)
        const change = row.candidate - row.baseline
        return [
          `${row.n} ${row.unit}`,
          "",
          "",
          `${ratio(row.candidate, row.baseline)} (heap bytes)`,
          `${signed(change / 1024, 1)} KB each (${signed((change / row.baseline) * 100, 1)}%)`,
          `${kb(row.candidate)} / ${kb(row.baseline)} KB each`
        ]
      }
      case "unavailable":
        return ["–", "", "", "", "", `not available: ${row.reason}`]
    }
  })()
  return `| ${[row.benchmark, row.comparison, ...cells, goal, met].map(cell).join(" | ")} |`
}

/** The notes of the rows that have one, as a list under the table. */
export const notes = (rows: ReadonlyArray<Row>): string =>
  rows
    .filter((row) => row.note !== undefined)
    .map((row) => `- **${row.benchmark}** (${row.comparison}): ${row.note}`)
    .join("\n")

const cpuModel = (): string => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("model name"))
    const model = line?.split(":")[1]?.trim()
    if (model !== undefined && model !== "") return model
  } catch {
    // Not Linux: fall back to what Node knows.
  }
  return Os.cpus()[0]?.model ?? "unknown CPU"
}

/** The machine the numbers came from, one Markdown list. */
export const machineDescription = (): string => {
  const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`
  const load = Os.loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")
  return [
    `- CPU: ${cpuModel()}, ${Os.availableParallelism()} cores available`,
    `- RAM: ${gib(Os.totalmem())} (${gib(Os.freemem())} free at start)`,
    `- Node ${process.version} on ${Os.platform()} ${Os.release()} (${Os.arch()})`,
    `- Load average at start: ${load}`,
    `- Date: ${new Date().toISOString()}`
  ].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Children's CPU time (Linux): what waited-for child processes used, from /proc/self/stat.

const clockTicksPerSecond = 100

/** User + system CPU seconds of the children this process has reaped, or `undefined` off Linux. */
export const childrenCpuSeconds = (): number | undefined => {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8")
    // Fields after "(comm)": state is field 3; cutime and cstime are fields 16 and 17 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const cutime = Number(fields[13])
    const cstime = Number(fields[14])
    return Number.isFinite(cutime + cstime) ? (cutime + cstime) / clockTicksPerSecond : undefined
  } catch {
    return undefined
  }
}

/** User + system CPU milliseconds a running process has used so far (Linux), or `undefined`. */
export const processCpuMs = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // utime and stime are fields 14 and 15 (proc(5)); counted after "(comm)" they are 12 and 13.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicksPerSecond : undefined
  } catch {
    return undefined
  }
}

/** This process's own user + system CPU milliseconds. */
export const ownCpuMs = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/**
 * CPU milliseconds per operation of this process (`client`) and of each named
 * process, over `total` operations at `concurrency`: where the work goes, which
 * wall-clock ratios cannot show when every process shares the same cores.
 */
export const cpuPerOperation = async <K extends string>(
  operation: () => Promise<unknown>,
  processes: Readonly<Record<K, number | undefined>>,
  options: { readonly concurrency: number; readonly total: number }
): Promise<Record<K | "client", number | undefined>> => {
  const names = Object.keys(processes) as Array<K>
  const read = () => [ownCpuMs(), ...names.map((name) => processCpuMs(processes[name]))]
  const before = read()
  await throughput(operation, options)
  const after = read()
  const perOperation = after.map((value, index) => {
    const start = before[index]
    return value === undefined || start === undefined ? undefined : (value - start) / options.total
  })
  return Object.fromEntries(
    (["client", ...names] as Array<K | "client">).map((name, index) => [name, perOperation[index]])
  ) as Record<K | "client", number | undefined>
}

/** Milliseconds with two decimals, `?` when unknown. */
export const cpuMs = (value: number | undefined): string => (value === undefined ? "?" : value.toFixed(2))

/** The sum, unless a part is unknown. */
export const cpuSum = (values: ReadonlyArray<number | undefined>): number | undefined =>
  values.some((value) => value === undefined)
    ? undefined
    : values.reduce<number>((sum, value) => sum + (value ?? 0), 0)
