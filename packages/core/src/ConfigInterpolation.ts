/**
 * `${env:VAR}` and `${VAR}` references in config string values (the rules at the top of
 * docs/configuration.md).
 *
 * `$${` is the escape for a literal `${`, so any string can be written back:
 * `escapeReferences` turns every `${` into `$${` and `interpolate(escapeReferences(s), env)` is `s`.
 */
import { Result } from "effect"

export type Env = Readonly<Record<string, string | undefined>>

const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Replaces the references in `input` from `env`; fails with a message naming the variable. */
export const interpolate = (input: string, env: Env): Result.Result<string, string> => {
  let out = ""
  let i = 0
  while (i < input.length) {
    const dollar = input.indexOf("$", i)
    if (dollar < 0) break
    out += input.slice(i, dollar)
    if (input.startsWith("$${", dollar)) {
      out += "${"
      i = dollar + 3
    } else if (input.startsWith("${", dollar)) {
      const end = input.indexOf("}", dollar + 2)
      if (end < 0) return Result.fail(`unterminated "\${" (write "$\${" for a literal "\${")`)
      const reference = input.slice(dollar + 2, end)
      const name = reference.startsWith("env:") ? reference.slice(4) : reference
      if (!variableName.test(name)) {
        return Result.fail(
          `unsupported reference "\${${reference}}" (use \${env:NAME} or \${NAME}; write "$\${" for a literal "\${")`
        )
      }
      const value = env[name]
      if (value === undefined) return Result.fail(`environment variable ${name} is not set`)
      out += value
      i = end + 1
    } else {
      out += "$"
      i = dollar + 1
    }
  }
  return Result.succeed(out + input.slice(i))
}

/** The inverse of `interpolate` for text without references: `${` → `$${`. */
// A replacer function, because "$$" in a replacement string means one "$".
export const escapeReferences = (value: string): string => value.replaceAll("${", () => "$${")
