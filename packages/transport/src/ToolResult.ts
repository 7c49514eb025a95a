/**
 * Turns an MCP `CallToolResult` into what a model can read (docs/connections.md#results:
 * results keep the server's `isError` and its text; structured content is kept).
 *
 * The original showed failed results to the model as "Error: None"
 * (docs/lessons.md#tool-results): here an
 * error result keeps the server's own words, and binary content is summarised instead
 * of being dropped or pasted as base64.
 */
import type { CallToolResult, ContentBlock } from "@modelcontextprotocol/sdk/types.js"
import { Predicate } from "effect"

export interface NormalizedToolResult {
  /** Every content block as text, joined with "\n". */
  readonly text: string
  /** The server's own `isError` flag. */
  readonly isError: boolean
  /** The server's `structuredContent`, untouched. */
  readonly structuredContent?: Readonly<Record<string, unknown>>
  /** The result as the server sent it. */
  readonly raw: CallToolResult
}

/** Said when an error result carries no text at all (never "Error: None"). */
export const errorWithoutMessage = "the tool reported an error without a message"

/** `12.3 KB` style sizes (1024-based), for summaries of binary content. */
export const formatBytes = (bytes: number): string => {
  if (bytes < 1024) return `${bytes} B`
  const units = ["KB", "MB", "GB"] as const
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

/** The decoded size of base64 data, without decoding it. */
export const base64Size = (data: string): number => {
  const clean = data.replace(/\s/g, "")
  const padding = clean.endsWith("==") ? 2 : clean.endsWith("=") ? 1 : 0
  return Math.max(0, Math.floor((clean.length * 3) / 4) - padding)
}

const describeResource = (
  kind: string,
  uri: string,
  mimeType: string | undefined,
  extra: ReadonlyArray<string>
): string => {
  const parts = [uri, ...(mimeType === undefined ? [] : [mimeType]), ...extra]
  return `[${kind}: ${parts.join(", ")}]`
}

/** One content block as text. Unknown block types (newer protocol versions) are named, not dropped. */
export const contentToText = (block: ContentBlock): string => {
  switch (block.type) {
    case "text":
      return block.text
    case "image":
      return `[image: ${block.mimeType}, ${formatBytes(base64Size(block.data))}]`
    case "audio":
      return `[audio: ${block.mimeType}, ${formatBytes(base64Size(block.data))}]`
    case "resource_link": {
      const extra = [
        ...(block.name ? [`name: ${block.name}`] : []),
        ...(block.description ? [`description: ${block.description}`] : [])
      ]
      return describeResource("resource link", block.uri, block.mimeType, extra)
    }
    case "resource": {
      const resource = block.resource
      if ("text" in resource && Predicate.isString(resource.text)) {
        return `${describeResource("resource", resource.uri, resource.mimeType, [])}\n${resource.text}`
      }
      const size =
        "blob" in resource && Predicate.isString(resource.blob)
          ? [formatBytes(base64Size(resource.blob))]
          : []
      return describeResource("resource", resource.uri, resource.mimeType, size)
    }
    default: {
      const unknownType: unknown = (block as { readonly type?: unknown }).type
      return `[${Predicate.isString(unknownType) ? unknownType : "unknown"} content]`
    }
  }
}

const structuredOf = (result: CallToolResult): Readonly<Record<string, unknown>> | undefined =>
  Predicate.isObject(result.structuredContent) && !Array.isArray(result.structuredContent)
    ? result.structuredContent
    : undefined

/** Normalises a tool result for a model (see the module comment). */
export const normalize = (result: CallToolResult): NormalizedToolResult => {
  const isError = result.isError === true
  const content: ReadonlyArray<ContentBlock> = Array.isArray(result.content) ? result.content : []
  const structuredContent = structuredOf(result)
  let text = content
    .map(contentToText)
    .filter((part) => part.length > 0)
    .join("\n")
  // Servers with an output schema may send only structured content (MCP 2025-06-18, "Structured Content").
  if (text.length === 0 && structuredContent !== undefined) {
    text = JSON.stringify(structuredContent)
  }
  if (text.trim().length === 0 && isError) {
    text = errorWithoutMessage
  }
  return structuredContent === undefined
    ? { text, isError, raw: result }
    : { text, isError, structuredContent, raw: result }
}
