/**
 * JSONC syntax errors in words, with the JSON path the parser was at.
 */
import * as Jsonc from "jsonc-parser"
import type { JsonPath } from "../ConfigError.ts"

const syntaxMessages: Record<string, string> = {
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected: "expected a property name in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: 'expected ":" after the property name',
  CommaExpected: 'expected "," between entries',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: "unexpected content after the end of the JSON value",
  InvalidCommentToken: "invalid comment",
  UnexpectedEndOfComment: "unterminated comment",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "incomplete number",
  InvalidUnicode: "invalid unicode escape",
  InvalidEscapeCharacter: "invalid escape character",
  InvalidCharacter: "invalid character in a string (control characters must be escaped)"
}

// Where the parser was: jsonc-parser names a property still being read "", which says nothing.
export const syntaxErrorPath = (text: string, offset: number): JsonPath => {
  const path = [...Jsonc.getLocation(text, offset).path]
  while (path.at(-1) === "") path.pop()
  return path
}

export const syntaxMessage = (error: Jsonc.ParseError, text: string): string => {
  const code = Jsonc.printParseErrorCode(error.error)
  if (code === "InvalidSymbol") {
    // Only the first character: the rest may be a secret written without quotes.
    const symbol = text.slice(error.offset, error.offset + Math.max(1, error.length))
    const first = String.fromCodePoint(symbol.codePointAt(0) ?? 0x3f)
    const shown = symbol.length > first.length ? `${first}…` : first
    const quoteHint = symbol.startsWith("'") ? " (JSON strings use double quotes)" : ""
    return `syntax error: unexpected ${JSON.stringify(shown)}${quoteHint}`
  }
  return `syntax error: ${Object.hasOwn(syntaxMessages, code) ? syntaxMessages[code] : code}`
}
