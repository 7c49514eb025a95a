/**
 * Where `mcpgate serve`'s start goes, by the code that spends it: the CLI bundled as
 * scripts/build.ts bundles it but not minified, so that esbuild's `// <path>` comments
 * tell which original module each line of a chunk comes from; started `runs` times
 * under `--cpu-prof` (the first start fills Node's compile cache and is left out), each
 * stopped once `/health` has answered. Each sample up to that answer is charged to:
 *
 *   - GC, or Node's module loader (reading, compiling and linking the chunks), by the
 *     sampled frame;
 *   - else the original module of the innermost bundled frame on the stack (a call
 *     into Node from our code is charged to our code), grouped by package, and by
 *     module for effect and by folder for mcpgate;
 *   - else Node itself (bootstrap, timers, sockets outside any of our calls).
 *
 *   node bench/profile-start.ts [runs] [top] [--floor[=HttpHello|ServeHello]]
 *
 * `--floor` profiles one of the start-up benchmark's floors instead (bench/support/
 * floors/: HttpHello.ts, effect's HTTP server with one `/health` route, the default;
 * ServeHello.ts, that route under an effect/cli `serve --config` command that decodes
 * its config), bundled the same way, so that the tables side by side show what the
 * gateway adds. Prints Markdown for bench/RESULTS.md: the median over the runs of each
 * group.
 */
import { spawn } from "node:child_process"
import { once } from "node:events"
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { cliBundle } from "../scripts/build/NodeBundle.ts"
import type { Profile } from "./support/CpuProfile.ts"

const floorArg = process.argv.find((arg) => arg === "--floor" || arg.startsWith("--floor="))
const floor = floorArg === undefined ? undefined : (floorArg.split("=")[1] ?? "HttpHello")
const [runsArg, topArg] = process.argv.slice(2).filter((arg) => arg !== floorArg)
const runs = Number(runsArg ?? "6")
const top = Number(topArg ?? "25")
const root = fileURLToPath(new URL("..", import.meta.url))

const work = mkdtempSync(join(tmpdir(), "mcpgate-profile-start-"))
const dist = join(work, "dist")
// The launcher imports dist/mcpgate.mjs: the floor's entry takes that name too.
await build({
  ...cliBundle(dist),
  ...(floor === undefined ? {} : { entryPoints: [join(root, `bench/support/floors/${floor}.ts`)] }),
  minify: false
})
cpSync(join(root, "packages/cli/dist/web"), join(dist, "web"), { recursive: true })
const launcher = join(work, "mcpgate.mjs")
writeFileSync(
  launcher,
  `import module from "node:module"\nmodule.enableCompileCache?.()\nawait import("./dist/mcpgate.mjs")\n`
)

/** Per chunk: the first line of each original module in it. */
const modulesOf = new Map<string, ReadonlyArray<readonly [number, string]>>()
for (const file of readdirSync(dist).filter((name) => name.endsWith(".mjs"))) {
  const starts: Array<readonly [number, string]> = []
  readFileSync(join(dist, file), "utf8")
    .split("\n")
    .forEach((line, index) => {
      const path = /^\/\/ (\S+\.(?:ts|js|mjs|cjs|json))$/.exec(line)?.[1]
      if (path !== undefined) starts.push([index, path])
    })
  modulesOf.set(file, starts)
}

/** The original module of a chunk's line (0-based), or undefined outside the bundle. */
const moduleAt = (url: string, line: number): string | undefined => {
  if (!url.startsWith(`file://${dist}/`)) return undefined
  const starts = modulesOf.get(url.slice(url.lastIndexOf("/") + 1)) ?? []
  let found = "(chunk glue)"
  for (const [start, path] of starts) {
    if (start > line) break
    found = path
  }
  return found
}

/** The group a module is reported under. */
const groupOf = (path: string): string => {
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path)
  if (pkg === null) {
    const ours = /^packages\/([^/]+)\/src\/(?:([^/]+)\/)?/.exec(path)
    return ours === null ? path : `mcpgate ${ours[1]}${ours[2] === undefined ? "" : `/${ours[2]}`}`
  }
  const [, name = "", rest = ""] = pkg
  if (name === "effect") return `effect ${rest.replace(/^dist\//, "").replace(/\/.*$|\.js$/, "")}`
  return name
}

const loaderFrames = new Set(["ModuleWrap", "compileSourceTextModule", "compileForInternalLoader"])

const charge = (profile: Profile, untilUs: number): Map<string, number> => {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const spent = new Map<string, number>()
  const add = (group: string, us: number) => spent.set(group, (spent.get(group) ?? 0) + us)
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0
    at += us
    if (at > untilUs) break
    const leafId = profile.samples[i] ?? -1
    const leaf = nodes.get(leafId)?.callFrame
    if (leaf === undefined || leaf.functionName === "(idle)" || leaf.functionName === "(program)") continue
    if (leaf.functionName === "(garbage collector)") {
      add("GC", us)
      continue
    }
    if (leaf.url.startsWith("node:internal/modules/") || loaderFrames.has(leaf.functionName)) {
      add("Node's module loader (read, compile, link)", us)
      continue
    }
    let group: string | undefined
    for (let id: number | undefined = leafId; id !== undefined && group === undefined; id = parent.get(id)) {
      const node = nodes.get(id)
      if (node === undefined) break
      const { url, lineNumber } = node.callFrame
      // A chunk's top level holds many modules: its own samples are split by line.
      const lines = id === leafId && lineNumber === 0 ? node.positionTicks : undefined
      if (lines !== undefined && lines.length > 0 && moduleAt(url, 0) !== undefined) {
        const ticks = lines.reduce((sum, line) => sum + line.ticks, 0)
        for (const line of lines) add(groupOf(moduleAt(url, line.line - 1) ?? ""), (us * line.ticks) / ticks)
        group = ""
        break
      }
      const path = moduleAt(url, lineNumber)
      if (path !== undefined) group = groupOf(path)
    }
    if (group !== "") add(group ?? "Node (outside our calls)", us)
  }
  return spent
}

const home = mkdtempSync(join(work, "home-"))
const env = { PATH: process.env.PATH ?? "", HOME: home, MCPGATE_HOME: home, MCPGATE_TOKEN_STORE: "file" }
const port = 20_000 + Math.floor(Math.random() * 20_000)
const config = join(home, "mcpgate.json")
writeFileSync(
  config,
  JSON.stringify({
    mcpServers: {},
    server: { host: "127.0.0.1", port, upstream: { baseUrl: "http://127.0.0.1:9/v1" } }
  })
)

const results: Array<{
  readonly busy: number
  readonly spent: Map<string, number>
  readonly answered: number
}> = []
for (let run = 0; run <= runs; run++) {
  const profiles = join(work, `profiles-${run}`)
  const started = performance.now()
  const child = spawn(
    process.execPath,
    [
      "--cpu-prof",
      `--cpu-prof-dir=${profiles}`,
      "--cpu-prof-interval=100",
      launcher,
      ...(floor === "HttpHello" ? [String(port)] : ["serve", "--config", config])
    ],
    { env, stdio: "ignore" }
  )
  let answeredAt: bigint | undefined
  while (answeredAt === undefined && performance.now() - started < 20_000) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (response) => response.ok,
      () => false
    )
    if (ok) answeredAt = process.hrtime.bigint()
    else await new Promise((resolve) => setTimeout(resolve, 2))
  }
  const answered = performance.now() - started
  const exited = once(child, "exit")
  child.kill("SIGINT")
  await exited
  if (answeredAt === undefined) throw new Error("serve did not answer /health within 20 s")
  if (run === 0) continue
  const file = readdirSync(profiles).find((name) => name.endsWith(".cpuprofile"))
  if (file === undefined) throw new Error("no profile written")
  // The profile's clock and process.hrtime are both the monotonic clock (µs and ns).
  const spent = charge(
    JSON.parse(readFileSync(join(profiles, file), "utf8")) as Profile,
    Number(answeredAt / 1000n)
  )
  results.push({ busy: [...spent.values()].reduce((sum, us) => sum + us, 0), spent, answered })
}
rmSync(work, { recursive: true, force: true })

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}
const groups = new Set(results.flatMap((result) => [...result.spent.keys()]))
const rows = [...groups]
  .map((group) => [group, median(results.map((result) => result.spent.get(group) ?? 0)) / 1000] as const)
  .sort((a, b) => b[1] - a[1])
const busy = median(results.map((result) => result.busy)) / 1000
const family = (group: string) =>
  group.startsWith("effect ") ? "effect" : group.startsWith("mcpgate ") ? "mcpgate" : group
const families = new Map<string, number>()
for (const [group, ms] of rows) families.set(family(group), (families.get(family(group)) ?? 0) + ms)
const lines = [
  `${results.length} starts (after one that fills the compile cache): spawn → /health p50 ${median(results.map((r) => r.answered)).toFixed(0)} ms under the profiler; CPU sampled up to the answer p50 ${busy.toFixed(0)} ms.`,
  "",
  "| spent in | ms (p50) | share |",
  "|---|---:|---:|",
  ...[...families]
    .sort((a, b) => b[1] - a[1])
    .filter(([, ms]) => ms >= 1)
    .map(([name, ms]) => `| ${name} | ${ms.toFixed(1)} | ${((ms / busy) * 100).toFixed(0)} % |`),
  "",
  "| group | ms (p50) |",
  "|---|---:|",
  ...rows.slice(0, top).map(([group, ms]) => `| ${group} | ${ms.toFixed(1)} |`)
]
process.stdout.write(`${lines.join("\n")}\n`)
