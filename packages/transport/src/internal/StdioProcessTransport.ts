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
 * stdin, wait, SIGTERM, wait, SIGKILL. Each group is registered in the `ProcessGroups`
 * of the scope that owns the connection, whose `exit` hook SIGKILLs it if the gateway
 * exits without running its finalizers.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { detached, groupAlive, type ProcessGroups, signalGroup } from "./ProcessGroups.ts"

export interface StdioProcessOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** The complete environment of the child (nothing else is inherited). */
  readonly env: Readonly<Record<string, string>>
  readonly cwd?: string | undefined
  /** How long the child gets to exit after its stdin is closed, before SIGTERM. */
  readonly termGraceMs?: number | undefined
  /** How long the group gets after SIGTERM, before SIGKILL. */
  readonly killGraceMs?: number | undefined
  /** Called with each chunk the child writes to stderr. */
  readonly onStderr?: ((text: string) => void) | undefined
  /** Called with each line the child writes to stderr (without its line break). */
  readonly onStderrLine?: ((line: string) => void) | undefined
  /** Where the child's process group is registered while it may be alive. */
  readonly groups: ProcessGroups
}

export interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const stderrTailLimit = 4096
/** A stderr "line" longer than this is passed on in pieces. */
const stderrLineLimit = 4096

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
    return new Promise((resolve, reject) => {
      const child = spawn(this.#options.command, [...this.#options.args], {
        env: { ...this.#options.env },
        stdio: ["pipe", "pipe", "pipe"],
        shell: false,
        detached,
        windowsHide: true,
        ...(this.#options.cwd === undefined ? {} : { cwd: this.#options.cwd })
      })
      this.#child = child
      child.once("spawn", () => {
        if (child.pid !== undefined) this.#options.groups.add(child.pid)
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
    if (this.#groupGone) this.#options.groups.remove(pid)
    this.#notifyClosed()
  }

  /** SIGKILLs the whole group now (used when the graceful close ran out of time). */
  kill(): void {
    const pid = this.#child?.pid
    // Once the group is known gone its id may be reused: never signal it again.
    if (pid === undefined || this.#groupGone) return
    signalGroup(pid, "SIGKILL")
    this.#groupGone = true
    this.#options.groups.remove(pid)
  }
}
