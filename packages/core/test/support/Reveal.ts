/**
 * A value with every `Redacted` in it replaced by what it holds, for
 * comparisons: `assert.deepStrictEqual` cannot see inside a `Redacted` (its
 * value is kept outside the object), so two different secrets would compare equal.
 */
import { Predicate, Redacted } from "effect"

export const reveal = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) return { redacted: reveal(Redacted.value(value)) }
  if (Array.isArray(value)) return value.map(reveal)
  if (Predicate.isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, reveal(inner)]))
  }
  return value
}
