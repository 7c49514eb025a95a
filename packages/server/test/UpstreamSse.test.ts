import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { SseDecoder } from "../src/http/Sse.ts"

const encoder = new TextEncoder()

/** Feeds `text` to a decoder cut at the given byte offsets. */
const decodeInPieces = (text: string, cuts: ReadonlyArray<number>): Array<string> => {
  const bytes = encoder.encode(text)
  const offsets = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const decoder = new SseDecoder()
  const events: Array<string> = []
  let start = 0
  for (const offset of [...offsets, bytes.length]) {
    events.push(...decoder.push(bytes.slice(start, offset)))
    start = offset
  }
  events.push(...decoder.end())
  return events
}

describe("SSE decoding of upstream streams", () => {
  it("reads data fields, whatever the line endings, comments and other fields", () => {
    const text =
      ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\nevent: message\nid: 7\ndata: first\ndata:second\n\n' +
      'retry: 100\rdata: {"é":"ü"}\r\rdata: [DONE]\n\n'
    assert.deepStrictEqual(decodeInPieces(text, []), ['{"a":1}', "first\nsecond", '{"é":"ü"}', "[DONE]"])
  })

  it("a last event without its blank line still counts", () => {
    assert.deepStrictEqual(decodeInPieces("data: a\n\ndata: b", []), ["a", "b"])
  })

  it("gives the same events however the bytes are cut (multi-byte characters and CRLF included)", () => {
    const text = 'data: {"x":"naïve 🚀"}\r\n\r\ndata: one\r\ndata: two\r\n\r\n: c\n\ndata: [DONE]\r\n\r\n'
    const whole = decodeInPieces(text, [])
    assert.deepStrictEqual(whole, ['{"x":"naïve 🚀"}', "one\ntwo", "[DONE]"])
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 200 }), { maxLength: 12 }), (cuts) => {
        assert.deepStrictEqual(decodeInPieces(text, cuts), whole)
      })
    )
  })
})
