/**
 * Reads the Linux process table (/proc) for the no-orphans tests. A zombie counts as
 * dead: some container inits never reap orphans, so a killed grandchild stays `Z`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { Effect } from "effect"

export interface ProcessEntry {
  readonly pid: number
  readonly ppid: number
  readonly pgrp: number
  readonly state: string
  readonly args: string
}

const read = (pid: number): ProcessEntry | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()
    return { pid, ppid: Number(fields[1]), pgrp: Number(fields[2]), state: fields[0] ?? "?", args }
  } catch {
    return undefined
  }
}

export const processTable = (): ReadonlyArray<ProcessEntry> =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((name) => read(Number(name)))
    .filter((entry): entry is ProcessEntry => entry !== undefined)

/** Running (not zombie) processes. */
export const living = (): ReadonlyArray<ProcessEntry> =>
  processTable().filter((entry) => entry.state !== "Z" && entry.state !== "X")

export const isAlive = (pid: number): boolean => {
  const entry = read(pid)
  return entry !== undefined && entry.state !== "Z" && entry.state !== "X"
}

/** Living processes whose command line mentions `marker` (e.g. a test script's path). */
export const livingWith = (marker: string): ReadonlyArray<ProcessEntry> =>
  living().filter((entry) => entry.args.includes(marker) && entry.pid !== process.pid)

/** Living children of this process whose command line mentions `marker`. */
export const ourChildrenWith = (marker: string): ReadonlyArray<ProcessEntry> =>
  livingWith(marker).filter((entry) => entry.ppid === process.pid)

/** Polls until `check` holds (every 20 ms, at most `ms`); fails with the last state otherwise. */
export const eventually = (check: () => boolean, ms = 5000, what = "condition") =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!check()) {
      if (Date.now() > deadline)
        return yield* Effect.die(new Error(`timed out after ${ms} ms waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })
