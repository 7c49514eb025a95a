/**
 * What the installed binary loads before a command runs (bench/startup.ts measures
 * the time): commands that neither connect nor touch the keychain start without the
 * gateway's code, the keychain's native module and node:child_process; `serve`
 * answers without Node's internal undici, which node:http's lazy `WebSocket` loads,
 * and without the MCP SDK, which it loads on the first connection or `/mcp` session;
 * and it writes Node's compile cache as soon as it listens.
 */
import { execFile, spawn } from "node:child_process"
import { once } from "node:events"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { freePort } from "@mcpgate/testing/Loopback"
import { Effect } from "effect"
import { binary, sandbox } from "./support/Cli.ts"

const recorder = fileURLToPath(new URL("./support/RecordLoads.mjs", import.meta.url))

/** The URLs of every module `mcpgate <args>` resolved, whatever its exit code. */
const loadsOf = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<ReadonlyArray<string>>((resolve) => {
    const file = join(env.HOME ?? "", `loads-${args.join("-")}.txt`)
    writeFileSync(file, "")
    execFile(
      process.execPath,
      ["--import", recorder, binary, ...args],
      { env: { ...env, MCPGATE_TEST_LOADS: file }, cwd: env.HOME, timeout: 20_000 },
      () =>
        resolve(
          readFileSync(file, "utf8")
            .split("\n")
            .filter((line) => line !== "")
        )
    )
  })

// A service key: a string the minifier keeps, in whichever chunk holds the client manager.
const managerKey = "@mcpgate/transport/McpClientManager"
const loadsManager = (urls: ReadonlyArray<string>) =>
  urls.some((url) => url.startsWith("file:") && readFileSync(fileURLToPath(url), "utf8").includes(managerKey))

const loadsKeyring = (urls: ReadonlyArray<string>) => urls.some((url) => url.includes("@napi-rs/keyring"))

/** Node's own undici (behind `fetch` and `WebSocket`), as RecordLoads.mjs lists it at exit. */
const loadsNodeUndici = (lines: ReadonlyArray<string>) =>
  lines.some((line) => line.startsWith("node-internal:") && line.includes("internal/deps/undici"))

/**
 * The MCP SDK's schemas, in whichever chunk holds them: zod's base type, by the name
 * zod gives it (a string the minifier keeps). The SDK's types, client and server all
 * build on them.
 */
const loadsMcpSdk = (urls: ReadonlyArray<string>) =>
  urls.some(
    (url) => url.startsWith("file:") && readFileSync(fileURLToPath(url), "utf8").includes('"$ZodType"')
  )

/** Polls `/health` on `port` (every 10 ms, up to 20 s): whether it answered 200. */
const answersHealth = async (port: number): Promise<boolean> => {
  for (let attempt = 0; attempt < 2000; attempt++) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (response) => response.status === 200,
      () => false
    )
    if (ok) return true
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return false
}

/**
 * What `mcpgate serve` loaded by the time it answered `/health` (and did `then`, if
 * given) and was stopped with SIGINT.
 */
const serveLoads = async (
  env: Record<string, string>,
  home: string,
  then?: (url: string) => Promise<void>
): Promise<{ readonly answered: boolean; readonly lines: ReadonlyArray<string> }> => {
  const port = await Effect.runPromise(freePort)
  const config = join(home, "mcpgate.json")
  writeFileSync(
    config,
    JSON.stringify({
      mcpServers: {},
      server: { host: "127.0.0.1", port, upstream: { baseUrl: "http://127.0.0.1:9/v1" } }
    })
  )
  const file = join(home, "loads-serve.txt")
  writeFileSync(file, "")
  const child = spawn(process.execPath, ["--import", recorder, binary, "serve", "--config", config], {
    env: { ...env, MCPGATE_TEST_LOADS: file },
    cwd: home
  })
  const exited = once(child, "exit")
  let answered = false
  try {
    answered = await answersHealth(port)
    if (answered && then !== undefined) await then(`http://127.0.0.1:${port}`)
  } finally {
    child.kill("SIGINT")
    await exited
  }
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
  return { answered, lines }
}

describe("start-up", () => {
  it("status --offline and --version load no gateway code, no keychain module, no child_process", async () => {
    const { env, home } = sandbox()
    writeFileSync(join(home, "mcpgate.json"), JSON.stringify({ mcpServers: {} }))
    for (const args of [["status", "--json", "--offline"], ["--version"]]) {
      const urls = await loadsOf(args, env)
      assert.isTrue(
        urls.some((url) => url.endsWith("/dist/mcpgate.mjs")),
        `${args.join(" ")} ran the bundle`
      )
      assert.isFalse(loadsManager(urls), `${args.join(" ")} loaded the client manager`)
      assert.isFalse(loadsKeyring(urls), `${args.join(" ")} loaded @napi-rs/keyring`)
      assert.notInclude(urls, "node:child_process", `${args.join(" ")} loaded node:child_process`)
    }
  })

  it("serve answers /health without Node's internal undici and without the MCP SDK", {
    timeout: 60_000
  }, async () => {
    const { env, home } = sandbox()
    const { answered, lines } = await serveLoads(env, home)
    assert.isTrue(answered, "serve answered /health")
    assert.isTrue(
      lines.some((line) => line.startsWith("node-internal:")),
      "the process listed its internal modules at exit"
    )
    assert.isFalse(loadsNodeUndici(lines), "serve loaded Node's internal undici")
    assert.isFalse(loadsMcpSdk(lines), "serve loaded the MCP SDK")
  })

  it("the checks see the modules when a command needs them", { timeout: 60_000 }, async () => {
    const { env, home } = sandbox()
    writeFileSync(join(home, "mcpgate.json"), JSON.stringify({ mcpServers: {} }))
    // Connecting loads the client manager; the keychain store loads the native module.
    assert.isTrue(loadsManager(await loadsOf(["status", "--json"], env)))
    assert.isTrue(
      loadsKeyring(await loadsOf(["status", "--offline"], { ...env, MCPGATE_TOKEN_STORE: "keychain" }))
    )
    // Reading node:http's `WebSocket` loads Node's undici, and the exit list shows it.
    const file = join(home, "loads-websocket.txt")
    writeFileSync(file, "")
    await new Promise((resolve) =>
      execFile(
        process.execPath,
        ["--import", recorder, "-e", "require('node:http').WebSocket"],
        { env: { ...env, MCPGATE_TEST_LOADS: file } },
        resolve
      )
    )
    assert.isTrue(loadsNodeUndici(readFileSync(file, "utf8").split("\n")))
    // The first /mcp session loads the MCP SDK.
    const mcp = await serveLoads(env, home, async (url) => {
      const response = await fetch(`${url}/mcp`, {
        method: "POST",
        headers: { accept: "application/json, text/event-stream", "content-type": "application/json" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "t", version: "1" } }
        })
      })
      assert.strictEqual(response.status, 200)
      await response.body?.cancel()
    })
    assert.isTrue(mcp.answered)
    assert.isTrue(loadsMcpSdk(mcp.lines), "the /mcp session loaded the MCP SDK")
  })

  it("serve writes Node's compile cache once listening, so a start after a SIGKILL is not cold", {
    timeout: 60_000
  }, async () => {
    const { env, home } = sandbox()
    const port = await Effect.runPromise(freePort)
    const config = join(home, "mcpgate.json")
    writeFileSync(config, JSON.stringify({ mcpServers: {}, server: { host: "127.0.0.1", port } }))
    // bin/mcpgate.js enables the cache in NODE_COMPILE_CACHE's directory; Node itself writes it only at exit.
    const cache = join(home, "compile-cache")
    const child = spawn(process.execPath, [binary, "serve", "--config", config], {
      env: { ...env, NODE_COMPILE_CACHE: cache },
      cwd: home,
      stdio: "ignore"
    })
    const exited = once(child, "exit")
    let answered = false
    try {
      answered = await answersHealth(port)
    } finally {
      child.kill("SIGKILL")
      await exited
    }
    assert.isTrue(answered, "serve answered /health")
    // One entry per module compiled: the launcher, the CLI's entry and the chunks serve loaded (~55).
    const entries = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((entry) =>
      entry.isFile()
    )
    assert.isAtLeast(entries.length, 20, `compile cache entries after SIGKILL: ${entries.length}`)
  })
})
