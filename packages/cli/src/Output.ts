/**
 * Human output for a terminal (colour unless NO_COLOR, only on a TTY) and JSON for scripts.
 */
import { createRequire } from "node:module"
import { Effect } from "effect"

// Required, not imported: an ES import of node:util evaluates all its lazy parts
// (parseArgs, the diff of assert, worker_threads …), a few ms of every start.
const nodeUtil: typeof import("node:util") = createRequire(import.meta.url)("node:util")

const colourEnabled = () => process.stdout.isTTY === true && !("NO_COLOR" in process.env)

const paint = (code: number) => (text: string) => (colourEnabled() ? `\u001b[${code}m${text}\u001b[0m` : text)

export const bold = paint(1)
export const dim = paint(2)
export const red = paint(31)
export const green = paint(32)
export const yellow = paint(33)
export const cyan = paint(36)

export const line = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

export const errorLine = (text: string) => Effect.sync(() => process.stderr.write(`${text}\n`))

export const json = (value: unknown) => line(JSON.stringify(value, null, 2))

/** Aligns rows of cells into columns (two spaces apart). */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const visible = (text: string) => nodeUtil.stripVTControlCharacters(text).length
  const widths: Array<number> = []
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, visible(cell))
    })
  }
  return rows
    .map((row) =>
      row
        .map((cell, index) =>
          index === row.length - 1 ? cell : cell + " ".repeat((widths[index] ?? 0) - visible(cell))
        )
        .join("  ")
    )
    .join("\n")
}

/** "in 5m", "3h ago": compact relative times for status output. */
export const relativeTime = (epochMs: number, now: number): string => {
  const seconds = Math.round((epochMs - now) / 1000)
  const magnitude = Math.abs(seconds)
  const text =
    magnitude < 60
      ? `${magnitude}s`
      : magnitude < 3600
        ? `${Math.round(magnitude / 60)}m`
        : magnitude < 86_400
          ? `${Math.round(magnitude / 3600)}h`
          : `${Math.round(magnitude / 86_400)}d`
  return seconds >= 0 ? `in ${text}` : `${text} ago`
}
