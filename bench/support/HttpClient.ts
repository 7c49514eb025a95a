/**
 * The one plain HTTP client both sides of the HTTP benchmarks use: `node:http` with
 * a keep-alive agent, timing the first body byte and the end of the body.
 */
import * as Http from "node:http"

export interface HttpResult {
  readonly status: number
  /** ms from sending to the first body byte (the first SSE event for a stream). */
  readonly ttfb: number
  /** ms from sending to the end of the body. */
  readonly total: number
  readonly bytes: number
  /** The body, when asked for. */
  readonly body: Buffer | undefined
}

export interface HttpClient {
  readonly post: (
    url: string,
    body: string,
    options?: { readonly keepBody?: boolean; readonly headers?: Readonly<Record<string, string>> }
  ) => Promise<HttpResult>
  readonly close: () => void
}

export const makeHttpClient = (maxSockets: number): HttpClient => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets })
  const post: HttpClient["post"] = (url, body, options) =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(body)
      const start = performance.now()
      let ttfb = Number.NaN
      let bytes = 0
      const chunks: Array<Buffer> = []
      const request = Http.request(
        url,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": String(payload.length),
            ...options?.headers
          }
        },
        (response) => {
          response.on("data", (chunk: Buffer) => {
            if (bytes === 0) ttfb = performance.now() - start
            bytes += chunk.length
            if (options?.keepBody === true) chunks.push(chunk)
          })
          response.once("error", reject)
          response.once("end", () =>
            resolve({
              status: response.statusCode ?? 0,
              ttfb,
              total: performance.now() - start,
              bytes,
              body: options?.keepBody === true ? Buffer.concat(chunks) : undefined
            })
          )
        }
      )
      request.once("error", reject)
      request.end(payload)
    })
  return { post, close: () => agent.destroy() }
}
