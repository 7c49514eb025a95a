/**
 * Finds issued tokens in text (logs, response bodies, files) without comparing
 * every token with every position: each token is indexed by a distinctive piece
 * (a JWT's signature segment, an opaque token whole), and the text's base64url
 * runs are checked against that index.
 */

/** Long enough to be unique among tokens, short enough for any token segment we index. */
const prefixLength = 20

/** The part of a token that is unique to it: every JWT of one issuer shares its header. */
const distinctivePiece = (token: string): string => {
  const segments = token.split(/[^A-Za-z0-9_-]+/).filter((segment) => segment.length >= prefixLength)
  return segments.at(-1) ?? token
}

export interface Leak {
  /** Where the text came from (e.g. "gateway stderr"). */
  readonly where: string
  /** The token's first characters only: enough to tell which, too few to use. */
  readonly tokenStart: string
  /** The text around the hit, with the token itself cut out. */
  readonly context: string
}

export class TokenScanner {
  readonly #tokens: ReadonlySet<string>
  #indexedCount = 0
  readonly #byPrefix = new Map<string, Array<{ piece: string; token: string }>>()
  #pending: Array<{ text: string; where: string }> = []
  /** Characters of text scanned so far. */
  scannedChars = 0
  readonly leaks: Array<Leak> = []

  /** `tokens` is a live set that only grows (the authorization server's); new ones are indexed as they come. */
  constructor(tokens: ReadonlySet<string>) {
    this.#tokens = tokens
  }

  #index(): void {
    if (this.#tokens.size === this.#indexedCount) return
    // A Set iterates in insertion order: the tokens after the first `indexedCount` are new.
    let position = 0
    for (const token of this.#tokens) {
      if (position++ < this.#indexedCount) continue
      const piece = distinctivePiece(token)
      if (piece.length < prefixLength) continue
      const prefix = piece.slice(0, prefixLength)
      const list = this.#byPrefix.get(prefix) ?? []
      list.push({ piece, token })
      this.#byPrefix.set(prefix, list)
    }
    this.#indexedCount = position
  }

  /** Keeps `text` for the next `flush` (scanning in batches keeps indexing rare). */
  queue(text: string, where: string): void {
    this.#pending.push({ text, where })
  }

  /** Scans everything queued. A token is issued before anyone can print it, so it is indexed by now. */
  flush(): void {
    const pending = this.#pending
    this.#pending = []
    for (const { text, where } of pending) this.scan(text, where)
  }

  /** Records every issued token found in `text`; returns how many hits this text had. */
  scan(text: string, where: string): number {
    this.#index()
    this.scannedChars += text.length
    if (this.#byPrefix.size === 0) return 0
    let hits = 0
    for (const run of text.matchAll(/[A-Za-z0-9_-]{20,}/g)) {
      const value = run[0]
      for (let i = 0; i + prefixLength <= value.length; i++) {
        const candidates = this.#byPrefix.get(value.slice(i, i + prefixLength))
        if (candidates === undefined) continue
        for (const { piece, token } of candidates) {
          if (!value.startsWith(piece, i)) continue
          hits++
          const at = (run.index ?? 0) + i
          this.leaks.push({
            where,
            tokenStart: `${token.slice(0, 6)}…`,
            context: `${text.slice(Math.max(0, at - 40), at)}<token>${text.slice(at + piece.length, at + piece.length + 40)}`
          })
        }
      }
    }
    return hits
  }
}
