/**
 * The process groups stdio servers run in: signalling a whole group, telling
 * whether any of it still runs, and the registry of the groups a scope started.
 *
 * The registry belongs to a scope (the client manager's, or one connection's):
 * while it is open, a process `exit` hook SIGKILLs every group of it still alive
 * if the gateway exits without running its finalizers; when it closes, groups
 * still not seen gone are SIGKILLed and the hook is removed.
 */
import { readdirSync, readFileSync } from "node:fs"
import { Effect, type Scope } from "effect"

const useProcessGroups = process.platform !== "win32"

/** Sends `signal` to the group led by `pid` (to the process alone on Windows); false when nothing received it. */
export const signalGroup = (pid: number, signal: NodeJS.Signals | 0): boolean => {
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

/** Whether children are spawned detached, as leaders of their own process group. */
export const detached = useProcessGroups

/** The groups a scope started and has not seen die yet. */
export interface ProcessGroups {
  /** A group was started (its leader's pid). */
  readonly add: (pid: number) => void
  /** A group is known gone: never signal it again (its id may be reused). */
  readonly remove: (pid: number) => void
}

/** A registry for the current scope (see the module comment). */
export const make: Effect.Effect<ProcessGroups, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => {
      // Read synchronously by the `exit` hook, so a plain set (owned by this scope) rather than a Ref.
      const live = new Set<number>()
      const killAll = () => {
        for (const pid of live) signalGroup(pid, "SIGKILL")
        live.clear()
      }
      // `exit` listeners must be synchronous; `process.kill` is.
      process.on("exit", killAll)
      return { live, killAll }
    }),
    ({ killAll }) =>
      Effect.sync(() => {
        process.off("exit", killAll)
        killAll()
      })
  ),
  ({ live }): ProcessGroups => ({
    add: (pid) => {
      live.add(pid)
    },
    remove: (pid) => {
      live.delete(pid)
    }
  })
)
