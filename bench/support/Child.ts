/**
 * Helper processes of the benchmarks (MCP server, model upstream, gateway), each a
 * `node` child on 127.0.0.1 that prints one JSON line `{"ready": …}` once it listens
 * and exits when its stdin closes.
 *
 * `BENCH_CPU_PROF=<dir>` runs every child under `--cpu-prof` and writes its profile
 * to that directory on exit (open it in Chrome DevTools or speedscope).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export interface Child<Ready> {
  readonly name: string
  readonly pid: number | undefined
  readonly ready: Ready
  /** Closes stdin, waits up to 5 s for the exit (profiles are written then), then SIGKILLs. */
  readonly close: () => Promise<void>
}

/** A file next to this one's parent (`bench/`), as a path. */
export const benchFile = (relative: string): string =>
  fileURLToPath(new URL(`../${relative}`, import.meta.url))

const profileFlags = (name: string): Array<string> => {
  const dir = process.env.BENCH_CPU_PROF
  if (dir === undefined || dir === "") return []
  return ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`]
}

const waitExit = (child: ChildProcess, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => resolve(false), ms)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

/** Starts `node <script> …args` and resolves with what it printed as ready. */
export const startChild = <Ready>(
  name: string,
  script: string,
  args: ReadonlyArray<string> = [],
  timeoutMs = 30_000
): Promise<Child<Ready>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...profileFlags(name), script, ...args], {
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let settled = false
    const fail = (message: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
      const tail = stderr.trim().split("\n").slice(-15).join("\n")
      reject(new Error(`${name}: ${message}${tail === "" ? "" : `\n${tail}`}`))
    }
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs)
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (text: string) => {
      stderr = (stderr + text).slice(-8000)
    })
    child.once("error", (error) => fail(error.message))
    child.once("exit", (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`))
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (text: string) => {
      if (settled) return
      stdout += text
      const newline = stdout.indexOf("\n")
      if (newline === -1) return
      let line: unknown
      try {
        line = JSON.parse(stdout.slice(0, newline))
      } catch {
        return fail(`printed something that is not a JSON line: ${stdout.slice(0, 200)}`)
      }
      if (typeof line !== "object" || line === null || !("ready" in line)) {
        return fail(`printed ${stdout.slice(0, 200)} instead of {"ready": …}`)
      }
      settled = true
      clearTimeout(timer)
      child.removeAllListeners("exit")
      resolve({
        name,
        pid: child.pid,
        ready: line.ready as Ready,
        close: async () => {
          child.stdin.end()
          if (!(await waitExit(child, 5000))) {
            child.kill("SIGKILL")
            await waitExit(child, 1000)
          }
        }
      })
    })
  })

/** What the child scripts call: print the ready line and exit when stdin closes. */
export const announceReady = (ready: unknown): void => {
  process.stdin.on("end", () => process.exit(0))
  process.stdin.resume()
  process.stdout.write(`${JSON.stringify({ ready })}\n`)
}
