/**
 * `tools.allow` / `tools.deny` (docs/connections.md#tool-lists,
 * docs/configuration.md#mcpServers-name-tools): globs over a server's ORIGINAL tool names.
 * `*` matches any run of characters (including none), `?` exactly one; everything
 * else is literal. Deny wins; without `allow` everything not denied is exposed; an
 * empty `allow` exposes nothing.
 */
import type { ToolFilter } from "@mcpgate/core/Config"

const cache = new Map<string, RegExp>()

const compile = (glob: string): RegExp => {
  const cached = cache.get(glob)
  if (cached !== undefined) return cached
  let source = "^"
  for (const char of glob) {
    if (char === "*") source += "[\\s\\S]*"
    else if (char === "?") source += "[\\s\\S]"
    else source += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  }
  const regex = new RegExp(`${source}$`, "u")
  cache.set(glob, regex)
  return regex
}

export const matchesGlob = (glob: string, name: string): boolean => compile(glob).test(name)

export const isAllowed = (filter: ToolFilter | undefined, name: string): boolean => {
  if (filter === undefined) return true
  if (filter.deny?.some((glob) => matchesGlob(glob, name)) === true) return false
  if (filter.allow === undefined) return true
  return filter.allow.some((glob) => matchesGlob(glob, name))
}
