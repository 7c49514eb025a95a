/**
 * `pnpm soak -- --replicas 3 --store postgres`: several `mcpgate serve` on one
 * private PostgreSQL behind HAProxy (round robin, no stickiness), oidc-provider
 * with short-lived access tokens and rotating refresh tokens, the soak's mixed
 * traffic (Traffic.ts) through the balancer. Injected faults: one replica is
 * killed with SIGKILL while its refresh request is at the authorization server
 * (the request is dropped unprocessed, as if the replica died before it was
 * sent) and started again on its port; PostgreSQL is restarted once. The
 * protected server is logged in on the web: begun on one replica, completed on
 * another (docs/store.md#replicas).
 *
 * Figures: requests, failures no injected fault explains (goal 0), refreshes
 * per access-token expiry per credential (goal exactly 1: each refresh token
 * issued is presented once), logins completed on another replica.
 */
import { mkdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import type * as AuthServer from "@mcpgate/testing/AuthServer"
import * as Haproxy from "@mcpgate/testing/Haproxy"
import { redirectFor } from "@mcpgate/testing/Harness"
import { freePort } from "@mcpgate/testing/Loopback"
import * as Postgres from "@mcpgate/testing/Postgres"
import { Effect } from "effect"
import * as Fixtures from "./Fixtures.ts"
import * as GatewayProcess from "./GatewayProcess.ts"
import * as Probe from "./Probe.ts"
import * as ProcessStats from "./ProcessStats.ts"
import { ms, percentile, table } from "./Report.ts"
import { TokenScanner } from "./TokenScan.ts"
import * as Traffic from "./Traffic.ts"

export interface ReplicaSoakOptions {
  readonly seconds: number
  readonly replicas: number
  readonly concurrency: number
  readonly tokenTtl: number
  readonly logLevel: string
  /** `/mcp` sessions sticky at HAProxy (no longer needed: sessions continue on any replica). */
  readonly stickyMcpSessions?: boolean | undefined
  readonly log: (line: string) => void
}

interface Outcome {
  readonly kind: Traffic.Kind
  readonly startedAt: number
  readonly endedAt: number
  readonly failures: ReadonlyArray<Traffic.Failure>
}

interface Window {
  readonly fault: "replica-kill" | "postgres-restart"
  readonly from: number
  until: number
}

export interface ReplicaSoakResult {
  readonly options: Omit<ReplicaSoakOptions, "log">
  readonly trafficSeconds: number
  readonly requests: number
  readonly latencies: ReadonlyMap<Traffic.Kind, ReadonlyArray<number>>
  readonly failed: ReadonlyArray<Outcome>
  readonly windows: ReadonlyArray<Window>
  readonly killedDuringRefresh: boolean
  readonly crossReplicaLogins: number
  readonly credentials: ReadonlyArray<CredentialRefreshes>
  readonly refusedRefreshes: number
  readonly problems: ReadonlyArray<string>
  readonly leaks: number
  readonly strays: ReadonlyArray<string>
}

/** One credential (one client at the authorization server): its token generations in the run. */
export interface CredentialRefreshes {
  readonly clientId: string
  /** Access tokens whose lifetime ended during the traffic. */
  readonly expiries: number
  /** Successful refresh grants that presented the refresh token of one of those. */
  readonly refreshes: number
  /** How many of the expired generations had exactly one refresh. */
  readonly exactlyOne: number
}

const adminPath = "/admin/api/mcp"
/** A failure still counts as explained this long after the fault was over. */
const graceMs = 2000
const encryptionKey = Buffer.alloc(32, 7).toString("base64")

/** The pid of the replica whose socket has local port `port` (a client connection to the AS). */
const ownerOfPort = (pids: ReadonlyArray<number>, port: number): number | undefined =>
  pids.find((pid) =>
    [...ProcessStats.describeSockets(pid, ProcessStats.socketInodes(pid)).values()].some((text) =>
      text.startsWith(`tcp 127.0.0.1:${port} `)
    )
  )

/**
 * A `/mcp` request answered 404 "Session not found": its session was neither held by
 * the replica it reached nor found in the store (docs/store.md#mcp-sessions).
 */
const sessionNotFound = (failure: Traffic.Failure) =>
  /^\/mcp (tools\/call \S+|notifications\/initialized): HTTP 404/.test(failure.detail)

/** Every failure of the outcome is a `/mcp` 404, counted apart in the report. */
export const mcpNotFound = (outcome: Outcome) => outcome.failures.every(sessionNotFound)

/**
 * Failures an injected fault explains: anything while a replica is killed; while
 * PostgreSQL restarts, what needs it (a session opened then is not recorded, so
 * it continues only on its own replica: a 404 elsewhere).
 */
export const explainedBy = (outcome: Outcome, windows: ReadonlyArray<Window>) =>
  windows.some(
    (window) =>
      outcome.endedAt >= window.from &&
      outcome.startedAt <= window.until + graceMs &&
      (window.fault === "replica-kill" ||
        outcome.failures.every(
          (failure) =>
            failure.part === "protected" ||
            sessionNotFound(failure) ||
            /HTTP 50[234]|unavailable|disconnected/.test(failure.detail)
        ))
  )

export const refreshesPerCredential = (
  requests: ReadonlyArray<AuthServer.TokenRequest>,
  from: number,
  until: number,
  ttlSeconds: number
): ReadonlyArray<CredentialRefreshes> => {
  const byClient = new Map<string, Array<AuthServer.TokenRequest>>()
  for (const request of requests) {
    if (request.clientId === undefined) continue
    byClient.set(request.clientId, [...(byClient.get(request.clientId) ?? []), request])
  }
  return [...byClient].map(([clientId, list]) => {
    const expired = list.filter(
      (request) =>
        request.status === 200 &&
        request.issued !== undefined &&
        (request.at ?? 0) + ttlSeconds * 1000 >= from &&
        (request.at ?? 0) + ttlSeconds * 1000 <= until
    )
    const counts = expired.map(
      (generation) =>
        list.filter(
          (request) =>
            request.grantType === "refresh_token" &&
            request.status === 200 &&
            request.presented === generation.issued
        ).length
    )
    return {
      clientId,
      expiries: expired.length,
      refreshes: counts.reduce((sum, n) => sum + n, 0),
      exactlyOne: counts.filter((n) => n === 1).length
    }
  })
}

export const soak = (options: ReplicaSoakOptions): Promise<ReplicaSoakResult> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const { log } = options
        log("starting PostgreSQL")
        const database = yield* Postgres.start()
        const balancerPort = yield* freePort
        const balancerUrl = `http://127.0.0.1:${balancerPort}`
        const fixtures = yield* Fixtures.start({
          accessTokenTtl: options.tokenTtl,
          server: { publicUrl: balancerUrl },
          store: { type: "postgres", url: database.url }
        })
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => rmSync(fixtures.home, { recursive: true, force: true }))
        )
        const scanner = new TokenScanner(fixtures.as.issuedTokens)
        const ports: Array<number> = []
        for (let i = 0; i < options.replicas; i++) ports.push(yield* freePort)
        const replicas: Array<GatewayProcess.GatewayProcess> = []
        const startReplica = (index: number) =>
          GatewayProcess.start({
            configPath: fixtures.configPath,
            home: replicaHome(fixtures.home, index),
            logLevel: options.logLevel,
            bundled: false,
            port: ports[index],
            env: { MCPGATE_ENCRYPTION_KEY: encryptionKey },
            onLine: (line) => scanner.queue(line, `replica ${index + 1} output`)
          })
        yield* Effect.acquireRelease(
          Effect.promise(async () => {
            for (let i = 0; i < options.replicas; i++) mkdirHome(fixtures.home, i)
            // Each kept as soon as it runs, so that a failed start still stops the others.
            await Promise.all(
              ports.map(async (_, i) => {
                replicas[i] = await startReplica(i)
              })
            )
          }),
          () =>
            Effect.promise(() =>
              Promise.all(replicas.filter(Boolean).map((replica) => replica.stop("SIGTERM", 10_000)))
            )
        )
        log(`replicas on ports ${ports.join(", ")}; HAProxy on ${balancerPort}`)
        const balancer = yield* Haproxy.start({
          backends: ports,
          port: balancerPort,
          check: true,
          stickyMcpSessions: options.stickyMcpSessions
        })
        const result = yield* Effect.promise(() =>
          traffic(options, fixtures, database, balancer, replicas, startReplica, scanner)
        )
        return { result, fixtures, database, balancer }
      })
    ).pipe(
      Effect.map(({ result, fixtures, database, balancer }) => {
        // After every part stopped: nothing of this run may still be running.
        const strays = ProcessStats.livingProcesses()
          .filter(
            (p) =>
              p.args.includes(fixtures.marker) ||
              p.args.includes(database.dataDirectory) ||
              p.args.includes(fixtures.configPath) ||
              p.pid === balancer.pid
          )
          .map((p) => `${p.pid} ${p.args}`)
        return { ...result, strays }
      })
    )
  )

const replicaHome = (home: string, index: number) => join(home, `replica-${index + 1}`)
const mkdirHome = (home: string, index: number) => mkdirSync(replicaHome(home, index), { recursive: true })

const traffic = async (
  options: ReplicaSoakOptions,
  fixtures: Fixtures.Fixtures,
  database: Postgres.PostgresServer,
  balancer: Haproxy.Balancer,
  replicas: Array<GatewayProcess.GatewayProcess>,
  startReplica: (index: number) => Promise<GatewayProcess.GatewayProcess>,
  scanner: TokenScanner
): Promise<Omit<ReplicaSoakResult, "strays">> => {
  const { log } = options
  const seen = (text: string, where: string) => scanner.queue(text, where)
  const problems: Array<string> = []
  const admin = { authorization: `Bearer ${fixtures.adminToken}` }
  const stateOf = async (url: string, name: string) =>
    (await Probe.servers(url, seen).catch(() => [])).find((server) => server.name === name)?.state

  // The web login: begun on the first replica, the browser comes back to the second.
  const [first, second] = replicas
  if (first === undefined || second === undefined)
    throw new Error("the replica soak needs two replicas or more")
  for (const replica of replicas) {
    if (!(await Probe.until(async () => (await stateOf(replica.url, "protected")) === "needs_auth", 30_000)))
      throw new Error(`protected does not wait for a login on ${replica.url}`)
  }
  log("web login: begun on replica 1, completed on replica 2")
  const begun = await Probe.request(`${first.url}${adminPath}/servers/protected/authenticate`, {
    method: "POST",
    headers: admin
  })
  if (begun.status !== 200) throw new Error(`the login did not begin: ${begun.status} ${begun.text}`)
  const { authUrl } = JSON.parse(begun.text) as { authUrl: string }
  const callback = new URL(
    await Effect.runPromise(redirectFor(authUrl, `${balancer.url}${adminPath}/oauth/callback`))
  )
  const completed = await Probe.request(`${second.url}${callback.pathname}${callback.search}`)
  let crossReplicaLogins = 0
  if (completed.status === 200) crossReplicaLogins++
  else problems.push(`the login completed on replica 2 answered ${completed.status}`)
  for (const replica of replicas) {
    const up = await Probe.until(async () => {
      const states = await Probe.servers(replica.url, seen).catch(() => [])
      return states.length === 2 && states.every((server) => server.state === "connected")
    }, 30_000)
    if (!up) throw new Error(`the servers did not connect on ${replica.url}`)
  }

  log(
    `${options.seconds} s of traffic at concurrency ${options.concurrency} through HAProxy; tokens live ${options.tokenTtl} s`
  )
  const client: Traffic.Client = { url: balancer.url, timeoutMs: 30_000, seen }
  const startedAt = performance.now()
  const wallStart = Date.now()
  const deadline = startedAt + options.seconds * 1000
  const latencies = new Map<Traffic.Kind, Array<number>>(Traffic.kinds.map((kind) => [kind, []]))
  const failed: Array<Outcome> = []
  const windows: Array<Window> = []
  let killedDuringRefresh = false

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

  /** Kills the replica whose refresh request arrives next at the AS (any replica after 3 token lives). */
  const killDuringRefresh = async () => {
    let victim: number | undefined
    const killed = new Promise<number>((resolve) => {
      fixtures.as.hold = async (path, remotePort) => {
        if (path !== "/token" || victim !== undefined) return
        const owner = ownerOfPort(
          replicas.map((replica) => replica.pid),
          remotePort
        )
        const index = replicas.findIndex((replica) => replica.pid === owner)
        if (index === -1) return
        victim = index
        killedDuringRefresh = true
        resolve(index)
        await replicas[index]?.stop("SIGKILL", 1000)
        // Never processed: the replica died before its refresh reached the AS (the token is not rotated).
        await new Promise<never>(() => {})
      }
    })
    const index = await Promise.race([killed, Probe.sleep(options.tokenTtl * 3000).then(() => undefined)])
    fixtures.as.hold = undefined
    const window: Window = { fault: "replica-kill", from: performance.now(), until: Number.POSITIVE_INFINITY }
    windows.push(window)
    const chosen = index ?? 0
    if (index === undefined) {
      problems.push("no refresh arrived within 3 token lives: a replica was killed outside a refresh")
      await replicas[chosen]?.stop("SIGKILL", 1000)
    }
    log(
      `replica ${chosen + 1} killed with SIGKILL${index === undefined ? "" : " during its refresh"}; restarting it`
    )
    const restarted = await startReplica(chosen)
    replicas[chosen] = restarted
    // Back in HAProxy's rotation once its health check passes (every 300 ms).
    await Probe.until(async () => (await stateOf(restarted.url, "protected")) === "connected", 30_000)
    await Probe.sleep(600)
    window.until = performance.now()
    log(`replica ${chosen + 1} back after ${((window.until - window.from) / 1000).toFixed(1)} s`)
  }

  const restartPostgres = async () => {
    const window: Window = {
      fault: "postgres-restart",
      from: performance.now(),
      until: Number.POSITIVE_INFINITY
    }
    windows.push(window)
    log("restarting PostgreSQL")
    await Effect.runPromise(database.restart)
    // Recovered once a call that needs the credential works on every replica (the protected
    // server connected again, its token read from the store).
    const recovered = await Probe.until(
      async () => {
        const answers = await Promise.all(
          replicas.map((replica) =>
            Probe.request(`${replica.url}/v1/mcp/execute`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ tool_name: Fixtures.whoamiTool, arguments: {} })
            }).catch(() => ({ status: 0, text: "" }))
          )
        )
        return answers.every((answer) => answer.status === 200)
      },
      30_000,
      200
    )
    window.until = performance.now()
    if (!recovered) problems.push("the replicas did not recover within 30 s of the PostgreSQL restart")
    log(`PostgreSQL back; replicas recovered after ${((window.until - window.from) / 1000).toFixed(1)} s`)
  }

  // The short PostgreSQL restart first: the kill waits for a refresh and the restarted replica's start,
  // which take longest on a loaded machine, and both must fall inside the traffic.
  const faults = async () => {
    await Probe.sleep(options.seconds * 200)
    await restartPostgres()
    const next = startedAt + options.seconds * 450
    await Probe.sleep(Math.max(0, next - performance.now()))
    await killDuringRefresh()
  }

  await Promise.all([...Array.from({ length: options.concurrency }, (_, i) => worker(i)), faults()])
  const trafficSeconds = (performance.now() - startedAt) / 1000
  const wallEnd = Date.now()
  scanner.flush()
  const requests = fixtures.as.tokenRequests
  return {
    options: {
      seconds: options.seconds,
      replicas: options.replicas,
      concurrency: options.concurrency,
      tokenTtl: options.tokenTtl,
      logLevel: options.logLevel,
      stickyMcpSessions: options.stickyMcpSessions
    },
    trafficSeconds,
    requests: [...latencies.values()].reduce((sum, list) => sum + list.length, 0),
    latencies,
    failed,
    windows,
    killedDuringRefresh,
    crossReplicaLogins,
    credentials: refreshesPerCredential(requests, wallStart, wallEnd, options.tokenTtl),
    refusedRefreshes: requests.filter(
      (request) => request.grantType === "refresh_token" && request.status !== 200
    ).length,
    problems,
    leaks: scanner.leaks.length
  }
}

export const verdicts = (result: ReplicaSoakResult): ReadonlyArray<readonly [boolean, string]> => {
  const unexplained = result.failed.filter((o) => !explainedBy(o, result.windows))
  return [
    [result.requests > 0, "requests were made"],
    [unexplained.length === 0, "no failure without an injected fault"],
    [
      result.credentials.length > 0 &&
        result.credentials.every(
          (c) => c.expiries > 0 && c.exactlyOne === c.expiries && c.refreshes === c.expiries
        ),
      "exactly one refresh per token expiry per credential"
    ],
    [result.refusedRefreshes === 0, "no refresh refused (no rotated refresh token used twice)"],
    [result.crossReplicaLogins >= 1, "a login begun on one replica completed on another"],
    [result.killedDuringRefresh, "a replica was killed during its refresh"],
    [result.problems.length === 0, "every injected fault recovered"],
    [result.leaks === 0, "no issued token in output or responses"],
    [result.strays.length === 0, "no process of the run left"]
  ]
}

export const report = (result: ReplicaSoakResult): string => {
  const rows = Traffic.kinds.map((kind) => {
    const sorted = [...(result.latencies.get(kind) ?? [])].sort((a, b) => a - b)
    const ofKind = result.failed.filter((o) => o.kind === kind)
    const injected = ofKind.filter((o) => explainedBy(o, result.windows)).length
    const notFound = ofKind.filter(mcpNotFound).length
    return [
      kind,
      String(sorted.length),
      String(injected),
      String(ofKind.length - injected),
      String(notFound),
      ms(percentile(sorted, 50)),
      ms(percentile(sorted, 99))
    ]
  })
  const sum = (column: number) => String(rows.reduce((total, row) => total + Number(row[column]), 0))
  rows.push(["total", sum(1), sum(2), sum(3), sum(4), "", ""])
  const o = result.options
  const out = [
    "",
    `mcpgate replica soak: ${o.replicas} replicas behind HAProxy on one PostgreSQL, ${result.trafficSeconds.toFixed(0)} s ` +
      `at concurrency ${o.concurrency}, access tokens live ${o.tokenTtl} s` +
      (o.stickyMcpSessions === true ? ", /mcp sessions sticky at HAProxy" : ", no stickiness"),
    "",
    table(["kind", "requests", "injected", "unexplained", "of them /mcp 404", "p50 ms", "p99 ms"], rows),
    "",
    table(
      [
        "credential (client)",
        "token expiries",
        "refreshes",
        "refreshes per expiry",
        "expiries with exactly 1"
      ],
      result.credentials.map((c) => [
        c.clientId.slice(0, 12),
        String(c.expiries),
        String(c.refreshes),
        c.expiries === 0 ? "-" : (c.refreshes / c.expiries).toFixed(2),
        String(c.exactlyOne)
      ])
    ),
    "",
    table(
      ["measure", "value"],
      [
        ["refresh grants refused at the AS", String(result.refusedRefreshes)],
        ["logins begun on one replica, completed on another", String(result.crossReplicaLogins)],
        ...result.windows.map((w): [string, string] => [
          w.fault === "replica-kill"
            ? `replica SIGKILL${result.killedDuringRefresh ? " during a refresh" : ""}, back in rotation after (s)`
            : "PostgreSQL restart, every replica serving again after (s)",
          ((w.until - w.from) / 1000).toFixed(1)
        ]),
        ["token leaks", String(result.leaks)],
        ["stray processes afterwards", String(result.strays.length)]
      ]
    ),
    "",
    ...verdicts(result).map(([ok, what]) => `${ok ? "PASS" : "FAIL"}  ${what}`)
  ]
  const mcpCalls =
    (result.latencies.get("mcp-stdio")?.length ?? 0) + (result.latencies.get("mcp-protected")?.length ?? 0)
  const notFound = result.failed.filter(mcpNotFound)
  out.push(
    `/mcp   ${notFound.length} of ${mcpCalls} /mcp calls answered 404 "Session not found" ` +
      `(${notFound.filter((o) => !explainedBy(o, result.windows)).length} outside an injected fault)`
  )
  const unexplained = result.failed.filter((o) => !explainedBy(o, result.windows))
  if (unexplained.length > 0) {
    out.push("", `unexplained failures (${unexplained.length}; first 20):`)
    for (const outcome of unexplained.slice(0, 20))
      for (const failure of outcome.failures)
        out.push(`  ${outcome.kind} [${failure.part}] ${failure.detail}`)
  }
  for (const problem of result.problems) out.push(`problem: ${problem}`)
  for (const stray of result.strays) out.push(`stray: ${stray}`)
  return `${out.join("\n")}\n`
}
