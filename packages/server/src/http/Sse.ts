/**
 * The part of Server-Sent Events an OpenAI-compatible stream uses: `data:`
 * fields, events ended by a blank line (WHATWG HTML §9.2.6). Comments, `event:`,
 * `id:` and `retry:` are read and ignored; nothing here ever fails.
 */
import { Stream } from "effect"

/** Splits decoded text into the `data` of each event, across arbitrary chunk boundaries. */
export class SseDecoder {
  private buffer = ""
  private data: Array<string> = []
  private readonly decoder = new TextDecoder()

  /** The events completed by this chunk. */
  push(chunk: Uint8Array): Array<string> {
    // What is buffered is one partial line (possibly ending in CR): search only the new text.
    const searchFrom = Math.max(0, this.buffer.length - 1)
    this.buffer += this.decoder.decode(chunk, { stream: true })
    return this.drain(false, searchFrom)
  }

  /** The last event, when the stream ends without its blank line. */
  end(): Array<string> {
    const searchFrom = Math.max(0, this.buffer.length - 1)
    this.buffer += this.decoder.decode()
    return this.drain(true, searchFrom)
  }

  private drain(final: boolean, searchFrom: number): Array<string> {
    const events: Array<string> = []
    let start = 0
    // Searched again only once passed: most streams have no CR at all.
    let cr = this.buffer.indexOf("\r", searchFrom)
    for (;;) {
      const lf = this.buffer.indexOf("\n", Math.max(start, searchFrom))
      if (cr !== -1 && cr < start) cr = this.buffer.indexOf("\r", start)
      let end: number
      let next: number
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A lone CR at the very end may be the first half of CRLF: wait for more.
        if (cr === this.buffer.length - 1 && !final) break
        end = cr
        next = this.buffer[cr + 1] === "\n" ? cr + 2 : cr + 1
      } else if (lf !== -1) {
        end = lf
        next = lf + 1
      } else {
        break
      }
      this.line(this.buffer.slice(start, end), events)
      start = next
    }
    this.buffer = this.buffer.slice(start)
    if (final) {
      if (this.buffer.length > 0) this.line(this.buffer, events)
      this.buffer = ""
      this.line("", events)
    }
    return events
  }

  private line(line: string, events: Array<string>): void {
    if (line === "") {
      if (this.data.length > 0) events.push(this.data.join("\n"))
      this.data = []
      return
    }
    if (line.startsWith("data:")) {
      const value = line.slice(5)
      this.data.push(value.startsWith(" ") ? value.slice(1) : value)
    }
  }
}

/** The `data` payloads of a byte stream. */
export const decode = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
  Stream.mapAccumArray(
    bytes,
    () => new SseDecoder(),
    (decoder, chunks) => [decoder, chunks.flatMap((chunk) => decoder.push(chunk))] as const,
    { onHalt: (decoder) => decoder.end() }
  )

const encoder = new TextEncoder()

/** One `data:` event (the payload is one line of JSON, so no splitting is needed). */
export const encodeData = (data: string): Uint8Array => encoder.encode(`data: ${data}\n\n`)

export const done: Uint8Array = encodeData("[DONE]")
