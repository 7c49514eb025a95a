/**
 * What a fetched body is and how to turn its bytes into text: the media type from
 * `Content-Type` (RFC 9110 §8.3), the charset from a BOM, the header, or the document
 * itself (`<meta charset>`, the XML declaration), as the WHATWG Encoding and HTML
 * standards order them.
 */
import { TextDecoder } from "node:util"

export type ContentKind = "html" | "json" | "xml" | "text"

export interface MediaType {
  /** Lower-case `type/subtype`, or "" when the header is absent. */
  readonly essence: string
  readonly charset: string | undefined
}

export const parseContentType = (header: string | undefined): MediaType => {
  if (header === undefined) return { essence: "", charset: undefined }
  const [essence = "", ...parameters] = header.split(";")
  const charset = parameters
    .map((parameter) => parameter.trim().match(/^charset\s*=\s*"?([^";\s]+)"?$/i)?.[1])
    .find((value) => value !== undefined)
  return { essence: essence.trim().toLowerCase(), charset }
}

const textualApplications = new Set([
  "application/javascript",
  "application/x-javascript",
  "application/ecmascript",
  "application/x-yaml",
  "application/yaml",
  "application/toml",
  "application/x-sh",
  "application/sql",
  "application/graphql"
])

/** The kind of text a media type holds; undefined for binary types (images, PDF, archives…). */
export const contentKind = (essence: string): ContentKind | undefined => {
  if (essence === "text/html" || essence === "application/xhtml+xml") return "html"
  if (essence === "application/json" || essence.endsWith("+json") || essence === "text/json") return "json"
  if (essence === "application/xml" || essence === "text/xml" || essence.endsWith("+xml")) return "xml"
  if (essence.startsWith("text/") || textualApplications.has(essence)) return "text"
  return undefined
}

/** For a response without `Content-Type`: binary if it has NUL bytes, else HTML or text by its start. */
export const sniffKind = (body: Uint8Array): ContentKind | undefined => {
  const head = body.subarray(0, 1024)
  if (head.includes(0)) return undefined
  const start = new TextDecoder("latin1").decode(head).trimStart().toLowerCase()
  if (start.startsWith("<!doctype html") || start.startsWith("<html")) return "html"
  if (start.startsWith("<?xml")) return "xml"
  if (start.startsWith("{") || start.startsWith("[")) return "json"
  return "text"
}

const bomEncoding = (body: Uint8Array): string | undefined => {
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return "utf-8"
  if (body[0] === 0xfe && body[1] === 0xff) return "utf-16be"
  if (body[0] === 0xff && body[1] === 0xfe) return "utf-16le"
  return undefined
}

/** The charset a document declares in its first bytes (HTML prescan, XML declaration). */
const declaredEncoding = (body: Uint8Array, kind: ContentKind): string | undefined => {
  const head = new TextDecoder("latin1").decode(body.subarray(0, 4096))
  if (kind === "html") {
    // Matches `<meta charset=x>` and `<meta http-equiv=Content-Type content="text/html; charset=x">`.
    const meta = head.match(/<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([-\w.:]+)/i)?.[1]
    // An ASCII-declared UTF-16 page is a contradiction; the HTML standard reads it as UTF-8.
    return meta !== undefined && /^utf-?16/i.test(meta) ? "utf-8" : meta
  }
  if (kind === "xml") return head.match(/^\s*<\?xml\b[^>]*\bencoding\s*=\s*["']([-\w.:]+)["']/i)?.[1]
  return undefined
}

const decoderFor = (label: string | undefined): TextDecoder | undefined => {
  if (label === undefined) return undefined
  // TextDecoder throws RangeError for a label the Encoding Standard does not know.
  try {
    return new TextDecoder(label)
  } catch {
    return undefined
  }
}

/** Decodes a body: BOM, then the header charset, then the document's own declaration, else UTF-8. */
export const decodeText = (
  body: Uint8Array,
  kind: ContentKind,
  headerCharset: string | undefined
): string => {
  const decoder =
    decoderFor(bomEncoding(body)) ??
    decoderFor(headerCharset) ??
    decoderFor(declaredEncoding(body, kind)) ??
    new TextDecoder("utf-8")
  // TextDecoder drops a BOM matching its own encoding; replacement characters stand in for bad bytes.
  return decoder.decode(body)
}
