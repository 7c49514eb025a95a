/**
 * `GET /metrics` scraped by a real Prometheus (Debian's `/usr/bin/prometheus`)
 * after a chat whose model calls two tools: its query API must return the tool
 * call series, and no secret may appear in anything scraped.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect } from "effect"
import OpenAI from "openai"
import * as ObservedGateway from "./support/ObservedGateway.ts"

const { secrets } = ObservedGateway

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

/** Prometheus scraping `target` every second, with the metrics token; stopped with the scope. */
const startPrometheus = (target: string) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "mcpgate-prometheus-"))
    writeFileSync(join(dir, "token"), secrets.metricsToken)
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "scrape_configs:",
        "  - job_name: mcpgate",
        "    metrics_path: /metrics",
        "    authorization:",
        `      credentials_file: ${join(dir, "token")}`,
        "    static_configs:",
        `      - targets: ["${target}"]`,
        ""
      ].join("\n")
    )
    const port = yield* Effect.promise(freePort)
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          "/usr/bin/prometheus",
          [
            `--config.file=${join(dir, "prometheus.yml")}`,
            `--storage.tsdb.path=${join(dir, "data")}`,
            `--web.listen-address=127.0.0.1:${port}`
          ],
          { stdio: ["ignore", "ignore", "pipe"] }
        )
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    let log = ""
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      log += chunk
    })
    return { url: `http://127.0.0.1:${port}`, log: () => log }
  })

interface PromResult {
  readonly metric: Record<string, string>
  readonly value: [number, string]
}

/** Polls Prometheus's query API until `accept` holds for the result (or 60 s pass). */
const queryUntil = (
  prometheus: string,
  query: string,
  accept: (result: ReadonlyArray<PromResult>) => boolean
) =>
  Effect.promise(async () => {
    let last: ReadonlyArray<PromResult> = []
    for (let attempt = 0; attempt < 240; attempt++) {
      try {
        const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`)
        if (response.ok) {
          const body = (await response.json()) as { data: { result: ReadonlyArray<PromResult> } }
          last = body.data.result
          if (accept(last)) return last
        }
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    return last
  })

describe("GET /metrics", () => {
  it.live(
    "is scraped by Prometheus: tool calls by server, tool and outcome after a chat with two tool calls",
    () =>
      Effect.gen(function* () {
        const upstream = yield* ScriptedUpstream.make([
          {
            toolCalls: [
              { id: "call_1", name: "t__echo", arguments: '{"text":"hello"}' },
              { id: "call_2", name: "t__fail", arguments: "{}" }
            ],
            usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }
          },
          { content: "done", usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 } }
        ])
        const gateway = yield* ObservedGateway.start({ upstreamBaseUrl: upstream.baseUrl })

        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: secrets.apiKey, maxRetries: 0 })
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: "scripted-model",
            messages: [{ role: "user", content: "call two tools" }],
            ...{ execute_mcp_tools: true }
          })
        )
        assert.strictEqual(completion.choices[0]?.message.content, "done")

        // Who may read it: the metrics token or the admin token, not an API key or nobody.
        const statusWith = (token: string | undefined) =>
          Effect.promise(() =>
            fetch(`${gateway.url}/metrics`, {
              headers: token === undefined ? {} : { authorization: `Bearer ${token}` }
            }).then((response) => response.status)
          )
        assert.strictEqual(yield* statusWith(undefined), 401)
        assert.strictEqual(yield* statusWith(secrets.apiKey), 401)
        assert.strictEqual(yield* statusWith(secrets.adminToken), 200)

        const text = yield* Effect.promise(() =>
          fetch(`${gateway.url}/metrics`, {
            headers: { authorization: `Bearer ${secrets.metricsToken}` }
          }).then((response) => response.text())
        )
        assert.include(text, 'mcpgate_tool_calls_total{server="t",tool="echo",outcome="ok"} 1')
        assert.include(text, 'mcpgate_tool_calls_total{server="t",tool="fail",outcome="tool_error"} 1')
        assert.include(
          text,
          'mcpgate_tool_call_duration_seconds_count{server="t",tool="echo",outcome="ok"} 1'
        )
        assert.include(text, 'mcpgate_upstream_requests_total{model="scripted-model",outcome="ok"} 2')
        assert.include(text, 'mcpgate_upstream_tokens_total{model="scripted-model",type="input"} 31')
        assert.include(text, 'mcpgate_upstream_tokens_total{model="scripted-model",type="output"} 10')
        assert.include(text, 'mcpgate_mcp_server_state{server="t",state="connected"} 1')
        assert.include(text, 'mcpgate_mcp_server_state{server="t",state="error"} 0')
        assert.match(
          text,
          /mcpgate_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} 1/
        )
        assert.match(text, /mcpgate_http_requests_total\{route="\/metrics",method="GET",status="401"\} 2/)
        for (const secret of Object.values(secrets)) assert.notInclude(text, secret)

        const prometheus = yield* startPrometheus(`127.0.0.1:${gateway.port}`)
        const series = yield* queryUntil(
          prometheus.url,
          "mcpgate_tool_calls_total",
          (result) => result.length >= 2
        )
        const byTool = Object.fromEntries(
          series.map((entry) => [
            `${entry.metric.server}/${entry.metric.tool}/${entry.metric.outcome}`,
            entry.value[1]
          ])
        )
        assert.deepStrictEqual(byTool, { "t/echo/ok": "1", "t/fail/tool_error": "1" }, prometheus.log())
        const up = yield* queryUntil(prometheus.url, 'up{job="mcpgate"}', (result) => result.length > 0)
        assert.strictEqual(up[0]?.value[1], "1", "the scrape succeeded")
        const latency = yield* queryUntil(
          prometheus.url,
          'mcpgate_tool_call_duration_seconds_count{tool="echo"}',
          (result) => result.length > 0
        )
        assert.strictEqual(latency[0]?.value[1], "1")
      }).pipe(Effect.scoped),
    90_000
  )
})
