/**
 * A request that reaches `mcpgate serve` while it starts is answered or refused,
 * never accepted and left hanging (the socket used to listen before the routes
 * were installed).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { writeFileSync } from "node:fs"
import { request } from "node:http"
import { createServer } from "node:net"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { everythingPath as everything } from "@mcpgate/testing/Configs"
import { binary, sandbox } from "./support/Cli.ts"

/** A port that was free a moment ago (the gateway must be told it before it starts). */
const freePort = async (): Promise<number> => {
  const server = createServer()
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  const address = server.address()
  server.close()
  await once(server, "close")
  if (address === null || typeof address === "string") throw new Error("expected a TCP address")
  return address.port
}

type Outcome = "answered" | "refused" | "hung" | `other: ${string}`

interface Probe {
  readonly outcome: Promise<Outcome>
  /** Ends a probe that is still waiting: it was accepted and never answered. */
  readonly giveUp: () => void
}

/** One `GET /health` on a fresh connection. */
const probe = (port: number): Probe => {
  let settle: (outcome: Outcome) => void = () => {}
  const outcome = new Promise<Outcome>((resolve) => (settle = resolve))
  const req = request({ host: "127.0.0.1", port, path: "/health", agent: false }, (response) => {
    response.resume()
    response.once("end", () =>
      settle(response.statusCode === 200 ? "answered" : `other: ${response.statusCode}`)
    )
  })
  req.once("error", (error: NodeJS.ErrnoException) =>
    settle(error.code === "ECONNREFUSED" ? "refused" : `other: ${error.code ?? error.message}`)
  )
  req.end()
  return {
    outcome,
    giveUp: () => {
      settle("hung")
      req.destroy()
    }
  }
}

const startServe = (home: string, env: Record<string, string>, port: number): ChildProcess => {
  const config = join(home, "mcpgate.json")
  // Like examples/mcpgate.json: a stdio server, the builtins, an upstream that is not there.
  writeFileSync(
    config,
    JSON.stringify({
      mcpServers: {
        everything: { command: process.execPath, args: [everything] },
        notion: { url: "https://mcp.notion.com/mcp", auth: { type: "oauth2" }, enabled: false }
      },
      builtins: { fetch: { enabled: true }, webSearch: { enabled: true, provider: "duckduckgo" } },
      server: { host: "127.0.0.1", port, upstream: { baseUrl: "http://127.0.0.1:9/v1" } }
    })
  )
  return spawn(process.execPath, [binary, "serve", "--config", config], { env, cwd: home })
}

/** Fires /health from the instant of spawn until a few were answered; every outcome. */
const probeStartup = async (): Promise<ReadonlyArray<Outcome>> => {
  const { env, home } = sandbox()
  const port = await freePort()
  const child = startServe(home, env, port)
  let exited = false
  child.once("exit", () => (exited = true))
  const probes: Array<Probe> = []
  let answered = 0
  try {
    while (answered < 3 && !exited && probes.length < 5000) {
      const started = probe(port)
      probes.push(started)
      void started.outcome.then((result) => {
        if (result === "answered") answered += 1
      })
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    // The gateway answers now: whatever it accepted before has had all the time it
    // needs once it is given a grace period on top (an event, not a speed limit).
    const grace = setTimeout(() => {
      for (const each of probes) each.giveUp()
    }, 15_000)
    const outcomes = await Promise.all(probes.map((each) => each.outcome))
    clearTimeout(grace)
    return outcomes
  } finally {
    child.kill("SIGKILL")
  }
}

describe("mcpgate serve start-up", () => {
  it("answers or refuses every request sent while it starts, none hangs", { timeout: 120_000 }, async () => {
    for (let run = 0; run < 3; run++) {
      const outcomes = await probeStartup()
      const counts: Record<string, number> = {}
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1
      assert.isAbove(
        counts.answered ?? 0,
        0,
        `run ${run}: the gateway never answered: ${JSON.stringify(counts)}`
      )
      assert.deepStrictEqual(
        Object.keys(counts).filter((outcome) => outcome !== "answered" && outcome !== "refused"),
        [],
        `run ${run}: ${JSON.stringify(counts)}`
      )
    }
  })

  it("names the address when its port is taken, and exits 1", { timeout: 60_000 }, async () => {
    const taken = createServer()
    taken.listen(0, "127.0.0.1")
    await once(taken, "listening")
    try {
      const address = taken.address()
      if (address === null || typeof address === "string") throw new Error("expected a TCP address")
      const { env, home } = sandbox()
      const child = startServe(home, env, address.port)
      let stderr = ""
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const [code] = await once(child, "exit")
      assert.strictEqual(code, 1, stderr)
      assert.include(stderr, `cannot listen on 127.0.0.1:${address.port}`)
    } finally {
      taken.close()
    }
  })
})
