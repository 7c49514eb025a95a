/**
 * Control-plane requests of the soak (health, server states, admin views) on a
 * fresh connection each, closed after the answer: they must not add keep-alive
 * sockets to the gateway's socket count.
 */
import * as http from "node:http"

export interface ProbeResponse {
  readonly status: number
  readonly text: string
}

export const request = (
  url: string,
  options: {
    readonly method?: string
    readonly headers?: Record<string, string>
    readonly timeoutMs?: number
    readonly body?: string
  } = {}
): Promise<ProbeResponse> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? "GET",
        agent: false,
        headers: { connection: "close", ...options.headers },
        timeout: options.timeoutMs ?? 10_000
      },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => {
          text += chunk
        })
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
        res.on("error", reject)
      }
    )
    req.on("timeout", () => req.destroy(new Error(`${url} did not answer in time`)))
    req.on("error", reject)
    req.end(options.body)
  })

export interface ServerState {
  readonly name: string
  readonly state: string
  readonly pid?: number
}

/** `GET /v1/mcp/servers`: each server's state (and a stdio server's pid). */
export const servers = async (
  gatewayUrl: string,
  seen: (text: string, where: string) => void
): Promise<ReadonlyArray<ServerState>> => {
  const response = await request(`${gatewayUrl}/v1/mcp/servers`)
  seen(response.text, "/v1/mcp/servers")
  if (response.status !== 200) throw new Error(`/v1/mcp/servers answered ${response.status}`)
  return (JSON.parse(response.text) as { servers: ReadonlyArray<ServerState> }).servers
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` every `everyMs` until it holds or `timeoutMs` passes; true when it held. */
export const until = async (check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50) => {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (performance.now() > deadline) return false
    await sleep(everyMs)
  }
}
