/**
 * startup: whole processes of the installed binary (packages/cli/bin/mcpgate.js and
 * its bundle, as `npm i -g` runs it), each against a bare `node` process doing the
 * least of the same job, measured alternately in the same run:
 *
 *   - `mcpgate serve`: spawn → first answered `GET /health` (polled every 2 ms on a
 *     fresh connection) vs a `node:http` server answering the same; and spawn → the
 *     first connection accepted (serve binds before it builds the gateway and holds
 *     what arrives meanwhile, so this comes earlier; /health still answers only once
 *     the gateway is built, docs/gateway.md#starting);
 *   - `mcpgate status --json --offline`: spawn → exit vs `node -e` printing `{}`;
 *   - the floors, bundled here as the CLI is: effect's HTTP server with one `/health`
 *     route (support/floors/HttpHello.ts); the same route served by an effect/cli
 *     `serve --config` command that reads and decodes its config with Schema, the
 *     gateway's stack without the gateway (support/floors/ServeHello.ts); and an
 *     effect/cli program with the `status` command's flags that prints `{}`
 *     (support/floors/CliHello.ts). What they take is what any start on effect takes
 *     before mcpgate's own code runs.
 *
 * Goals: serve ≤ 250 ms, status ≤ 120 ms at the median. Each run is a new process
 * (Node's compile cache, which the binary and the floors' launchers enable, is warm
 * after the warm-up runs: servers are stopped with SIGTERM, so that they write it).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"
import { nodeBundle } from "../scripts/build/NodeBundle.ts"
import { type Benchmark, type Row, rotate, type Stats, stats } from "./support/Harness.ts"

const binary = fileURLToPath(new URL("../packages/cli/bin/mcpgate.js", import.meta.url))

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

/** One `GET /health` on a fresh connection: whether it answered 200, and when (ms) it was connected. */
const answered = (
  port: number
): Promise<{ readonly ok: boolean; readonly connectedAt: number | undefined }> =>
  new Promise((resolve) => {
    let connectedAt: number | undefined
    const req = request({ host: "127.0.0.1", port, path: "/health", agent: false }, (response) => {
      response.resume()
      response.once("end", () => resolve({ ok: response.statusCode === 200, connectedAt }))
    })
    req.once("socket", (socket) => socket.once("connect", () => (connectedAt = performance.now())))
    req.once("error", () => resolve({ ok: false, connectedAt }))
    req.end()
  })

/** CPU time (user + system, ms) the process has used so far; Linux only (`undefined` elsewhere). */
const cpuOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

interface Started {
  /** Spawn → first 200 from /health. */
  readonly answered: number
  /** Spawn → first connection accepted. */
  readonly accepted: number
  /** CPU the process used up to the first answer (ms), where the platform tells. */
  readonly cpu: number | undefined
}

const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
  })

/**
 * Stops a started server as a service manager would, with SIGTERM (SIGKILL after 5 s):
 * Node writes its compile cache at exit, so a floor only ever killed would start cold
 * every time, while the gateway writes its own once listening (ServeCommand.ts).
 */
const stop = async (child: ChildProcess): Promise<void> => {
  child.kill("SIGTERM")
  const killer = setTimeout(() => child.kill("SIGKILL"), 5_000)
  await exited(child)
  clearTimeout(killer)
}

/** Spawns `args`, polls /health on `port` until it answers 200, kills the process; ms to the first accepted connection and to the answer. */
const timeToHealth = async (
  args: ReadonlyArray<string>,
  port: number,
  env: NodeJS.ProcessEnv
): Promise<Started> => {
  const start = performance.now()
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-2000)
  })
  try {
    while (performance.now() - start < 20_000) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before answering: ${stderr}`)
      const probe = await answered(port)
      if (probe.ok) {
        const cpu = cpuOf(child.pid)
        return { answered: performance.now() - start, accepted: (probe.connectedAt ?? start) - start, cpu }
      }
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    throw new Error(`no answer on /health within 20 s: ${stderr}`)
  } finally {
    await stop(child)
  }
}

/** Spawns `args` and waits for its exit; ms to the exit (a non-zero exit fails the run). */
const timeToExit = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => {
  const start = performance.now()
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
  const code = await exited(child)
  const elapsed = performance.now() - start
  if (code !== 0) throw new Error(`${args.join(" ")} exited ${code}: ${output.slice(0, 500)}`)
  JSON.parse(output)
  return elapsed
}

const bareServer = `
const http = require("node:http")
http.createServer((req, res) => res.end("{\\"status\\":\\"ok\\"}")).listen(Number(process.argv[1]), "127.0.0.1")
`

/**
 * Bundles a floor program as the CLI is bundled, with a launcher that enables
 * Node's compile cache as packages/cli/bin/mcpgate.js does; the launcher's path.
 */
const bundleFloor = async (name: string, directory: string): Promise<string> => {
  await build({
    ...nodeBundle,
    entryPoints: [fileURLToPath(new URL(`support/floors/${name}.ts`, import.meta.url))],
    outfile: join(directory, `${name}.mjs`)
  })
  const launcher = join(directory, `${name}-bin.mjs`)
  writeFileSync(
    launcher,
    `import module from "node:module"\nmodule.enableCompileCache?.()\nawait import("./${name}.mjs")\n`
  )
  return launcher
}

/** The median CPU to the first answer of `runs`, as a sentence for a note ("" where the platform does not tell). */
const cpuToAnswer = (runs: ReadonlyArray<Started>): string => {
  const cpus = runs.flatMap((run) => (run.cpu === undefined ? [] : [run.cpu]))
  return cpus.length === 0 ? "" : ` CPU to the answer: p50 ${stats(cpus).p50.toFixed(0)} ms.`
}

const spread = (s: Stats) => `${s.min.toFixed(0)}–${s.max.toFixed(0)} ms`

export const startup: Benchmark = {
  name: "startup",
  title: "the installed binary: serve to first /health, status --json --offline",
  run: async ({ quick, log }) => {
    const home = mkdtempSync(join(tmpdir(), "mcpgate-bench-"))
    try {
      const env = {
        PATH: process.env.PATH ?? "",
        HOME: home,
        MCPGATE_HOME: home,
        MCPGATE_TOKEN_STORE: "file",
        NO_COLOR: "1"
      }
      const config = join(home, "mcpgate.json")
      const stackConfig = join(home, "floor.json")
      const httpFloor = await bundleFloor("HttpHello", home)
      const serveFloor = await bundleFloor("ServeHello", home)
      const cliFloor = await bundleFloor("CliHello", home)
      const runs = quick ? 6 : 20
      log(
        `startup: ${runs} starts of mcpgate serve, of effect's HTTP server alone, of it under effect/cli and of a bare node:http server, rotating`
      )
      const serve = await rotate(
        {
          gateway: async () => {
            const port = await freePort()
            writeFileSync(
              config,
              JSON.stringify({
                mcpServers: {},
                server: { host: "127.0.0.1", port, upstream: { baseUrl: "http://127.0.0.1:9/v1" } }
              })
            )
            return timeToHealth([binary, "serve", "--config", config], port, env)
          },
          bare: async () => {
            const port = await freePort()
            return timeToHealth(["-e", bareServer, String(port)], port, env)
          },
          floor: async () => {
            const port = await freePort()
            return timeToHealth([httpFloor, String(port)], port, env)
          },
          stack: async () => {
            const port = await freePort()
            writeFileSync(stackConfig, JSON.stringify({ server: { host: "127.0.0.1", port } }))
            return timeToHealth([serveFloor, "serve", "--config", stackConfig], port, env)
          }
        },
        { warmup: 2, samples: runs }
      )
      log(
        `startup: ${runs} runs of mcpgate status --json --offline, of effect/cli alone and of node -e, rotating`
      )
      const status = await rotate(
        {
          gateway: () => timeToExit([binary, "status", "--json", "--offline", "--config", config], env),
          bare: () => timeToExit(["-e", "process.stdout.write('{}')"], env),
          floor: () => timeToExit([cliFloor, "status", "--json", "--offline", "--config", config], env)
        },
        { warmup: 2, samples: runs }
      )
      const serveStats = stats(serve.gateway.map((run) => run.answered))
      const bareStats = stats(serve.bare.map((run) => run.answered))
      const acceptedStats = stats(serve.gateway.map((run) => run.accepted))
      const bareAccepted = stats(serve.bare.map((run) => run.accepted))
      const cpu = cpuToAnswer(serve.gateway)
      const statusStats = stats(status.gateway)
      const httpFloorStats = stats(serve.floor.map((run) => run.answered))
      const floorCpu = cpuToAnswer(serve.floor)
      const stackFloorStats = stats(serve.stack.map((run) => run.answered))
      const cliFloorStats = stats(status.floor)
      const rows: Array<Row> = [
        {
          kind: "latency",
          benchmark: "startup",
          comparison: "`mcpgate serve`: spawn → first answered /health vs a bare node:http server",
          candidate: serveStats,
          baseline: bareStats,
          goal: { text: "≤ 250 ms at p50", met: serveStats.p50 <= 250 },
          note: `${runs} runs; spread ${spread(serveStats)} (bare node: ${spread(bareStats)}).${cpu}`
        },
        {
          kind: "latency",
          benchmark: "startup",
          comparison:
            "`mcpgate serve`: spawn → first accepted connection (held until the gateway answers) vs a bare node:http server",
          candidate: acceptedStats,
          baseline: bareAccepted,
          note: `${runs} runs; spread ${spread(acceptedStats)} (bare node: ${spread(bareAccepted)}).`
        },
        {
          kind: "latency",
          benchmark: "startup",
          comparison: "`mcpgate status --json --offline`: spawn → exit vs `node -e` printing {}",
          candidate: statusStats,
          baseline: stats(status.bare),
          goal: { text: "≤ 120 ms at p50", met: statusStats.p50 <= 120 },
          note: `${runs} runs; spread ${spread(statusStats)} (bare node: ${spread(stats(status.bare))}).`
        },
        {
          kind: "latency",
          benchmark: "startup",
          comparison:
            "floor: effect's HTTP server with one /health route, bundled as the CLI: spawn → first answered /health vs a bare node:http server",
          candidate: httpFloorStats,
          baseline: bareStats,
          note: `${runs} runs; spread ${spread(httpFloorStats)}.${floorCpu} The least a start on effect's HTTP server takes here, before any of the gateway's code.`
        },
        {
          kind: "latency",
          benchmark: "startup",
          comparison:
            "floor: the same route under an effect/cli `serve --config` command that reads and decodes its config with Schema (the gateway's stack, none of its code), bundled as the CLI: spawn → first answered /health vs a bare node:http server",
          candidate: stackFloorStats,
          baseline: bareStats,
          note: `${runs} runs; spread ${spread(stackFloorStats)}.${cpuToAnswer(serve.stack)} What \`serve\` costs on effect/cli, Schema and effect's HTTP server before the gateway's own code: ${stackFloorStats.p50 < 250 ? `the goal leaves the gateway ${(250 - stackFloorStats.p50).toFixed(0)} ms over it` : "over the goal before any of the gateway's code"}.`
        },
        {
          kind: "latency",
          benchmark: "startup",
          comparison:
            "floor: effect/cli with the status command's flags, printing {}, bundled as the CLI: spawn → exit vs `node -e` printing {}",
          candidate: cliFloorStats,
          baseline: stats(status.bare),
          note: `${runs} runs; spread ${spread(cliFloorStats)}. The least an effect/cli command takes here, before any of mcpgate's code.`
        }
      ]
      return rows
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  }
}
