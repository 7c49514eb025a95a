/**
 * `mcpgate serve` as a child process, exactly as a user starts it (the CLI's
 * bin.ts on this Node, a config file, MCPGATE_HOME), so that its memory,
 * sockets and children are the gateway's alone.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const binPath = fileURLToPath(new URL("../../packages/cli/src/bin.ts", import.meta.url))
const bundlePath = fileURLToPath(new URL("../../packages/cli/dist/mcpgate.mjs", import.meta.url))

export interface GatewayProcess {
  readonly pid: number
  /** `http://127.0.0.1:<port>` as announced on stderr. */
  readonly url: string
  readonly port: number
  /** Lines of output (stdout and stderr), counted. */
  readonly lineCount: () => number
  /** The last lines, for a report. */
  readonly tail: (lines: number) => ReadonlyArray<string>
  /** Lines at level WARN or above. */
  readonly warnings: () => ReadonlyArray<string>
  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  readonly stop: (
    signal: NodeJS.Signals,
    timeoutMs: number
  ) => Promise<{ readonly code: number | null; readonly signal: string | null; readonly millis: number }>
  readonly exited: () => boolean
}

export interface GatewayOptions {
  readonly configPath: string
  readonly home: string
  readonly logLevel: string
  /** The bundled CLI (`pnpm build`) instead of the TypeScript sources. */
  readonly bundled: boolean
  /** A V8 old-space limit for the gateway (MiB). */
  readonly heapMiB?: number
  /** The port to listen on (default: a free one); a replica restarted behind a balancer keeps its port. */
  readonly port?: number | undefined
  /** Further environment (the store's URL and key). */
  readonly env?: Record<string, string> | undefined
  /** Every complete output line, as it arrives (the token scan reads them here). */
  readonly onLine: (line: string) => void
}

const tailSize = 400

export const start = (options: GatewayOptions): Promise<GatewayProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        options.bundled ? bundlePath : binPath,
        "--log-level",
        options.logLevel,
        "--config",
        options.configPath,
        "serve",
        "--port",
        String(options.port ?? 0)
      ],
      {
        cwd: options.home,
        env: {
          ...process.env,
          MCPGATE_HOME: options.home,
          MCPGATE_TOKEN_STORE: "file",
          NO_COLOR: "1",
          ...options.env,
          ...(options.heapMiB === undefined
            ? {}
            : {
                NODE_OPTIONS:
                  `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=${options.heapMiB}`.trim()
              })
        },
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    const pid = child.pid
    if (pid === undefined) {
      reject(new Error("could not start the gateway"))
      return
    }
    const tail: Array<string> = []
    const warnings: Array<string> = []
    let lines = 0
    let announced = false
    let exit: { code: number | null; signal: string | null } | undefined
    const exitWaiters: Array<() => void> = []

    const onLine = (line: string) => {
      lines++
      tail.push(line)
      if (tail.length > tailSize) tail.shift()
      if (/level=(WARN|ERROR|FATAL)/.test(line) && warnings.length < 1000) warnings.push(line)
      options.onLine(line)
      const listening = /mcpgate listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(line)
      if (listening !== null && !announced) {
        announced = true
        resolve(gateway(listening[1] ?? "", Number(listening[2])))
      }
    }
    for (const stream of [child.stdout, child.stderr]) {
      let partial = ""
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n")
        partial = parts.pop() ?? ""
        for (const line of parts) onLine(line)
      })
      stream.on("end", () => {
        if (partial !== "") onLine(partial)
        partial = ""
      })
    }
    child.on("exit", (code, signal) => {
      exit = { code, signal }
      for (const waiter of exitWaiters.splice(0)) waiter()
      if (!announced) {
        reject(
          new Error(
            `the gateway exited before listening (code ${code}, signal ${signal}):\n${tail.join("\n")}`
          )
        )
      }
    })

    const gateway = (url: string, port: number): GatewayProcess => ({
      pid,
      url,
      port,
      lineCount: () => lines,
      tail: (count) => tail.slice(-count),
      warnings: () => warnings,
      exited: () => exit !== undefined,
      stop: (signal, timeoutMs) =>
        new Promise((done) => {
          const started = performance.now()
          const finish = () =>
            done({
              code: exit?.code ?? null,
              signal: exit?.signal ?? null,
              millis: Math.round(performance.now() - started)
            })
          if (exit !== undefined) return finish()
          const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
          exitWaiters.push(() => {
            clearTimeout(timer)
            finish()
          })
          child.kill(signal)
        })
    })
  })
