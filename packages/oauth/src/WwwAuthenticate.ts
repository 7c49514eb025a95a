/**
 * `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1,
 * RFC 9449 §7.1): a lenient parser that never throws, and a formatter whose
 * output the parser reads back unchanged.
 *
 * ```
 * challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 * auth-param = token BWS "=" BWS ( token / quoted-string )
 * ```
 *
 * Commas separate both challenges and parameters, so a `token` followed by `=`
 * continues the current challenge and a `token` followed by anything else starts
 * a new one. Malformed pieces are skipped up to the next comma, never fatal.
 */

export interface Challenge {
  /** Lower-cased (schemes are case-insensitive), e.g. `bearer`, `dpop`. */
  readonly scheme: string
  /** Parameter names lower-cased; the first occurrence of a name wins. */
  readonly params: Readonly<Record<string, string>>
  readonly token68?: string | undefined
}

const isTchar = (c: string): boolean => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/.test(c)
const isToken68Char = (c: string): boolean => /^[A-Za-z0-9\-._~+/]$/.test(c)
const isSpace = (c: string | undefined): boolean => c === " " || c === "\t"

/** Parses every challenge of one or more `WWW-Authenticate` header values (joined with `,`). */
export const parse = (header: string | null | undefined): ReadonlyArray<Challenge> => {
  if (header === null || header === undefined) return []
  const text = header
  const challenges: Array<{ scheme: string; params: Record<string, string>; token68?: string }> = []
  let current: { scheme: string; params: Record<string, string>; token68?: string } | undefined
  let i = 0

  const skipSpaces = () => {
    while (isSpace(text[i])) i++
  }
  const readToken = (): string => {
    const start = i
    while (i < text.length && isTchar(text.charAt(i))) i++
    return text.slice(start, i)
  }
  const skipToComma = () => {
    // Skips a malformed element, honouring quoted strings so a comma inside one does not cut it.
    while (i < text.length && text[i] !== ",") {
      if (text[i] === '"') readQuoted()
      else i++
    }
  }
  const readQuoted = (): string => {
    // At the opening quote. An unterminated string runs to the end of the header.
    i++
    let value = ""
    while (i < text.length) {
      const c = text.charAt(i)
      if (c === '"') {
        i++
        return value
      }
      if (c === "\\" && i + 1 < text.length) {
        value += text.charAt(i + 1)
        i += 2
        continue
      }
      value += c
      i++
    }
    return value
  }
  const atElementEnd = (): boolean => {
    skipSpaces()
    return i >= text.length || text[i] === ","
  }

  while (i < text.length) {
    skipSpaces()
    if (text[i] === ",") {
      i++
      continue
    }
    const start = i
    const name = readToken()
    if (name === "") {
      skipToComma()
      continue
    }
    const afterName = i
    skipSpaces()
    if (text[i] === "=" && current !== undefined) {
      // `name=value`: one more parameter of the current challenge (a token68
      // only ever follows the scheme, so it is not looked for here).
      i++
      skipSpaces()
      let value: string
      if (text[i] === '"') value = readQuoted()
      else value = readToken()
      const key = name.toLowerCase()
      if (!(key in current.params)) current.params[key] = value
      if (!atElementEnd()) skipToComma()
      continue
    }
    // A new challenge: `scheme`, then optionally a token68 or the first parameter.
    i = afterName
    if (text[i] === "=") {
      // `name=` with no challenge before it: not a challenge, skip it.
      i = start
      skipToComma()
      continue
    }
    current = { scheme: name.toLowerCase(), params: {} }
    challenges.push(current)
    skipSpaces()
    if (i >= text.length || text[i] === ",") continue
    const paramStart = i
    const first = readToken()
    const afterFirst = i
    skipSpaces()
    if (first !== "" && text[i] === "=") {
      let j = i
      while (text[j] === "=") j++
      let k = j
      while (isSpace(text[k])) k++
      if ((k >= text.length || text[k] === ",") && [...first].every(isToken68Char)) {
        current.token68 = first + text.slice(i, j)
        i = k
        continue
      }
      i++
      skipSpaces()
      const value = text[i] === '"' ? readQuoted() : readToken()
      current.params[first.toLowerCase()] = value
      if (!atElementEnd()) skipToComma()
      continue
    }
    // A token68 without padding (`Negotiate abc/def+`).
    i = paramStart
    let end = i
    while (end < text.length && isToken68Char(text.charAt(end))) end++
    while (text[end] === "=") end++
    const candidate = text.slice(i, end)
    i = end
    if (candidate !== "" && atElementEnd()) {
      current.token68 = candidate
      continue
    }
    i = afterFirst
    skipToComma()
  }
  return challenges
}

const quote = (value: string): string => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`

/**
 * The header value for some challenges; parameter values are always quoted.
 * Schemes and parameter names must be tokens (RFC 9110 §5.6.2).
 */
export const format = (challenges: ReadonlyArray<Challenge>): string =>
  challenges
    .map((challenge) => {
      if (challenge.token68 !== undefined) return `${challenge.scheme} ${challenge.token68}`
      const params = Object.entries(challenge.params).map(([name, value]) => `${name}=${quote(value)}`)
      return params.length === 0 ? challenge.scheme : `${challenge.scheme} ${params.join(", ")}`
    })
    .join(", ")

/** What an MCP client needs from a 401/403 challenge. */
export interface ResourceChallenge {
  /** `bearer` or `dpop`: the scheme the parameters came from. */
  readonly scheme: string
  /** RFC 6750 §3.1, e.g. `invalid_token`, `insufficient_scope`. */
  readonly error?: string | undefined
  readonly errorDescription?: string | undefined
  /** The scopes the resource needs (RFC 6750 §3), space-separated. */
  readonly scope?: string | undefined
  /** RFC 9728 §5.1. */
  readonly resourceMetadata?: string | undefined
  /** RFC 9449 §7.1: the server accepts (or wants) DPoP. */
  readonly dpop: boolean
}

/**
 * Reads the Bearer and DPoP challenges (the first one that carries a value
 * wins, Bearer before DPoP), ignoring other schemes (Basic, Negotiate, …).
 * Undefined when there is no Bearer or DPoP challenge.
 */
export const resourceChallenge = (header: string | null | undefined): ResourceChallenge | undefined => {
  const relevant = parse(header).filter(
    (challenge) => challenge.scheme === "bearer" || challenge.scheme === "dpop"
  )
  if (relevant.length === 0) return undefined
  const ordered = [
    ...relevant.filter((challenge) => challenge.scheme === "bearer"),
    ...relevant.filter((challenge) => challenge.scheme === "dpop")
  ]
  const pick = (name: string): string | undefined => {
    for (const challenge of ordered) {
      const value = challenge.params[name]
      if (value !== undefined && value !== "") return value
    }
    return undefined
  }
  const first = ordered[0]
  const error = pick("error")
  const errorDescription = pick("error_description")
  const scope = pick("scope")
  const resourceMetadata = pick("resource_metadata")
  return {
    scheme: first?.scheme ?? "bearer",
    ...(error === undefined ? {} : { error }),
    ...(errorDescription === undefined ? {} : { errorDescription }),
    ...(scope === undefined ? {} : { scope }),
    ...(resourceMetadata === undefined ? {} : { resourceMetadata }),
    dpop: relevant.some((challenge) => challenge.scheme === "dpop")
  }
}

/** Space-separated scopes (RFC 6749 §3.3) as a list without duplicates or empty entries. */
export const splitScopes = (scope: string | undefined): ReadonlyArray<string> =>
  scope === undefined ? [] : [...new Set(scope.split(/\s+/).filter((item) => item !== ""))]

/** RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )` (printable ASCII but space, `"` and `\\`). */
export const isScopeToken = (token: string): boolean => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(token)
