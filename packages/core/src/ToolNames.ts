/**
 * The bijection between `(server, tool)` pairs and model-safe tool names
 * (docs/connections.md#tool-names).
 *
 * A public name is `<server>__<tool>` made safe for OpenAI function names
 * (`^[a-zA-Z0-9_-]{1,64}$`). The rules, all deterministic and independent of the
 * order in which pairs are given:
 *
 * 1. Identical pairs are collapsed; the rest are sorted by server, then tool
 *    (UTF-16 code-unit order, never locale order).
 * 2. Each part is sanitised: every code point outside `[A-Za-z0-9_-]` (spaces, dots,
 *    non-ASCII, an emoji as a whole) becomes `_`.
 * 3. A pair keeps the plain `<server>__<tool>` when no other pair sanitises to the
 *    same name and the name fits in 64 characters.
 * 4. Otherwise (a collision, or too long) the pair gets a shortened base and a hash
 *    suffix of its ORIGINAL pair: `<server…>__<tool…>_<8 base36 chars>`. Every
 *    member of a collision group is suffixed: no pair "wins" the plain name, so a
 *    new colliding server can never make an existing plain name call a different
 *    tool (the stale name just stops resolving).
 * 5. In the astronomically rare case that a suffixed name is already taken, the hash
 *    is recomputed with a counter until it is free, in sorted order.
 *
 * Lookups go through maps built here; a public name is never split back into parts.
 */

export interface ToolRef {
  readonly server: string
  readonly tool: string
}

export interface ToolNameTable {
  /** The public name of a pair, or undefined when the pair is not in the table. */
  readonly publicName: (server: string, tool: string) => string | undefined
  /** The pair behind a public name, or undefined. Never splits strings. */
  readonly resolve: (publicName: string) => ToolRef | undefined
  /** Every (public name, pair), in a deterministic order. */
  readonly entries: ReadonlyArray<readonly [string, ToolRef]>
}

/** Public names match this (OpenAI function names). */
export const pattern = /^[a-zA-Z0-9_-]{1,64}$/

/** The longest public name OpenAI accepts. */
export const maxLength = 64

/** Joins the server and tool parts of a plain public name. */
export const separator = "__"
const hashLength = 8
/** Room left for `<server>__<tool>` once `_` and the hash are appended. */
const hashedBaseLength = maxLength - 1 - hashLength

/** Replaces every code point outside `[A-Za-z0-9_-]` with `_` (one `_` per code point). */
export const sanitize = (part: string): string => {
  let out = ""
  for (const char of part) out += /^[A-Za-z0-9_-]$/.test(char) ? char : "_"
  return out
}

const compareRefs = (a: ToolRef, b: ToolRef): number =>
  a.server < b.server ? -1 : a.server > b.server ? 1 : a.tool < b.tool ? -1 : a.tool > b.tool ? 1 : 0

const encoder = new TextEncoder()
const fnvOffset = 0xcbf29ce484222325n
const fnvPrime = 0x100000001b3n
const mask64 = (1n << 64n) - 1n
const hashModulus = 36n ** BigInt(hashLength)

/**
 * FNV-1a (64-bit) of the original pair, as 8 base36 characters (about 41 bits).
 * The input is JSON so that no choice of separator can make two pairs hash alike.
 */
const pairHash = (ref: ToolRef, attempt: number): string => {
  const input = JSON.stringify(attempt === 0 ? [ref.server, ref.tool] : [ref.server, ref.tool, attempt])
  let hash = fnvOffset
  for (const byte of encoder.encode(input)) hash = ((hash ^ BigInt(byte)) * fnvPrime) & mask64
  return (hash % hashModulus).toString(36).padStart(hashLength, "0")
}

/**
 * Fits `<server>__<tool>` into `budget` characters: the tool keeps at least half of
 * the room (it is what a model reads), the server what remains; both are ASCII here.
 */
const shorten = (server: string, tool: string, budget: number): string => {
  const room = budget - separator.length
  if (server.length + tool.length <= room) return server + separator + tool
  const toolLength = Math.min(tool.length, Math.max(room - server.length, Math.ceil(room / 2)))
  const serverLength = Math.min(server.length, room - toolLength)
  return server.slice(0, serverLength) + separator + tool.slice(0, toolLength)
}

export const make = (refs: Iterable<ToolRef>): ToolNameTable => {
  // Collapse identical pairs with nested maps (a joined key could be ambiguous).
  const unique = new Map<string, Map<string, ToolRef>>()
  for (const ref of refs) {
    const tools = unique.get(ref.server) ?? new Map<string, ToolRef>()
    unique.set(ref.server, tools)
    if (!tools.has(ref.tool)) tools.set(ref.tool, Object.freeze({ server: ref.server, tool: ref.tool }))
  }
  const sorted = [...unique.values()].flatMap((tools) => [...tools.values()]).sort(compareRefs)

  const plain = sorted.map((ref) => sanitize(ref.server) + separator + sanitize(ref.tool))
  const plainCount = new Map<string, number>()
  for (const name of plain) plainCount.set(name, (plainCount.get(name) ?? 0) + 1)

  const names: Array<string | undefined> = sorted.map((_, i) => {
    const name = plain[i] ?? ""
    return plainCount.get(name) === 1 && name.length <= maxLength ? name : undefined
  })
  // Plain names are reserved first, so a hashed name can never take one.
  const taken = new Set(names.filter((name): name is string => name !== undefined))
  sorted.forEach((ref, i) => {
    if (names[i] !== undefined) return
    const base = shorten(sanitize(ref.server), sanitize(ref.tool), hashedBaseLength)
    let attempt = 0
    let name = `${base}_${pairHash(ref, attempt)}`
    while (taken.has(name)) name = `${base}_${pairHash(ref, ++attempt)}`
    taken.add(name)
    names[i] = name
  })

  const entries = sorted.map((ref, i) => [names[i] ?? "", ref] as const)
  const byName = new Map<string, ToolRef>(entries)
  const byPair = new Map<string, Map<string, string>>()
  for (const [name, ref] of entries) {
    const tools = byPair.get(ref.server) ?? new Map<string, string>()
    byPair.set(ref.server, tools)
    tools.set(ref.tool, name)
  }

  return {
    publicName: (server, tool) => byPair.get(server)?.get(tool),
    resolve: (publicName) => byName.get(publicName),
    entries
  }
}
