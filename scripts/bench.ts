/**
 * `pnpm bench`: runs the benchmarks under bench/, prints one Markdown table of
 * "candidate vs baseline" rows (both measured in this run) and writes it, with the
 * machine's description, to bench/RESULTS.md.
 *
 *   pnpm bench                          every benchmark
 *   pnpm bench -- --only tool-call      a subset (comma-separated or repeated)
 *   pnpm bench -- --quick               fewer samples (to try things out; noisier)
 *   pnpm bench -- --no-write            print only, leave bench/RESULTS.md alone
 *   BENCH_CPU_PROF=/tmp/prof pnpm bench  CPU profiles of the helper processes
 *                                       (summarise one: node bench/support/ProfileSummary.ts <file> 30 4)
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { chat } from "../bench/chat.ts"
import { connect50 } from "../bench/connect-50.ts"
import { mcpRoutes } from "../bench/mcp-routes.ts"
import { replicas } from "../bench/replicas.ts"
import { responses } from "../bench/responses.ts"
import { startup } from "../bench/startup.ts"
// The helper processes are started by path, never imported: these type-only imports
// (erased at run time) put them under `pnpm check` all the same.
import type {} from "../bench/support/GatewayServer.ts"
import {
  type Benchmark,
  machineDescription,
  notes,
  type Row,
  tableHeader,
  tableRow
} from "../bench/support/Harness.ts"
import type {} from "../bench/support/McpHttpServer.ts"
import type {} from "../bench/support/PlainProxy.ts"
import type {} from "../bench/support/SessionMemory.ts"
import type {} from "../bench/support/UpstreamServer.ts"
import { toolCall } from "../bench/tool-call.ts"
import { tracing } from "../bench/tracing.ts"

const benchmarks: ReadonlyArray<Benchmark> = [
  toolCall,
  connect50,
  chat,
  responses,
  mcpRoutes,
  replicas,
  startup,
  tracing
]

const usage = `usage: pnpm bench [-- [--only ${benchmarks.map((b) => b.name).join(",")}] [--quick] [--no-write]]`

const parseArgs = (argv: ReadonlyArray<string>) => {
  const only: Array<string> = []
  let quick = false
  let write = true
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (arg === "--") continue
    if (arg === "--quick") quick = true
    else if (arg === "--no-write") write = false
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length)
      if (value === undefined || value === "") throw new Error("--only needs a benchmark name")
      only.push(...value.split(",").map((name) => name.trim()))
    } else if (arg === "--help" || arg === "-h") {
      process.stdout.write(`${usage}\n`)
      process.exit(0)
    } else throw new Error(`unknown argument ${arg}`)
  }
  const unknown = only.filter((name) => !benchmarks.some((b) => b.name === name))
  if (unknown.length > 0) throw new Error(`no benchmark named ${unknown.join(", ")}`)
  return { only, quick, write }
}

let args: ReturnType<typeof parseArgs>
try {
  args = parseArgs(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`)
  process.exit(2)
}

const selected = benchmarks.filter((b) => args.only.length === 0 || args.only.includes(b.name))
const log = (line: string) => process.stderr.write(`${line}\n`)
const machine = machineDescription()
log(machine)

const rows: Array<Row> = []
const failures: Array<string> = []
const started = performance.now()
for (const benchmark of selected) {
  const start = performance.now()
  log(`\n▶ ${benchmark.name}: ${benchmark.title}`)
  try {
    const result = await benchmark.run({ quick: args.quick, log })
    rows.push(...result)
    log(`✓ ${benchmark.name} in ${((performance.now() - start) / 1000).toFixed(1)} s`)
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    failures.push(`${benchmark.name}: ${message}`)
    rows.push({
      kind: "unavailable",
      benchmark: benchmark.name,
      comparison: benchmark.title,
      reason: `the benchmark failed: ${message.split("\n")[0] ?? ""}`
    })
    log(`✗ ${benchmark.name}: ${message}`)
  }
}
const elapsed = (performance.now() - started) / 1000
const loadAtEnd = loadavg()
  .map((value) => value.toFixed(2))
  .join(" ")

const table = [tableHeader, ...rows.map(tableRow)].join("\n")
const rowNotes = notes(rows)
process.stdout.write(`\n${table}\n${rowNotes === "" ? "" : `\n${rowNotes}\n`}`)
log(`\n${selected.length} benchmark(s) in ${elapsed.toFixed(1)} s${args.quick ? " (--quick)" : ""}`)

/** Below this line bench/RESULTS.md is written by hand (profiles, before/after): a run keeps it. */
const keptMarker = "<!-- written by hand below: pnpm bench keeps it -->"

if (args.write) {
  const path = fileURLToPath(new URL("../bench/RESULTS.md", import.meta.url))
  const previous = existsSync(path) ? readFileSync(path, "utf8") : ""
  const kept = previous.includes(keptMarker) ? previous.slice(previous.indexOf(keptMarker)) : ""
  const document = [
    "# Benchmark results",
    "",
    "Written by `pnpm bench`" +
      (args.only.length > 0 ? ` (\`--only ${args.only.join(",")}\`)` : "") +
      (args.quick ? " with `--quick` (few samples, noisy)" : "") +
      `; the run took ${elapsed.toFixed(0)} s. Candidate and baseline of each row were measured in the same run, alternating.`,
    "p50/p99 are nearest-rank percentiles of per-operation latency; ops/s is 1000 / mean for sequential rows and",
    "completed operations per second (median of the rounds) for throughput rows; ratio = candidate / baseline.",
    "",
    "## Machine",
    "",
    machine,
    `- Load average at end: ${loadAtEnd}`,
    "",
    "Other processes on the machine (a load average above the core count) slow candidate and baseline alike,",
    "since they alternate; the paired-round range of the throughput rows shows how much that noise moved them.",
    "",
    "## Results",
    "",
    table,
    ...(rowNotes === "" ? [] : ["", "## Notes", "", rowNotes]),
    "",
    ...(kept === "" ? [] : [kept.trimEnd(), ""])
  ].join("\n")
  writeFileSync(path, document)
  log(`wrote ${path}`)
}

if (failures.length > 0) process.exitCode = 1
