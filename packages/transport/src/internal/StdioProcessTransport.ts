/**
 * An MCP client transport over a child process's stdin/stdout that owns the whole
 * process group.
 *
 * Why not the SDK's `StdioClientTransport`: it signals only the direct child, so a
 * launcher such as `npx` (npx → sh → node) leaves its grandchildren behind, and it
 * inherits stderr into our terminal. Here the child is spawned detached, which makes
 * it the leader of a new process group, and every signal goes to the group.
 *
 * Shutdown follows MCP 2025-11-25 "Lifecycle › Shutdown › stdio": close the child's
 * stdin, wait, SIGTERM, wait, SIGKILL. A process `exit` hook SIGKILLs every group
 * still alive if the gateway exits without running its finalizers.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"

export interface StdioProcessOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** The complete environment of the child (nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>
  readonly cwd?: string
  /** How long the child gets to exit after its stdin is closed, before SIGTERM. */
  readonly termGraceMs?: number
  /** How long the group gets after SIGTERM, before SIGKILL. */
  readonly killGraceMs?: number
  /** Called with each chunk the child writes to stderr. */
  readonly onStderr?: (text: string) => void
  /** Called with each line the child writes to stderr (without its line break). */
  readonly onStderrLine?: (line: string) => void
}

export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const useProcessGroups = process.platform !== "win32"
const stderrTailLimit = 4096
/** A stderr "line" longer than this is passed on in pieces. */
const stderrLineLimit = 4096

/** Leaders of the process groups we started and have not seen die yet. */
const liveGroups = new Set<number>()
let exitHookInstalled = false

const signalGroup = (pid: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(useProcessGroups ? -pid : pid, signal)
    return true
  } catch {
    return false
  }
}

/** Whether some process of the group is running on Linux: a zombie does not count (it is dead, just not reaped yet). */
const linuxGroupRunning = (pgid: number): boolean => {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8")
    } catch {
      continue
    }
    // Fields after the command name: state ppid pgrp … (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true
  }
  return false
}

/**
 * Whether any process of the group led by `pid` is still alive. Orphans whose init
 * does not reap them stay zombies forever (some containers): those are not alive.
 */
export const groupAlive = (pid: number): boolean => {
  if (!signalGroup(pid, 0)) return false
  if (process.platform !== "linux" || !useProcessGroups) return true
  try {
    return linuxGroupRunning(pid)
  } catch {
    return true
  }
}

const installExitHook = (): void => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // `exit` listeners must be synchronous; `process.kill` is.
  process.once("exit", () => {
    for (const pid of liveGroups) signalGroup(pid, "SIGKILL")
    liveGroups.clear()
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** Waits until the group is gone or `ms` passed; true when gone. */
const waitGroupGone = async (pid: number, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (groupAlive(pid)) {
    if (Date.now() >= deadline) return false
    await sleep(Math.min(25, Math.max(1, deadline - Date.now())))
  }
  return true
}

export class StdioProcessTransport implements Transport {
  onclose?: () => void
  onerror?: (error: Error) => void
  onmessage?: <T extends JSONRPCMessage>(message: T) => void

  readonly #options: StdioProcessOptions
  readonly #readBuffer = new ReadBuffer()
  #child: ChildProcess | undefined
  #exit: ProcessExit | undefined
  #closedNotified = false
  #closing: Promise<void> | undefined
  #stderrTail = ""
  #stderrLine = ""
  #groupGone = false

  constructor(options: StdioProcessOptions) {
    this.#options = options
  }

  /** The child's pid (also its process group id), once started. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** How the child exited, once it has. */
  get exit(): ProcessExit | undefined {
    return this.#exit
  }

  /** The last few KB the child wrote to stderr (for error messages). */
  get stderrTail(): string {
    return this.#stderrTail
  }

  start(): Promise<void> {
    if (this.#child !== undefined) return Promise.reject(new Error("StdioProcessTransport already started"))
    installExitHook()
    return new Promise((resolve, reject) => {
      const child = spawn(this.#options.command, [...this.#options.args], {
        env: { ...this.#options.env },
        stdio: ["pipe", "pipe", "pipe"],
        shell: false,
        detached: useProcessGroups,
        windowsHide: true,
        ...(this.#options.cwd === undefined ? {} : { cwd: this.#options.cwd })
      })
      this.#child = child
      child.once("spawn", () => {
        if (child.pid !== undefined) liveGroups.add(child.pid)
        resolve()
      })
      child.once("error", (error) => {
        reject(error)
        this.onerror?.(error)
      })
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal }
        // A grandchild may keep stdout open and delay `close`: do not wait for it.
        setTimeout(() => this.#notifyClosed(), 200).unref()
      })
      child.once("close", () => {
        this.#flushStderrLine()
        this.#notifyClosed()
      })
      child.stdin?.on("error", (error) => this.onerror?.(error))
      child.stdout?.on("error", (error) => this.onerror?.(error))
      child.stdout?.on("data", (chunk: Buffer) => {
        try {
          this.#readBuffer.append(chunk)
        } catch (error) {
          this.onerror?.(error instanceof Error ? error : new Error(String(error)))
          void this.close()
          return
        }
        this.#drain()
      })
      child.stderr?.setEncoding("utf8")
      child.stderr?.on("data", (text: string) => {
        this.#stderrTail = (this.#stderrTail + text).slice(-stderrTailLimit)
        this.#options.onStderr?.(text)
        this.#splitStderr(text)
      })
      child.stderr?.on("error", () => {})
    })
  }

  #splitStderr(text: string): void {
    const onLine = this.#options.onStderrLine
    if (onLine === undefined) return
    const lines = (this.#stderrLine + text).split("\n")
    this.#stderrLine = lines.pop() ?? ""
    for (const line of lines) onLine(line.replace(/\r$/, ""))
    if (this.#stderrLine.length > stderrLineLimit) this.#flushStderrLine()
  }

  #flushStderrLine(): void {
    const rest = this.#stderrLine
    this.#stderrLine = ""
    if (rest !== "") this.#options.onStderrLine?.(rest)
  }

  #drain(): void {
    for (;;) {
      let message: JSONRPCMessage | null
      try {
        message = this.#readBuffer.readMessage()
      } catch (error) {
        // A line that is not JSON-RPC (a server logging to stdout): report it and go on.
        this.onerror?.(error instanceof Error ? error : new Error(String(error)))
        continue
      }
      if (message === null) return
      this.onmessage?.(message)
    }
  }

  #notifyClosed(): void {
    if (this.#closedNotified) return
    this.#closedNotified = true
    this.onclose?.()
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.#child?.stdin
    if (stdin === undefined || stdin === null || this.#exit !== undefined || !stdin.writable) {
      return Promise.reject(new Error("Not connected"))
    }
    return new Promise((resolve, reject) => {
      const ok = stdin.write(serializeMessage(message), (error) => {
        if (error) reject(error)
      })
      if (ok) resolve()
      else stdin.once("drain", () => resolve())
    })
  }

  /** Graceful shutdown of the whole group (idempotent; resolves when the group is gone or killed). */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    const child = this.#child
    const pid = child?.pid
    this.#readBuffer.clear()
    if (child === undefined || pid === undefined) {
      this.#notifyClosed()
      return
    }
    const termGrace = this.#options.termGraceMs ?? 2000
    const killGrace = this.#options.killGraceMs ?? 2000
    try {
      child.stdin?.end()
    } catch {
      // Already closed.
    }
    const exited =
      this.#exit !== undefined ||
      (await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), termGrace)
        timer.unref()
        child.once("exit", () => {
          clearTimeout(timer)
          resolve(true)
        })
      }))
    // The leader may be gone while its children (npx's node, a shell's job) live on.
    if (!exited || groupAlive(pid)) {
      signalGroup(pid, "SIGTERM")
      if (!(await waitGroupGone(pid, killGrace))) {
        signalGroup(pid, "SIGKILL")
        await waitGroupGone(pid, 1000)
      }
    }
    this.#groupGone = !groupAlive(pid)
    if (this.#groupGone) liveGroups.delete(pid)
    this.#notifyClosed()
  }

  /** SIGKILLs the whole group now (used when the graceful close ran out of time). */
  kill(): void {
    const pid = this.#child?.pid
    // Once the group is known gone its id may be reused: never signal it again.
    if (pid === undefined || this.#groupGone) return
    signalGroup(pid, "SIGKILL")
    this.#groupGone = true
    liveGroups.delete(pid)
  }
}
