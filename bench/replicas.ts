/**
 * replicas: `mcpgate serve` replicas on one Postgres store (docs/store.md),
 * with oidc-provider issuing 40-second access tokens and rotating refresh
 * tokens, and the MCP server it protects (all from @mcpgate/testing). The
 * tokens live long enough for a whole burst to fit in one token's life on a
 * busy machine, so every refresh counted belongs to the one expiry:
 *
 *   - `POST /v1/mcp/execute` with a valid token, one at a time: a replica on
 *     the Postgres store against a replica on the local (file) store, both
 *     called directly. Goal: the Postgres store adds nothing measurable to the
 *     p50 (the credential comes from the replica's cache).
 *   - 1,000 concurrent calls through HAProxy (round robin over 3 replicas)
 *     once the token is due for a refresh, against the same burst on a fresh
 *     token. Goal: exactly one refresh request at the authorization server.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import * as AuthServer from "../packages/testing/src/AuthServer.ts"
import { redirectFor } from "../packages/testing/src/Harness.ts"
import { freePort } from "../packages/testing/src/Loopback.ts"
import * as Postgres from "../packages/testing/src/Postgres.ts"
import * as ProtectedMcpServer from "../packages/testing/src/ProtectedMcpServer.ts"
import { alternate, type Benchmark, type Row, stats, timed } from "./support/Harness.ts"

const binary = fileURLToPath(new URL("../packages/cli/bin/mcpgate.js", import.meta.url))
const adminToken = "bench-admin-token-51c0"
const encryptionKey = Buffer.alloc(32, 6).toString("base64")

const startChild = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  children: Array<ChildProcess>
) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [binary, ...args], { env, cwd: env.HOME })
    children.push(child)
    let output = ""
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (/listening on/.test(output)) resolve()
    })
    child.once("exit", (code) => reject(new Error(`serve exited early (${code}): ${output}`)))
  })

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMillis = 30_000) => {
  const started = Date.now()
  while (!(await check().catch(() => false))) {
    if (Date.now() - started > timeoutMillis) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const execute = async (base: string, tool: string) => {
  const response = await fetch(`${base}/v1/mcp/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tool_name: tool })
  })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`execute answered ${response.status}: ${text}`)
}

/** A web login on `base` (its own publicUrl), completed through `callbackBase`. */
const login = async (base: string, callbackBase: string) => {
  const begun = await fetch(`${base}/admin/api/mcp/servers/notes/authenticate`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}` }
  })
  const { authUrl } = (await begun.json()) as { authUrl: string }
  const callback = new URL(
    await Effect.runPromise(redirectFor(authUrl, `${callbackBase}/admin/api/mcp/oauth/callback`))
  )
  const page = await fetch(`${base}${callback.pathname}${callback.search}`)
  if (page.status !== 200) throw new Error(`the login callback answered ${page.status}`)
}

const whoamiOf = async (base: string) => {
  const tools = (await (await fetch(`${base}/v1/mcp/tools`)).json()) as {
    tools: ReadonlyArray<{ name: string }>
  }
  const name = tools.tools.find((tool) => tool.name.endsWith("whoami"))?.name
  if (name === undefined) throw new Error("no whoami tool")
  return name
}

export const replicas: Benchmark = {
  name: "replicas",
  title: "Replicas on one Postgres store: tool call vs the local store, a burst on an expiring token",
  run: async ({ quick, log }) => {
    const scope = Effect.runSync(Scope.make())
    const children: Array<ChildProcess> = []
    const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) =>
      Effect.runPromise(Scope.provide(effect, scope))
    try {
      const database = await run(Postgres.start())
      let resource = ""
      const as = await run(AuthServer.start({ resource: () => resource, accessTokenTtl: 40 }))
      const mcp = await run(ProtectedMcpServer.start({ issuer: () => as.issuer }))
      resource = mcp.url
      const balancerPort = await Effect.runPromise(freePort)
      const balancer = `http://127.0.0.1:${balancerPort}`

      const serve = async (store: "postgres" | "local", publicUrl: string | undefined) => {
        const port = await Effect.runPromise(freePort)
        const home = mkdtempSync(join(tmpdir(), "mcpgate-bench-replica-"))
        const config = join(home, "mcpgate.json")
        writeFileSync(
          config,
          JSON.stringify({
            mcpServers: { notes: { url: mcp.url, auth: { type: "oauth2" } } },
            builtins: { fetch: { enabled: false }, webSearch: { enabled: false } },
            server: publicUrl === undefined ? {} : { publicUrl },
            ...(store === "postgres" ? { store: { type: "postgres", url: "${env:DATABASE_URL}" } } : {})
          })
        )
        await startChild(
          ["serve", "--config", config, "--port", String(port)],
          {
            PATH: process.env.PATH ?? "",
            HOME: home,
            MCPGATE_HOME: home,
            MCPGATE_TOKEN_STORE: "file",
            DATABASE_URL: database.url,
            MCPGATE_ENCRYPTION_KEY: encryptionKey,
            MCPGATE_ADMIN_TOKEN: adminToken
          },
          children
        )
        return `http://127.0.0.1:${port}`
      }
      log("replicas: starting 3 replicas on Postgres, 1 on the local store, and HAProxy")
      const shared = [
        await serve("postgres", balancer),
        await serve("postgres", balancer),
        await serve("postgres", balancer)
      ]
      const local = await serve("local", undefined)
      const home = mkdtempSync(join(tmpdir(), "mcpgate-bench-haproxy-"))
      writeFileSync(
        join(home, "haproxy.cfg"),
        [
          "defaults",
          "  mode http",
          "  timeout connect 5s",
          "  timeout client 60s",
          "  timeout server 60s",
          "frontend gateway",
          `  bind 127.0.0.1:${balancerPort}`,
          "  default_backend replicas",
          "backend replicas",
          "  balance roundrobin",
          ...shared.map((base, index) => `  server r${index} ${base.replace("http://", "")}`),
          ""
        ].join("\n")
      )
      children.push(spawn("/usr/sbin/haproxy", ["-f", join(home, "haproxy.cfg"), "-db"], { stdio: "ignore" }))
      await waitFor("HAProxy", async () => (await fetch(`${balancer}/health`)).status === 200)

      const [first] = shared as [string]
      await login(first, balancer)
      await login(local, local)
      const tool = await whoamiOf(balancer)
      for (const base of [...shared, local])
        await waitFor(`${base} connected`, async () => {
          await execute(base, tool)
          return true
        })

      const samples = quick ? 200 : 1000
      log(`replicas: ${samples} sequential calls each, Postgres replica vs local replica, alternating`)
      const sequential = await alternate(
        timed(() => execute(first, tool)),
        timed(() => execute(local, tool)),
        {
          warmup: quick ? 30 : 100,
          samples
        }
      )

      const failures: Array<string> = []
      const burst = async () => {
        const latencies = await Promise.all(
          Array.from({ length: 1000 }, () =>
            timed(() =>
              execute(balancer, tool).catch((error: unknown) => {
                const cause =
                  error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ""
                failures.push(`${String(error)}${cause}`)
              })
            )()
          )
        )
        return latencies
      }
      log(
        "replicas: 1,000 concurrent calls through HAProxy on a token due for a refresh, then on a fresh one"
      )
      // Gateways refresh on use once half the stored token's life (20 s) has passed, and the
      // connection's health-check pings use it too: the burst starts just past the half-life
      // of the newest token issued, before a ping gets there. A ping that still wins leaves
      // the burst nothing to refresh; it is then run again at the next token's half-life.
      const burstOnExpiringToken = async () => {
        const issued = as.tokenRequests.filter((r) => r.status === 200 && r.at !== undefined)
        const newest = Math.max(...issued.map((r) => r.at ?? 0))
        const wait = newest + 20_000 + 300 - Date.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
        const before = as.tokenRequests.length
        const latencies = await burst()
        return {
          latencies,
          refreshes: as.tokenRequests.slice(before).filter((r) => r.grantType === "refresh_token")
        }
      }
      let attempt = await burstOnExpiringToken()
      if (attempt.refreshes.length === 0) {
        log(
          "replicas: a health-check ping refreshed the token before the burst; once more at the next half-life"
        )
        attempt = await burstOnExpiringToken()
      }
      const expiring = attempt.latencies
      const burstRefreshes = attempt.refreshes
      const refreshes = burstRefreshes.length
      const refused = burstRefreshes.filter((r) => r.status !== 200).length
      // Each refresh presents the refresh token of one expiry (they rotate): a
      // second request presenting the same one is a duplicate; one presenting the
      // token the first issued belongs to the next expiry (a burst outliving the
      // new token's half-life on a loaded machine).
      const expiries = new Set(burstRefreshes.map((r) => r.presented)).size
      const fresh = await burst()
      if (failures.length > 0) log(`replicas: ${failures.length} burst call(s) failed, e.g. ${failures[0]}`)

      return [
        {
          benchmark: "replicas",
          kind: "latency",
          comparison:
            "POST /v1/mcp/execute, valid token: replica on the Postgres store vs replica on the local store (sequential)",
          candidate: stats(sequential.candidate),
          baseline: stats(sequential.baseline),
          goal: {
            text: "added p50 within noise (≤ 0.5 ms)",
            met: stats(sequential.candidate).p50 - stats(sequential.baseline).p50 <= 0.5
          }
        },
        {
          benchmark: "replicas",
          kind: "latency",
          comparison: `1,000 concurrent calls over 3 replicas (HAProxy): token due for a refresh vs fresh token; refresh requests at the AS: ${refreshes} for ${expiries} expir${expiries === 1 ? "y" : "ies"}, refused: ${refused}, failed calls: ${failures.length}`,
          candidate: stats(expiring),
          baseline: stats(fresh),
          concurrent: true,
          goal: {
            text: "1 refresh request at the AS per token expiry",
            met: refreshes === expiries && expiries >= 1 && refused === 0 && failures.length === 0
          }
        }
      ] satisfies ReadonlyArray<Row>
    } finally {
      for (const child of children) child.kill("SIGKILL")
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}
