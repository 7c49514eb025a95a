/**
 * Summarises a `.cpuprofile` (from `BENCH_CPU_PROF=<dir> pnpm bench`): the frames
 * with the most self time, and self time grouped by where the code lives (effect,
 * Node's own modules, our packages, GC, idle), as Markdown for bench/RESULTS.md.
 *
 *   node bench/support/ProfileSummary.ts <file.cpuprofile> [top] [skip-seconds]
 *
 * `skip-seconds` leaves out the first seconds (module loading, warm-up) so that the
 * summary shows the steady state the benchmark measures.
 */
import { readFileSync } from "node:fs"
import type { CallFrame, Profile } from "./CpuProfile.ts"

const file = process.argv[2]
if (file === undefined) {
  process.stderr.write("usage: node bench/support/ProfileSummary.ts <file.cpuprofile> [top] [skip-seconds]\n")
  process.exit(2)
}
const top = Number(process.argv[3] ?? "20")
const skipUs = Number(process.argv[4] ?? "0") * 1e6
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile

const frames = new Map<number, CallFrame>()
for (const node of profile.nodes) frames.set(node.id, node.callFrame)

const shortUrl = (url: string): string => {
  const pnpm = url.match(/node_modules\/\.pnpm\/[^/]+\/node_modules\/(.*)$/)
  if (pnpm?.[1] !== undefined) return pnpm[1]
  const packages = url.match(/\/(packages\/.*)$/)
  if (packages?.[1] !== undefined) return packages[1]
  return url.replace(/^file:\/\//, "")
}

const area = (frame: CallFrame): string => {
  const name = frame.functionName
  if (name === "(garbage collector)") return "GC"
  if (name === "(idle)") return "idle"
  if (name === "(program)") return "(program: native, not attributed)"
  const url = frame.url
  if (url === "") return "native / builtins"
  if (url.startsWith("node:")) return "node internals"
  if (url.includes("/effect/dist/") || url.includes("/effect/src/")) return "effect"
  if (url.includes("@effect/platform-node")) return "@effect/platform-node"
  if (url.includes("undici")) return "undici"
  if (url.includes("/packages/")) return "mcpgate"
  const pkg = url.match(/node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  return pkg?.[1] ?? "other"
}

const self = new Map<string, number>()
const areas = new Map<string, number>()
let total = 0
let busy = 0
let elapsed = 0
for (let i = 0; i < profile.samples.length; i++) {
  const frame = frames.get(profile.samples[i] ?? -1)
  const delta = profile.timeDeltas[i] ?? 0
  elapsed += delta
  if (frame === undefined || elapsed < skipUs) continue
  total += delta
  const where = area(frame)
  areas.set(where, (areas.get(where) ?? 0) + delta)
  if (where === "idle") continue
  busy += delta
  const key = `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
  self.set(key, (self.get(key) ?? 0) + delta)
}

const pct = (us: number, of: number) => `${((us / of) * 100).toFixed(1)} %`
const lines: Array<string> = []
lines.push(
  `${file.split("/").pop() ?? file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`
)
lines.push("", "| area | share of busy time |", "|---|---:|")
for (const [where, us] of [...areas].filter(([w]) => w !== "idle").sort((a, b) => b[1] - a[1])) {
  lines.push(`| ${where} | ${pct(us, busy)} |`)
}
lines.push("", "| self time | frame |", "|---:|---|")
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  lines.push(`| ${pct(us, busy)} | \`${key}\` |`)
}
process.stdout.write(`${lines.join("\n")}\n`)
