import { Redacted } from "effect"

/**
 * Deep equality of JSON-like values (plain objects, arrays, primitives, and the
 * config's `Redacted` secrets, compared by what they hold): decides whether a
 * server's config changed.
 */
export const structuralEqual = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Redacted.isRedacted(a) || Redacted.isRedacted(b)) {
    return Redacted.isRedacted(a) && Redacted.isRedacted(b) && Object.is(Redacted.value(a), Redacted.value(b))
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((value, index) => structuralEqual(value, b[index]))
  }
  const left = Object.entries(a).filter(([, value]) => value !== undefined)
  const right = new Map(Object.entries(b).filter(([, value]) => value !== undefined))
  return (
    left.length === right.size &&
    left.every(([key, value]) => right.has(key) && structuralEqual(value, right.get(key)))
  )
}
