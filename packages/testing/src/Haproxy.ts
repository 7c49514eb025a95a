/**
 * HAProxy from Debian as the load balancer in front of gateway replicas: HTTP
 * mode, round robin, no stickiness, on a free 127.0.0.1 port; stopped when the
 * scope ends. With `check`, a backend that stops answering is taken out within
 * about a second and put back once it answers `/health` again.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { freePort } from "./Loopback.ts"

export const binary = "/usr/sbin/haproxy"

export interface Balancer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  readonly pid: number
}

export interface BalancerOptions {
  /** The ports of the replicas on 127.0.0.1. */
  readonly backends: ReadonlyArray<number>
  /** Health checks on `/health` every 300 ms (a killed replica leaves the rotation). */
  readonly check?: boolean | undefined
  /**
   * `/mcp` requests to the replica that opened their session (a stick table on
   * the `Mcp-Session-Id` response and request header); everything else round robin.
   */
  readonly stickyMcpSessions?: boolean | undefined
  /** The port to bind (default: a free one). */
  readonly port?: number | undefined
}

/** As in the README's "Several replicas" example. */
export const mcpStickiness = [
  "  stick-table type string len 128 size 100k expire 1h",
  "  stick store-response res.hdr(mcp-session-id)",
  "  stick match req.hdr(mcp-session-id)"
]

const config = (port: number, options: BalancerOptions) =>
  [
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    ...(options.check === true
      ? ["  option httpchk GET /health", "  default-server inter 300 fall 1 rise 1"]
      : []),
    "frontend gateway",
    `  bind 127.0.0.1:${port}`,
    "  default_backend replicas",
    "backend replicas",
    "  balance roundrobin",
    ...(options.stickyMcpSessions === true ? mcpStickiness : []),
    ...options.backends.map(
      (backend, index) =>
        `  server r${index + 1} 127.0.0.1:${backend}${options.check === true ? " check" : ""}`
    ),
    ""
  ].join("\n")

/** Starts HAProxy and waits until it answers `/health` from a replica. */
export const start = (options: BalancerOptions): Effect.Effect<Balancer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const port = options.port ?? (yield* freePort)
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "mcpgate-haproxy-"))),
      (directory) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
    )
    const file = join(directory, "haproxy.cfg")
    writeFileSync(file, config(port, options))
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(binary, ["-f", file, "-db"], { stdio: "ignore" })),
      (child) =>
        Effect.callback<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGKILL")
        })
    )
    const url = `http://127.0.0.1:${port}`
    yield* Effect.promise(async () => {
      const started = Date.now()
      for (;;) {
        const ok = await fetch(`${url}/health`)
          .then((response) => response.status === 200)
          .catch(() => false)
        if (ok) return
        if (Date.now() - started > 15_000) throw new Error("HAProxy did not answer /health within 15 s")
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })
    return { url, port, pid: child.pid ?? 0 }
  })
