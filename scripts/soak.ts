/**
 * `pnpm soak`: runs the real gateway (`mcpgate serve`, a child process) under
 * mixed chat and tool traffic at fixed concurrency while access tokens expire
 * every few seconds and a stdio MCP server is killed periodically, then prints
 * one table and exits non-zero when something is wrong.
 *
 *   pnpm soak                          60 s of traffic
 *   pnpm soak -- --minutes 30          longer
 *   pnpm soak -- --seconds 20          shorter (a smoke run)
 *   pnpm soak -- --concurrency 16 --token-ttl 5 --restart-every 10 --log-level debug
 *   pnpm soak -- --suite [vitest filters]   the whole test suite, every log captured,
 *                                           scanned for every token issued (SuiteTokenScan.ts)
 *   pnpm soak -- --replicas 3 --store postgres   replicas behind HAProxy on one PostgreSQL
 *                                                (soak/Replicas.ts)
 *
 * Everything binds to 127.0.0.1: a real authorization server (oidc-provider,
 * DCR, PKCE, rotating refresh tokens), an OAuth-protected MCP server, the stdio
 * test server, a scripted OpenAI-compatible model. Verdict (exit 1 otherwise):
 * - no failure that an injected fault does not explain (a call to the stdio
 *   server while it restarts is explained; anything else is not);
 * - after a settle period, the gateway's open sockets and child processes are
 *   back to their values before the traffic; it stops on SIGTERM; no stdio
 *   server outlives it;
 * - no issued token (access or refresh) appears in the gateway's output (logged
 *   at debug level), in any response it sent, or in any file it wrote besides
 *   credentials.json.
 */
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as Fixtures from "./soak/Fixtures.ts"
import { parseFlags, positive } from "./soak/Flags.ts"
import * as GatewayProcess from "./soak/GatewayProcess.ts"
import * as Probe from "./soak/Probe.ts"
import * as ProcessStats from "./soak/ProcessStats.ts"
import { mib, ms, percentile, table } from "./soak/Report.ts"
import { TokenScanner } from "./soak/TokenScan.ts"
import * as Traffic from "./soak/Traffic.ts"

const usage = `usage: pnpm soak [-- [--minutes N | --seconds N] [--concurrency N] [--token-ttl SECONDS]
                    [--restart-every SECONDS] [--settle SECONDS] [--log-level LEVEL] [--keep] [--bundled]
                    [--gateway-heap MiB]]
       pnpm soak -- --suite [vitest filters]
       pnpm soak -- --replicas N --store postgres [--minutes N | --seconds N] [--concurrency N] [--token-ttl SECONDS]`

interface Options {
  readonly seconds: number
  readonly concurrency: number
  readonly tokenTtl: number
  readonly restartEvery: number
  readonly settle: number
  readonly logLevel: string
  /** Keep the temporary MCPGATE_HOME (config, credentials) for a look afterwards. */
  readonly keep: boolean
  /** Run the bundled CLI (packages/cli/dist/mcpgate.mjs, what users install) instead of bin.ts. */
  readonly bundled: boolean
  /** `--max-old-space-size` for the gateway alone (MiB): tells retained memory from GC slack. */
  readonly gatewayHeap: number | undefined
}

const parseArgs = (argv: ReadonlyArray<string>): Options => {
  const options = {
    seconds: 60,
    concurrency: 8,
    tokenTtl: 5,
    restartEvery: 10,
    settle: 20,
    logLevel: "debug",
    keep: false,
    bundled: false,
    gatewayHeap: undefined as number | undefined
  }
  parseFlags(argv, (flag, value) => {
    switch (flag) {
      case "--minutes":
        options.seconds = positive(flag, value()) * 60
        return true
      case "--seconds":
        options.seconds = positive(flag, value())
        return true
      case "--concurrency":
        options.concurrency = Math.round(positive(flag, value()))
        return true
      case "--token-ttl":
        options.tokenTtl = Math.round(positive(flag, value()))
        return true
      case "--restart-every":
        options.restartEvery = positive(flag, value())
        return true
      case "--settle":
        options.settle = positive(flag, value())
        return true
      case "--log-level":
        options.logLevel = value() ?? "debug"
        return true
      case "--keep":
        options.keep = true
        return true
      case "--bundled":
        options.bundled = true
        return true
      case "--gateway-heap":
        options.gatewayHeap = Math.round(positive(flag, value()))
        return true
      case "--help":
      case "-h":
        process.stdout.write(`${usage}\n`)
        process.exit(0)
        return true
      default:
        return false
    }
  })
  return options
}

// Several replicas on a Postgres store are their own run (see soak/Replicas.ts).
if (process.argv.includes("--replicas") || process.argv.some((arg) => arg.startsWith("--replicas="))) {
  const { main } = await import("./soak/ReplicasMain.ts")
  process.exit(await main(process.argv.slice(2)))
}

// The suite-wide token scan is its own run (see SuiteTokenScan.ts).
const suiteIndex = process.argv.indexOf("--suite")
if (suiteIndex !== -1) {
  const { run } = await import("./soak/SuiteTokenScan.ts")
  process.exit(await run(process.argv.slice(suiteIndex + 1).filter((arg) => arg !== "--")))
}

let options: Options
try {
  options = parseArgs(process.argv.slice(2))
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`)
  process.exit(2)
}

const log = (line: string) => process.stderr.write(`soak: ${line}\n`)

interface Outcome {
  readonly kind: Traffic.Kind
  readonly startedAt: number
  readonly endedAt: number
  readonly failures: ReadonlyArray<Traffic.Failure>
}

/** The stdio server was killed at `killedAt` and seen connected again at `backAt`. */
interface RestartWindow {
  readonly pid: number
  readonly killedAt: number
  backAt: number | undefined
}

interface Snapshot {
  readonly rss: number | undefined
  readonly sockets: ReadonlyArray<string>
  readonly children: ReadonlyArray<ProcessStats.ProcessEntry>
}

const snapshot = (pid: number): Snapshot => ({
  rss: ProcessStats.rssBytes(pid),
  sockets: ProcessStats.socketInodes(pid),
  children: ProcessStats.descendants(pid)
})

/** A failed call still counts as explained this long after the stdio server was seen back. */
const restartGraceMs = 1000

const soak = async (
  fixtures: Fixtures.Fixtures,
  gateway: GatewayProcess.GatewayProcess,
  scanner: TokenScanner
) => {
  const seen = (text: string, where: string) => scanner.queue(text, where)
  const portNames = new Map<number, string>([
    [gateway.port, "gateway"],
    [Number(new URL(fixtures.upstream.baseUrl).port), "model"],
    [Number(new URL(fixtures.as.issuer).port), "authorization server"],
    [Number(new URL(fixtures.mcp.url).port), "protected MCP server"]
  ])
  const describe = (pid: number, inodes: ReadonlyArray<string>) =>
    ProcessStats.summarize(ProcessStats.describeSockets(pid, inodes, (port) => portNames.get(port)).values())

  const connected = await Probe.until(async () => {
    const states = await Probe.servers(gateway.url, seen).catch(() => [])
    return states.length === 2 && states.every((server) => server.state === "connected")
  }, 30_000)
  if (!connected) {
    const states = await Probe.servers(gateway.url, seen).catch((error: unknown) => String(error))
    throw new Error(`the MCP servers did not connect: ${JSON.stringify(states)}`)
  }
  // Let the connection set-up's keep-alive sockets close before taking the baseline.
  log("connected; settling 6 s for the baseline")
  await Probe.sleep(6000)
  const before = snapshot(gateway.pid)
  const socketsAtStart = describe(gateway.pid, before.sockets)
  const refreshesBefore = fixtures.as.countGrants("refresh_token")
  const tokenRequestsBefore = fixtures.as.tokenRequests.length

  log(
    `${options.seconds} s of traffic at concurrency ${options.concurrency}; tokens live ${options.tokenTtl} s; ` +
      `the stdio server is killed every ${options.restartEvery} s`
  )
  const client: Traffic.Client = { url: gateway.url, timeoutMs: 30_000, seen }
  const startedAt = performance.now()
  const deadline = startedAt + options.seconds * 1000
  const latencies = new Map<Traffic.Kind, Array<number>>(Traffic.kinds.map((kind) => [kind, []]))
  const failed: Array<Outcome> = []
  const windows: Array<RestartWindow> = []
  const restartProblems: Array<string> = []
  let peakRss = before.rss ?? 0
  let peakSockets = before.sockets.length

  const worker = async (index: number) => {
    const session = new Traffic.McpSession(client)
    for (let n = index; performance.now() < deadline; n++) {
      const kind = Traffic.kinds[n % Traffic.kinds.length] ?? "chat"
      const begin = performance.now()
      const failures = await Traffic.run(kind, client, session)
      const end = performance.now()
      latencies.get(kind)?.push(end - begin)
      if (failures.length > 0) failed.push({ kind, startedAt: begin, endedAt: end, failures })
    }
    await session.close()
  }

  /** Kills the stdio server once and waits for the gateway to have it back (a new pid). */
  const restartOnce = async () => {
    const stdio = (await Probe.servers(gateway.url, seen)).find((server) => server.name === "stdio")
    const pid = stdio?.pid
    // Only ever kill the gateway's own child.
    const owned = pid !== undefined && ProcessStats.descendants(gateway.pid).some((p) => p.pid === pid)
    if (stdio?.state !== "connected" || pid === undefined || !owned) {
      restartProblems.push(`the stdio server was not connected when due for a kill: ${JSON.stringify(stdio)}`)
      await Probe.sleep(1000)
      return
    }
    const window: RestartWindow = { pid, killedAt: performance.now(), backAt: undefined }
    windows.push(window)
    process.kill(pid, "SIGKILL")
    const back = await Probe.until(async () => {
      const now = (await Probe.servers(gateway.url, seen)).find((server) => server.name === "stdio")
      return now?.state === "connected" && now.pid !== pid
    }, 20_000)
    if (back) window.backAt = performance.now()
    else restartProblems.push(`the stdio server (killed pid ${pid}) was not back within 20 s`)
    await Probe.sleep(options.restartEvery * 1000)
  }

  const restarter = async () => {
    await Probe.sleep(Math.min(options.restartEvery * 500, 5000))
    while (performance.now() < deadline - 2000) {
      await restartOnce().catch((error: unknown) => {
        restartProblems.push(`the restart failed: ${error instanceof Error ? error.message : String(error)}`)
        return Probe.sleep(1000)
      })
    }
  }

  let sampling = true
  const sampler = async () => {
    while (sampling) {
      const now = snapshot(gateway.pid)
      peakRss = Math.max(peakRss, now.rss ?? 0)
      peakSockets = Math.max(peakSockets, now.sockets.length)
      Fixtures.trim(fixtures)
      scanner.flush()
      const elapsed = Math.round((performance.now() - startedAt) / 1000)
      if (elapsed > 0 && elapsed % 10 === 0) {
        const done = [...latencies.values()].reduce((sum, list) => sum + list.length, 0)
        log(
          `${elapsed} s: ${done} requests, ${failed.length} failed, RSS ${mib(now.rss)} MiB, ${now.sockets.length} sockets`
        )
      }
      await Probe.sleep(1000)
    }
  }

  const sampling$ = sampler()
  await Promise.all([...Array.from({ length: options.concurrency }, (_, i) => worker(i)), restarter()])
  const trafficSeconds = (performance.now() - startedAt) / 1000
  const refreshes = fixtures.as.countGrants("refresh_token") - refreshesBefore
  const tokenRequests = fixtures.as.tokenRequests.slice(tokenRequestsBefore)
  sampling = false
  await sampling$

  // Settle: keep-alive connections time out (5 s on the server side), children stay.
  log(`traffic done; waiting up to ${options.settle} s for sockets and children to settle`)
  const settleStarted = performance.now()
  let after = snapshot(gateway.pid)
  const settled = await Probe.until(
    () => {
      after = snapshot(gateway.pid)
      return after.sockets.length <= before.sockets.length && after.children.length === before.children.length
    },
    options.settle * 1000,
    250
  )
  const settleSeconds = (performance.now() - settleStarted) / 1000
  const socketsAtEnd = describe(gateway.pid, after.sockets)

  // What the admin and status views show must not hold a token either.
  const admin = await Probe.request(`${gateway.url}/admin/api/mcp/servers`, {
    headers: { authorization: `Bearer ${fixtures.adminToken}` }
  })
  seen(admin.text, "GET /admin/api/mcp/servers")
  const health = await Probe.request(`${gateway.url}/health`)
  seen(health.text, "GET /health")

  const stop = await gateway.stop("SIGTERM", 15_000)
  const strays = ProcessStats.livingProcesses().filter((p) => p.args.includes(fixtures.marker))

  // Every file the gateway wrote, but the credential store itself.
  const files = (dir: string): Array<string> =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name)
      return statSync(path).isDirectory() ? files(path) : [path]
    })
  for (const file of files(fixtures.home)) {
    if (file.endsWith("credentials.json")) continue
    seen(readFileSync(file, "utf8"), `file ${file.slice(fixtures.home.length + 1)}`)
  }
  scanner.flush()

  return {
    before,
    after,
    settled,
    settleSeconds,
    peakRss,
    peakSockets,
    trafficSeconds,
    latencies,
    failed,
    windows,
    restartProblems,
    refreshes,
    tokenRequests,
    stop,
    strays,
    socketsAtStart,
    socketsAtEnd,
    tokensIssued: fixtures.as.issuedTokens.size
  }
}

const program = Effect.gen(function* () {
  log(
    `starting the authorization server, the protected MCP server and the model (tokens live ${options.tokenTtl} s)`
  )
  const fixtures = yield* Fixtures.start({ accessTokenTtl: options.tokenTtl })
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      if (options.keep) log(`kept ${fixtures.home}`)
      else rmSync(fixtures.home, { recursive: true, force: true })
    })
  )
  log("logging in to the protected server (PKCE, as `mcpgate login` does)")
  yield* Fixtures.login(fixtures)
  const scanner = new TokenScanner(fixtures.as.issuedTokens)
  const gateway = yield* Effect.acquireRelease(
    Effect.promise(() =>
      GatewayProcess.start({
        configPath: fixtures.configPath,
        home: fixtures.home,
        logLevel: options.logLevel,
        bundled: options.bundled,
        ...(options.gatewayHeap === undefined ? {} : { heapMiB: options.gatewayHeap }),
        onLine: (line) => scanner.queue(line, "gateway output")
      })
    ),
    (gateway) => Effect.promise(() => gateway.stop("SIGKILL", 1000))
  )
  log(`gateway pid ${gateway.pid} on ${gateway.url}`)
  const result = yield* Effect.promise(() => soak(fixtures, gateway, scanner))
  return { result, scanner, gateway }
}).pipe(Effect.scoped)

const { result, scanner, gateway } = await Effect.runPromise(program)

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const explained = (outcome: Outcome) =>
  outcome.failures.every((failure) => failure.part === "stdio") &&
  result.windows.some(
    (window) =>
      outcome.endedAt >= window.killedAt &&
      outcome.startedAt <= (window.backAt ?? Number.POSITIVE_INFINITY) + restartGraceMs
  )

const unexplained = result.failed.filter((outcome) => !explained(outcome))
const rows = Traffic.kinds.map((kind) => {
  const sorted = [...(result.latencies.get(kind) ?? [])].sort((a, b) => a - b)
  const failedOfKind = result.failed.filter((outcome) => outcome.kind === kind)
  const bad = failedOfKind.filter((outcome) => !explained(outcome)).length
  return [
    kind,
    String(sorted.length),
    String(failedOfKind.length - bad),
    String(bad),
    ms(percentile(sorted, 50)),
    ms(percentile(sorted, 99)),
    ms(sorted.at(-1) ?? Number.NaN)
  ]
})
const total = [...result.latencies.values()].reduce((sum, list) => sum + list.length, 0)
rows.push([
  "total",
  String(total),
  String(result.failed.length - unexplained.length),
  String(unexplained.length),
  "",
  "",
  ""
])

const recoveries = result.windows
  .filter((window) => window.backAt !== undefined)
  .map((window) => (window.backAt ?? 0) - window.killedAt)
const failedTokenRequests = result.tokenRequests.filter((request) => request.status !== 200)
const socketsBack = result.after.sockets.length <= result.before.sockets.length
const childrenBack = result.after.children.length === result.before.children.length
// Effect's runtime exits 130 after an interruption (here: the SIGTERM) that ended cleanly.
const stoppedCleanly = result.stop.signal === null && (result.stop.code === 0 || result.stop.code === 130)
const leaks = scanner.leaks

const verdicts: Array<[boolean, string]> = [
  [total > 0, "requests were made"],
  [unexplained.length === 0, "no failure without an injected fault"],
  [result.restartProblems.length === 0, "every stdio restart recovered"],
  [socketsBack, "sockets back to the start value"],
  [childrenBack, "child processes back to the start value"],
  [stoppedCleanly, "stopped by itself on SIGTERM (exit code 0 or 130)"],
  [result.strays.length === 0, "no stdio server outlived the gateway"],
  [leaks.length === 0, "no issued token in output, responses or files"]
]

const out: Array<string> = []
out.push("")
out.push(
  `mcpgate soak: ${result.trafficSeconds.toFixed(0)} s of traffic at concurrency ${options.concurrency}, ` +
    `access tokens live ${options.tokenTtl} s, stdio server killed every ${options.restartEvery} s`
)
out.push("")
out.push(table(["kind", "requests", "injected", "unexplained", "p50 ms", "p99 ms", "max ms"], rows))
out.push("")
out.push(
  table(
    ["gateway process", "start", "end", "peak"],
    [
      ["RSS (MiB)", mib(result.before.rss), mib(result.after.rss), mib(result.peakRss)],
      [
        "open sockets",
        String(result.before.sockets.length),
        String(result.after.sockets.length),
        String(result.peakSockets)
      ],
      ["child processes", String(result.before.children.length), String(result.after.children.length), ""]
    ]
  )
)
out.push("")
out.push(
  table(
    ["measure", "value"],
    [
      ["throughput (requests/s)", (total / result.trafficSeconds).toFixed(1)],
      [
        "refreshes (refresh_token grants at the AS)",
        `${result.refreshes} (${(result.refreshes / result.trafficSeconds).toFixed(2)}/s)`
      ],
      ["token requests refused or failed", String(failedTokenRequests.length)],
      [
        "stdio restarts (recovered, median / max s)",
        `${result.windows.length} (${recoveries.length}, ${(
          percentile(
            [...recoveries].sort((a, b) => a - b),
            50
          ) / 1000
        ).toFixed(2)} / ${(Math.max(0, ...recoveries) / 1000).toFixed(2)})`
      ],
      ["settled after (s)", `${result.settleSeconds.toFixed(1)}${result.settled ? "" : " (did not settle)"}`],
      ["gateway output lines (scanned)", String(gateway.lineCount())],
      ["gateway warnings and errors logged", String(gateway.warnings().length)],
      ["text scanned for tokens (MiB)", mib(scanner.scannedChars)],
      ["tokens issued (each looked for)", String(result.tokensIssued)],
      ["stop on SIGTERM", `${result.stop.millis} ms, code ${result.stop.code}, signal ${result.stop.signal}`]
    ]
  )
)
out.push("")
for (const [ok, what] of verdicts) out.push(`${ok ? "PASS" : "FAIL"}  ${what}`)

const details: Array<string> = []
if (unexplained.length > 0) {
  details.push(`unexplained failures (${unexplained.length}; first 20):`)
  for (const outcome of unexplained.slice(0, 20)) {
    const at = ((outcome.startedAt - (result.windows[0]?.killedAt ?? outcome.startedAt)) / 1000).toFixed(2)
    for (const failure of outcome.failures) {
      details.push(`  ${outcome.kind} (${at} s after the first kill) [${failure.part}] ${failure.detail}`)
    }
  }
}
if (result.restartProblems.length > 0) details.push(...result.restartProblems.map((p) => `restart: ${p}`))
if (!socketsBack) {
  details.push("sockets at the start:", ...result.socketsAtStart.map((line) => `  ${line}`))
  details.push("sockets at the end:", ...result.socketsAtEnd.map((line) => `  ${line}`))
}
if (!childrenBack) {
  details.push(`children at the start: ${result.before.children.map((p) => `${p.pid} ${p.args}`).join("; ")}`)
  details.push(`children at the end: ${result.after.children.map((p) => `${p.pid} ${p.args}`).join("; ")}`)
}
if (result.strays.length > 0)
  details.push(`stray processes: ${result.strays.map((p) => `${p.pid} ${p.args}`).join("; ")}`)
for (const leak of leaks.slice(0, 20))
  details.push(`token leak in ${leak.where}: ${leak.tokenStart} …${leak.context}…`)
if (gateway.warnings().length > 0) {
  details.push(`gateway warnings (first 10 of ${gateway.warnings().length}):`)
  details.push(
    ...gateway
      .warnings()
      .slice(0, 10)
      .map((line) => `  ${line.slice(0, 400)}`)
  )
}
if (details.length > 0) {
  out.push("")
  out.push(...details)
}

process.stdout.write(`${out.join("\n")}\n`)
process.exit(verdicts.every(([ok]) => ok) ? 0 : 1)
