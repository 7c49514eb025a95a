/**
 * What the soak measures about the gateway process, read from Linux's /proc:
 * resident memory, open sockets (with where they go, to explain a leak) and
 * living descendant processes.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

export interface ProcessEntry {
  readonly pid: number
  readonly ppid: number
  readonly state: string
  readonly args: string
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

const entry = (pid: number): ProcessEntry | undefined => {
  const stat = readText(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  // The command name may hold spaces and parentheses: the fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const args = (readText(`/proc/${pid}/cmdline`) ?? "").split("\0").join(" ").trim()
  return { pid, ppid: Number(fields[1]), state: fields[0] ?? "?", args }
}

/** Every process that is not a zombie (some container inits never reap orphans). */
export const livingProcesses = (): ReadonlyArray<ProcessEntry> =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((name) => entry(Number(name)))
    .filter((e): e is ProcessEntry => e !== undefined && e.state !== "Z" && e.state !== "X")

/** The living children, grandchildren … of `pid`. */
export const descendants = (pid: number): ReadonlyArray<ProcessEntry> => {
  const all = livingProcesses()
  const found: Array<ProcessEntry> = []
  const parents = new Set([pid])
  for (let grew = true; grew; ) {
    grew = false
    for (const candidate of all) {
      if (parents.has(candidate.ppid) && !parents.has(candidate.pid)) {
        parents.add(candidate.pid)
        found.push(candidate)
        grew = true
      }
    }
  }
  return found
}

export const isAlive = (pid: number): boolean => {
  const e = entry(pid)
  return e !== undefined && e.state !== "Z" && e.state !== "X"
}

/** Resident set size in bytes (VmRSS), or undefined when the process is gone. */
export const rssBytes = (pid: number): number | undefined => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readText(`/proc/${pid}/status`) ?? "")
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024
}

/** The inodes of the process's open sockets (its `socket:[inode]` file descriptors). */
export const socketInodes = (pid: number): ReadonlyArray<string> => {
  let fds: Array<string>
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  const inodes: Array<string> = []
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match?.[1] !== undefined) inodes.push(match[1])
    } catch {
      // Closed between readdir and readlink.
    }
  }
  return inodes
}

const tcpStates: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "06": "TIME_WAIT",
  "07": "CLOSE",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0A": "LISTEN",
  "0B": "CLOSING"
}

/** `0100007F:1F90` (little-endian IPv4, hex port) → `127.0.0.1:8080`. */
const ipv4Address = (hex: string): string => {
  const [ip = "", port = "0"] = hex.split(":")
  const bytes = (ip.match(/../g) ?? []).map((byte) => Number.parseInt(byte, 16)).reverse()
  return `${bytes.join(".")}:${Number.parseInt(port, 16)}`
}

const ipv6Address = (hex: string): string => {
  const [ip = "", port = "0"] = hex.split(":")
  // An IPv4-mapped address reads best as IPv4.
  if (ip.startsWith("0000000000000000FFFF0000")) return ipv4Address(`${ip.slice(24)}:${port}`)
  return `[${ip.toLowerCase()}]:${Number.parseInt(port, 16)}`
}

/**
 * Each socket inode described: `tcp 127.0.0.1:41234 -> 127.0.0.1:8808 ESTABLISHED`,
 * `unix`, or `socket` when the kernel tables do not list it. `name` labels known ports.
 */
export const describeSockets = (
  pid: number,
  inodes: ReadonlyArray<string>,
  name: (port: number) => string | undefined = () => undefined
): Map<string, string> => {
  const wanted = new Set(inodes)
  const described = new Map<string, string>()
  const label = (address: string) => {
    const port = Number(address.slice(address.lastIndexOf(":") + 1))
    const known = name(port)
    return known === undefined ? address : `${address} (${known})`
  }
  for (const [file, decode] of [
    ["tcp", ipv4Address],
    ["tcp6", ipv6Address]
  ] as const) {
    for (const line of (readText(`/proc/${pid}/net/${file}`) ?? "").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      const inode = fields[9]
      if (inode === undefined || !wanted.has(inode)) continue
      const state = tcpStates[fields[3] ?? ""] ?? fields[3] ?? "?"
      described.set(
        inode,
        `tcp ${label(decode(fields[1] ?? ""))} -> ${label(decode(fields[2] ?? ""))} ${state}`
      )
    }
  }
  for (const line of (readText(`/proc/${pid}/net/unix`) ?? "").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/)
    const inode = fields[6]
    if (inode !== undefined && wanted.has(inode)) described.set(inode, `unix ${fields[7] ?? "(unnamed)"}`)
  }
  for (const inode of inodes) if (!described.has(inode)) described.set(inode, "socket (not in the tables)")
  return described
}

/** Counts of equal descriptions, most frequent first: `3× tcp … ESTABLISHED`. */
export const summarize = (descriptions: Iterable<string>): ReadonlyArray<string> => {
  const counts = new Map<string, number>()
  for (const text of descriptions) {
    // Ephemeral ports differ per socket (known ports are labelled): the rest says where it goes.
    const key = text.replace(/127\.0\.0\.1:\d+(?!\d| \()/g, "127.0.0.1:*")
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([text, count]) => `${count}× ${text}`)
}
