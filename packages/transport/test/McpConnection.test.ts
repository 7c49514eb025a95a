import { assert, describe, it } from "@effect/vitest"
import * as Configs from "@mcpgate/testing/Configs"
import { httpTestServer, silentHttpServer } from "@mcpgate/testing/HttpTestServer"
import {
  Deferred,
  Effect,
  Exit,
  Fiber,
  Logger,
  Queue,
  References,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { TestClock } from "effect/testing"
import { AuthorizedFetch } from "../src/AuthorizedFetch.ts"
import * as McpConnection from "../src/McpConnection.ts"
import { eventually, isAlive, ourChildrenWith, processTable } from "./support/ProcessTable.ts"

const options: McpConnection.McpConnectionOptions = { timeoutMs: 5000, termGraceMs: 300, killGraceMs: 300 }

const connect = (
  server: Parameters<typeof McpConnection.make>[0],
  extra: Partial<McpConnection.McpConnectionOptions> = {}
) => McpConnection.make(server, { ...options, ...extra }).pipe(Effect.provide(AuthorizedFetch.layer))

/** Opens in a scope of its own, so the test can close it and look at the process table. */
const connectInOwnScope = (
  server: Parameters<typeof McpConnection.make>[0],
  extra: Partial<McpConnection.McpConnectionOptions> = {}
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const connection = yield* connect(server, extra).pipe(Scope.provide(scope))
    return { connection, scope }
  })

const textOf = (result: { readonly content: ReadonlyArray<{ readonly type: string }> }): string =>
  result.content
    .map((block) => ("text" in block && typeof block.text === "string" ? block.text : ""))
    .join("\n")

describe("McpConnection over stdio", () => {
  it.live("initializes, lists tools and calls one", () =>
    Effect.gen(function* () {
      const connection = yield* connect(Configs.stdioServer("local"))
      assert.strictEqual(connection.transport, "stdio")
      assert.strictEqual(connection.serverInfo?.name, "stdio-test-server")
      assert.isNumber(connection.pid)
      const names = (yield* connection.listTools).map((tool) => tool.name)
      assert.includeMembers(names, ["echo", "slow", "pids", "env", "fail", "add_tool"])
      const result = yield* connection.callTool("echo", { text: "hello" })
      assert.strictEqual(textOf(result), "hello")
    })
  )

  it.live("gives the child a safe environment plus its own variables, nothing else", () =>
    Effect.gen(function* () {
      process.env.MCPGATE_TEST_PARENT_SECRET = "parent-secret"
      const first = yield* connect(Configs.stdioServer("first", [], { env: { FIRST_ONLY: "one" } }))
      const second = yield* connect(Configs.stdioServer("second", [], { env: { SECOND_ONLY: "two" } }))
      delete process.env.MCPGATE_TEST_PARENT_SECRET
      const envOf = (connection: McpConnection.McpConnection) =>
        Effect.map(
          connection.callTool("env", {}),
          (result) => JSON.parse(textOf(result)) as Record<string, string>
        )
      const env1 = yield* envOf(first)
      const env2 = yield* envOf(second)
      assert.strictEqual(env1.FIRST_ONLY, "one")
      assert.isUndefined(env1.SECOND_ONLY)
      assert.strictEqual(env2.SECOND_ONLY, "two")
      assert.isUndefined(env2.FIRST_ONLY)
      assert.isUndefined(env1.MCPGATE_TEST_PARENT_SECRET)
      assert.strictEqual(env1.PATH, process.env.PATH)
    })
  )

  it.live("a call that outlives its timeout fails with reason timeout and is cancelled on the server", () =>
    Effect.gen(function* () {
      const stderr: Array<string> = []
      const connection = yield* connect(Configs.stdioServer("slowpoke"), {
        onStderr: (_server, text) => {
          stderr.push(text)
        }
      })
      const started = Date.now()
      const error = yield* Effect.flip(connection.callTool("slow", { ms: 30_000 }, { timeoutMs: 300 }))
      assert.strictEqual(error._tag, "ToolCallError")
      assert.strictEqual(error.reason, "timeout")
      assert.include(error.message, "slowpoke")
      assert.isBelow(Date.now() - started, 3000)
      // notifications/cancelled reached the server, which aborted the handler.
      yield* eventually(() => stderr.join("").includes("cancelled request"), 3000, "the cancellation")
      // The connection is still usable.
      assert.strictEqual(textOf(yield* connection.callTool("echo", { text: "still here" })), "still here")
    })
  )

  it.live("a JSON-RPC error from the server becomes an isError result, not a failure", () =>
    Effect.gen(function* () {
      const connection = yield* connect(Configs.stdioServer("local"))
      const result = yield* connection.callTool("no_such_tool", {})
      assert.isTrue(result.isError)
      assert.include(textOf(result), "no_such_tool")
    })
  )

  it.live("a server killed mid-call fails the call as disconnected and reports itself closed", () =>
    Effect.gen(function* () {
      const connection = yield* connect(Configs.stdioServer("victim"))
      const pid = connection.pid
      assert.isNumber(pid)
      const call = yield* Effect.forkChild(Effect.flip(connection.callTool("slow", { ms: 30_000 })))
      yield* Effect.sleep("100 millis")
      process.kill(pid as number, "SIGKILL")
      const error = yield* Fiber.join(call)
      assert.strictEqual(error.reason, "disconnected")
      assert.include(error.message, "SIGKILL")
      const lost = yield* connection.closed.pipe(Effect.timeout("3 seconds"))
      assert.include(lost.message, "SIGKILL")
    })
  )

  it.live("closing the scope kills the whole process group, grandchildren that ignore SIGTERM included", () =>
    Effect.gen(function* () {
      const { connection, scope } = yield* connectInOwnScope(
        Configs.stdioServer("family", ["--grandchild", "--stubborn"])
      )
      const pids = JSON.parse(textOf(yield* connection.callTool("pids", {}))) as {
        pid: number
        grandchild: number
      }
      assert.isTrue(isAlive(pids.pid))
      assert.isTrue(isAlive(pids.grandchild))
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isBelow(Date.now() - started, 5000)
      assert.isFalse(isAlive(pids.pid))
      assert.isFalse(isAlive(pids.grandchild))
      assert.deepStrictEqual(
        processTable().filter((entry) => entry.pgrp === pids.pid && entry.state !== "Z"),
        []
      )
    })
  )

  it.live("a process that exits at start fails with its exit code and stderr", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(connect(Configs.stdioServer("crasher", ["--crash-on-start"])))
      assert.strictEqual(error._tag, "McpConnectionError")
      assert.strictEqual(error.reason, "transport")
      assert.include(error.message, "exited with code 3")
      // stderr is a detail for admins, kept apart from the message.
      assert.notInclude(error.message, "told to crash")
      assert.include(error.stderr ?? "", "fatal: the test server was told to crash")
    })
  )

  it.live("a command that does not exist fails with reason spawn", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        connect(Configs.server("ghost", { command: "/nonexistent/mcp-server" }))
      )
      assert.strictEqual(error.reason, "spawn")
      assert.include(error.message, "ENOENT")
    })
  )

  it.live("an initialize that never answers times out, and the process is killed", () =>
    Effect.gen(function* () {
      const started = Date.now()
      const error = yield* Effect.flip(connect(Configs.stdioServer("mute", ["--mute"]), { timeoutMs: 500 }))
      assert.strictEqual(error.reason, "timeout")
      assert.include(error.message, "initialize did not answer within 0.5 s")
      assert.isBelow(Date.now() - started, 4000)
      // The failed open cleaned up after itself before returning.
      assert.deepStrictEqual(ourChildrenWith("--mute"), [])
    })
  )
})

describe("McpConnection over HTTP", () => {
  it.live("streamable HTTP with a bearer header the server checks", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer({ bearer: "s3cret" })
      const url = `${http.base()}/mcp`
      const connection = yield* connect(
        Configs.server("remote", {
          transport: "streamable-http",
          url,
          headers: { Authorization: "Bearer s3cret" }
        })
      )
      assert.strictEqual(connection.transport, "streamable-http")
      assert.strictEqual(textOf(yield* connection.callTool("echo", { text: "over http" })), "over http")

      const error = yield* Effect.flip(
        connect(
          Configs.server("remote", {
            transport: "streamable-http",
            url,
            headers: { Authorization: "Bearer wrong" }
          })
        )
      )
      assert.strictEqual(error.reason, "unauthorized")
      assert.strictEqual(error.status, 401)
      assert.notInclude(error.message, "wrong")
      assert.notInclude(error.message, "s3cret")
    })
  )

  it.live("SSE with a bearer header the server checks", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer({ bearer: "s3cret", streamable: false })
      const url = `${http.base()}/sse`
      const connection = yield* connect(
        Configs.server("old", { transport: "sse", url, headers: { Authorization: "Bearer s3cret" } })
      )
      assert.strictEqual(connection.transport, "sse")
      assert.strictEqual(textOf(yield* connection.callTool("echo", { text: "over sse" })), "over sse")

      const error = yield* Effect.flip(connect(Configs.server("old", { transport: "sse", url })))
      assert.strictEqual(error.reason, "unauthorized")
      assert.strictEqual(error.status, 401)
    })
  )

  it.live("auto uses streamable HTTP when the server has it", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer()
      const connection = yield* connect(Configs.server("modern", { url: `${http.base()}/mcp` }))
      assert.strictEqual(connection.transport, "streamable-http")
    })
  )

  it.live("auto falls back to SSE when the POST gets a 4xx", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer({ streamable: false })
      const connection = yield* connect(Configs.server("legacy", { url: `${http.base()}/sse` }))
      assert.strictEqual(connection.transport, "sse")
      assert.strictEqual(textOf(yield* connection.callTool("echo", { text: "fallback" })), "fallback")
      assert.strictEqual(http.sessions(), 1)
    })
  )

  it.live("auto does not fall back on a 401", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer({ bearer: "s3cret" })
      const error = yield* Effect.flip(connect(Configs.server("locked", { url: `${http.base()}/mcp` })))
      assert.strictEqual(error.reason, "unauthorized")
      assert.strictEqual(http.sessions(), 0)
    })
  )

  it.live("an HTTP server that never answers initialize times out", () =>
    Effect.gen(function* () {
      const silent = yield* silentHttpServer
      const started = Date.now()
      const error = yield* Effect.flip(
        connect(Configs.server("hang", { transport: "streamable-http", url: silent.url }), { timeoutMs: 400 })
      )
      assert.strictEqual(error.reason, "timeout")
      assert.isBelow(Date.now() - started, 3000)
      const sse = yield* Effect.flip(
        connect(Configs.server("hang", { transport: "sse", url: silent.url }), { timeoutMs: 400 })
      )
      assert.strictEqual(sse.reason, "timeout")
    })
  )

  it.live("reads a paginated tools/list whole (1,000 tools, 100 per page)", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer({
        pageSize: 100,
        makeTools: () =>
          Array.from({ length: 1000 }, (_, index) => ({
            name: `tool_${String(index).padStart(4, "0")}`,
            inputSchema: { type: "object" as const }
          }))
      })
      const connection = yield* connect(Configs.server("big", { url: `${http.base()}/mcp` }))
      const tools = yield* connection.listTools
      assert.strictEqual(tools.length, 1000)
      assert.strictEqual(tools[0]?.name, "tool_0000")
      assert.strictEqual(tools[999]?.name, "tool_0999")
      assert.strictEqual(new Set(tools.map((tool) => tool.name)).size, 1000)
    })
  )

  it.live("notifications/tools/list_changed lists the tools again", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer()
      const connection = yield* connect(Configs.server("dynamic", { url: `${http.base()}/mcp` }))
      assert.strictEqual((yield* connection.listTools).length, 3)
      const updated = yield* Deferred.make<ReadonlyArray<string>>()
      yield* SubscriptionRef.changes(connection.tools).pipe(
        Stream.map((tools) => tools.map((tool) => tool.name)),
        Stream.filter((names) => names.includes("late_tool")),
        Stream.runForEach((names) => Deferred.succeed(updated, names)),
        Effect.forkScoped
      )
      yield* Effect.promise(() => http.addTool("", { name: "late_tool", inputSchema: { type: "object" } }))
      const names = yield* Deferred.await(updated).pipe(Effect.timeout("3 seconds"))
      assert.includeMembers([...names], ["echo", "late_tool"])
    })
  )

  it.effect("pings the server every healthCheckIntervalMs, on the Effect clock", () =>
    Effect.gen(function* () {
      const pings = yield* Queue.unbounded<void>()
      const http = yield* httpTestServer({ onPing: () => Queue.offerUnsafe(pings, undefined) })
      yield* connect(Configs.server("pinged", { url: `${http.base()}/mcp` }), {
        healthCheckIntervalMs: 30_000
      })
      yield* TestClock.adjust("29999 millis")
      assert.strictEqual(yield* Queue.size(pings), 0)
      yield* TestClock.adjust("1 millis")
      yield* Queue.take(pings)
      yield* TestClock.adjust("30 seconds")
      yield* Queue.take(pings)
      assert.strictEqual(yield* Queue.size(pings), 0)
    })
  )

  it.live("a server that goes away is noticed, without waiting for a call", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer()
      const connection = yield* connect(Configs.server("fleeting", { url: `${http.base()}/mcp` }), {
        healthCheckIntervalMs: 0
      })
      yield* Effect.promise(() => http.close())
      const lost = yield* connection.closed.pipe(Effect.timeout("3 seconds"))
      assert.include(lost.message, "stopped answering")
    })
  )
})

describe("McpConnection elicitation", () => {
  const accept = { action: "accept", content: { answer: "yes" } } as const

  it.live("answers with the services of the connection's fiber: its logger and log annotations", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const logger = Logger.make((options) => {
        const annotations = JSON.stringify(options.fiber.getRef(References.CurrentLogAnnotations))
        lines.push(`${String(options.message)} ${annotations}`)
      })
      const connection = yield* connect(Configs.stdioServer("asker"), {
        onElicitation: (params) => Effect.as(Effect.logInfo(`asked: ${params.message}`), accept)
      }).pipe(Effect.annotateLogs("connection", "asker"), Effect.provide(Logger.layer([logger])))
      const result = yield* connection.callTool("elicit", { message: "continue?" })
      assert.deepStrictEqual(JSON.parse(textOf(result)), accept)
      assert.deepStrictEqual(
        lines.filter((line) => line.includes("asked")),
        [`asked: continue? ${JSON.stringify({ connection: "asker" })}`]
      )
    })
  )

  it.live("an elicitation still open when the connection closes is interrupted", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const { connection, scope } = yield* connectInOwnScope(Configs.stdioServer("asker"), {
        onElicitation: () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
      })
      const call = yield* Effect.forkChild(Effect.exit(connection.callTool("elicit", { message: "wait" })))
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.await(interrupted).pipe(Effect.timeout("3 seconds"))
      yield* Fiber.join(call)
    })
  )

  it.live("an elicitation the server cancels is interrupted", () =>
    Effect.gen(function* () {
      const interrupted = yield* Deferred.make<void>()
      const connection = yield* connect(Configs.stdioServer("asker"), {
        onElicitation: () =>
          Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      })
      // The server gives up after 200 ms and sends notifications/cancelled (MCP "Utilities › Cancellation").
      const result = yield* connection.callTool("elicit", { message: "quick?", timeoutMs: 200 })
      assert.include(textOf(result), "timed out")
      yield* Deferred.await(interrupted).pipe(Effect.timeout("3 seconds"))
    })
  )
})
