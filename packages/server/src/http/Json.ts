/**
 * Request bodies as JSON: one strict decoder (invalid UTF-8 is not JSON text, RFC 8259 §8.1).
 */
import { Option } from "effect"

const textDecoder = new TextDecoder("utf-8", { fatal: true })

/** The parsed value, or none when the bytes are not UTF-8 JSON. */
export const parseBytes = (bytes: Uint8Array): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(textDecoder.decode(bytes)))
  } catch {
    return Option.none()
  }
}
