import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { assert, describe, it } from "@effect/vitest"
import type { AuthConfig, McpgateConfig } from "@mcpgate/core/Config"
import * as Configs from "@mcpgate/testing/Configs"
import { httpTestServer, silentHttpServer, startHttpTestServer } from "@mcpgate/testing/HttpTestServer"
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Redacted, Schedule, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { AuthorizedFetch } from "../src/AuthorizedFetch.ts"
import type { ManagerChange, ServerState, ServerStatus } from "../src/ConnectionState.ts"
import {
  backoffSchedule,
  type McpClientManagerOptions,
  type McpClientManagerShape,
  make as makeManager
} from "../src/McpClientManager.ts"
import type { ToolProvider } from "../src/ToolProvider.ts"
import { eventually, isAlive, living, ourChildrenWith } from "./support/ProcessTable.ts"

const fastOptions: McpClientManagerOptions = {
  backoff: { initialMs: 50, maxMs: 400 },
  termGraceMs: 300,
  killGraceMs: 300,
  closeTimeoutMs: 3000
}

const manage = (config: McpgateConfig, options: McpClientManagerOptions = {}) =>
  makeManager(config, { ...fastOptions, ...options }).pipe(Effect.provide(AuthorizedFetch.layer))

const statusOf = (statuses: ReadonlyArray<ServerStatus>, name: string): ServerStatus => {
  const status = statuses.find((entry) => entry.name === name)
  if (status === undefined) throw new Error(`no status for ${name}`)
  return status
}

const awaitServer = (
  manager: McpClientManagerShape,
  name: string,
  predicate: (status: ServerStatus) => boolean,
  ms = 10_000
) =>
  manager
    .awaitStatus((all) => all.some((status) => status.name === name && predicate(status)))
    .pipe(
      Effect.map((all) => statusOf(all, name)),
      Effect.timeoutOrElse({
        duration: ms,
        orElse: () =>
          Effect.flatMap(manager.status, (all) =>
            Effect.die(new Error(`timed out waiting for ${name}: ${JSON.stringify(statusOf(all, name))}`))
          )
      })
    )

const inState = (state: ServerState) => (status: ServerStatus) => status.state === state

/** Collects the manager's changes from now on into the returned array (as they are processed). */
const recordChanges = (manager: McpClientManagerShape) =>
  Effect.gen(function* () {
    const seen: Array<ManagerChange> = []
    const changes = yield* manager.subscribe
    yield* changes.pipe(
      Stream.runForEach((change) => Effect.sync(() => seen.push(change))),
      Effect.forkScoped
    )
    return seen
  })

const textOf = (result: { readonly text: string }) => result.text

describe("McpClientManager", () => {
  it.live("runs server-everything over stdio: list, call by public name, timeout, normalised results", () =>
    Effect.gen(function* () {
      const manager = yield* manage(Configs.gateway([Configs.everything("everything", { timeout: 1.5 })]))
      yield* awaitServer(manager, "everything", inState("connected"))
      const tools = yield* manager.tools
      const names = tools.map((tool) => tool.publicName)
      assert.include(names, "everything__echo")
      const echo = tools.find((tool) => tool.publicName === "everything__echo")
      assert.strictEqual(echo?.server, "everything")
      assert.strictEqual(echo?.tool.name, "echo")

      const result = yield* manager.call("everything__echo", { message: "hi there" })
      assert.strictEqual(textOf(result), "Echo: hi there")
      assert.isFalse(result.isError)

      const image = yield* manager.call("everything__get-tiny-image", {})
      assert.match(image.text, /\[image: image\/png, \d+(\.\d)? (B|KB)\]/)

      const reference = yield* manager.call("everything__get-resource-reference", {
        resourceType: "Text",
        resourceId: 1
      })
      assert.match(reference.text, /\[resource: \S+, text\/plain\]\n/)

      const links = yield* manager.call("everything__get-resource-links", { count: 2 })
      assert.include(links.text, "[resource link: ")

      const weather = yield* manager.call("everything__get-structured-content", { location: "Chicago" })
      assert.deepStrictEqual(weather.structuredContent, {
        temperature: 36,
        conditions: "Light rain / drizzle",
        humidity: 82
      })

      // The per-server timeout (1.5 s) cuts the 10 s operation short.
      const started = Date.now()
      const error = yield* Effect.flip(
        manager.call("everything__trigger-long-running-operation", { duration: 10, steps: 5 })
      )
      assert.strictEqual(error.reason, "timeout")
      assert.strictEqual(error.server, "everything")
      assert.isBelow(Date.now() - started, 4000)
    })
  )

  it.live("reports disabled servers, filters tools with allow/deny globs and routes by public name", () =>
    Effect.gen(function* () {
      const builtin: ToolProvider = {
        name: "builtin",
        listTools: Effect.succeed([{ name: "fetch", inputSchema: { type: "object" } } satisfies Tool]),
        callTool: (tool, args) =>
          Effect.succeed<CallToolResult>({
            content: [{ type: "text", text: `builtin ${tool} ${JSON.stringify(args)}` }]
          })
      }
      const manager = yield* manage(
        Configs.gateway([
          Configs.stdioServer("alpha", [], {
            tools: { allow: ["ech?", "sl*", "pids", "a*"], deny: ["slow", "add_*"] }
          }),
          Configs.stdioServer("beta", [], { enabled: false }),
          Configs.stdioServer("builtin")
        ]),
        { builtin }
      )
      const settled = yield* manager.awaitSettled.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(statusOf(settled, "alpha").state, "connected")
      assert.strictEqual(statusOf(settled, "alpha").toolCount, 2)
      assert.strictEqual(statusOf(settled, "alpha").serverInfo?.version, "1.2.3")
      assert.strictEqual(statusOf(settled, "beta").state, "disabled")
      assert.isUndefined(statusOf(settled, "beta").pid)
      assert.strictEqual(statusOf(settled, "builtin").state, "error")
      assert.include(statusOf(settled, "builtin").lastError ?? "", "reserved")

      const names = (yield* manager.tools).map((tool) => tool.publicName).sort()
      assert.deepStrictEqual(names, ["alpha__echo", "alpha__pids", "builtin__fetch"])

      assert.strictEqual(textOf(yield* manager.call("alpha__echo", { text: "routed" })), "routed")
      assert.strictEqual(
        textOf(yield* manager.call("builtin__fetch", { url: "x" })),
        'builtin fetch {"url":"x"}'
      )
      const denied = yield* Effect.flip(manager.call("alpha__slow", { ms: 1 }))
      assert.strictEqual(denied.reason, "unknown_tool")
      const unknown = yield* Effect.flip(manager.call("nope__echo", {}))
      assert.strictEqual(unknown.reason, "unknown_tool")
      assert.include(unknown.message, "nope__echo")

      const failed = yield* manager.call("alpha__fail", {}).pipe(Effect.flip)
      assert.strictEqual(failed.reason, "unknown_tool")
    })
  )

  it.live("keeps a tool's isError and says so when it has no text", () =>
    Effect.gen(function* () {
      const manager = yield* manage(Configs.gateway([Configs.stdioServer("alpha")]))
      yield* awaitServer(manager, "alpha", inState("connected"))
      const result = yield* manager.call("alpha__fail", {})
      assert.isTrue(result.isError)
      assert.strictEqual(result.text, "the tool reported an error without a message")
    })
  )

  it.effect(
    "starts at once; servers that never answer initialize time out without holding up the others",
    () =>
      Effect.gen(function* () {
        const silent = yield* silentHttpServer
        const manager = yield* manage(
          Configs.gateway([
            Configs.stdioServer("mute", ["--mute"], { timeout: 0.5 }),
            Configs.server("silent", { transport: "streamable-http", url: silent.url, timeout: 0.5 }),
            Configs.stdioServer("good")
          ]),
          { backoff: { initialMs: 10_000, maxMs: 10_000 } }
        )
        const initial = yield* manager.status
        assert.deepStrictEqual(
          initial.map((status) => status.state),
          ["connecting", "connecting", "connecting"]
        )
        // The good server connects while the others are still waiting for their initialize
        // (on the test clock, their 0.5 s cannot pass until the test says so).
        const good = yield* awaitServer(manager, "good", inState("connected"))
        assert.isAbove(good.toolCount, 0)
        assert.deepStrictEqual(
          (yield* manager.status).map((status) => status.state),
          ["connecting", "connecting", "connected"]
        )
        yield* TestClock.adjust("500 millis")
        const settled = yield* manager.awaitSettled
        const now = yield* Clock.currentTimeMillis
        for (const name of ["mute", "silent"]) {
          const status = statusOf(settled, name)
          assert.strictEqual(status.state, "error")
          assert.include(status.lastError ?? "", "did not answer within 0.5 s")
          assert.strictEqual(status.attempts, 1)
          assert.isAtLeast(status.nextRetryAt ?? 0, now + 8000)
        }
        assert.strictEqual(statusOf(yield* manager.status, "good").state, "connected")
      })
  )

  it.effect(
    "a stdio server killed mid-call: typed error, reconnects after the backoff delay, leaves no orphan",
    () =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const manager = yield* manage(Configs.gateway([Configs.stdioServer("victim")]), {
          backoff: { initialMs: 1000, maxMs: 60_000 },
          onStderr: (_server, text) => {
            if (text.includes("slow request")) Deferred.doneUnsafe(started, Exit.void)
          }
        })
        const first = yield* awaitServer(manager, "victim", inState("connected"))
        const pid = first.pid
        assert.isNumber(pid)
        const changes = yield* manager.subscribe
        const history = yield* changes.pipe(
          Stream.filter((change) => change._tag === "StatusChanged" && change.status.name === "victim"),
          Stream.map((change) => (change._tag === "StatusChanged" ? change.status : statusOf([], "victim"))),
          Stream.takeUntil(
            (status) => status.state === "connected" && status.pid !== undefined && status.pid !== pid
          ),
          Stream.runCollect,
          Effect.forkScoped
        )
        const call = yield* Effect.forkChild(Effect.flip(manager.call("victim__slow", { ms: 30_000 })))
        yield* Deferred.await(started)
        process.kill(pid as number, "SIGKILL")
        const error = yield* Fiber.join(call)
        assert.strictEqual(error._tag, "ToolCallError")
        assert.strictEqual(error.reason, "disconnected")

        // Lost after being connected: the first backoff step (1 s ±20%) before connecting again.
        const lost = yield* awaitServer(manager, "victim", inState("disconnected"))
        assert.include(lost.lastError ?? "", "SIGKILL")
        const delay = (lost.nextRetryAt ?? 0) - (yield* Clock.currentTimeMillis)
        assert.isAtLeast(delay, 800)
        assert.isAtMost(delay, 1200)
        yield* TestClock.adjust(delay - 1)
        assert.strictEqual(statusOf(yield* manager.status, "victim").state, "disconnected")
        yield* TestClock.adjust(1)

        const states = Array.from(yield* Fiber.join(history))
        const second = states[states.length - 1]
        assert.notStrictEqual(second?.pid, pid)
        assert.isFalse(isAlive(pid as number))
        assert.deepStrictEqual(
          states.map((status) => status.state).filter((state, index, all) => state !== all[index - 1]),
          ["disconnected", "connecting", "connected"]
        )
        assert.strictEqual(textOf(yield* manager.call("victim__echo", { text: "back" })), "back")
        assert.lengthOf(ourChildrenWith(Configs.stdioTestServerPath), 1)
      })
  )

  it.effect("retries a server that cannot start with exponential backoff: 1 s, 2 s, 4 s, then the cap", () =>
    Effect.gen(function* () {
      const manager = yield* manage(
        Configs.gateway([Configs.server("ghost", { command: "/nonexistent/mcpgate-test-server" })]),
        { backoff: { initialMs: 1000, maxMs: 4000 } }
      )
      const delays: Array<number> = []
      for (let attempt = 1; attempt <= 4; attempt++) {
        const failed = yield* awaitServer(
          manager,
          "ghost",
          (status) => status.attempts === attempt && status.nextRetryAt !== undefined
        )
        assert.strictEqual(failed.state, "error")
        assert.include(failed.lastError ?? "", "could not start")
        const delay = (failed.nextRetryAt ?? 0) - (yield* Clock.currentTimeMillis)
        delays.push(delay)
        // Nothing happens a moment before the delay is up.
        yield* TestClock.adjust(delay - 1)
        const waiting = statusOf(yield* manager.status, "ghost")
        assert.strictEqual(waiting.state, "error")
        assert.strictEqual(waiting.attempts, attempt)
        yield* TestClock.adjust(1)
      }
      const nominal = [1000, 2000, 4000, 4000]
      delays.forEach((delay, index) => {
        const expected = nominal[index] ?? 0
        assert.isAtLeast(delay, expected * 0.8, `attempt ${index + 1}: ${delay}`)
        assert.isAtMost(delay, expected * 1.2, `attempt ${index + 1}: ${delay}`)
      })
    })
  )

  it.effect("an HTTP server that goes away and comes back on the same port is reconnected by itself", () =>
    Effect.gen(function* () {
      const first = yield* Effect.promise(() => startHttpTestServer())
      const port = first.port
      const manager = yield* manage(
        Configs.gateway([
          Configs.server("remote", { url: `${first.base()}/mcp`, transport: "streamable-http" })
        ]),
        { healthCheckIntervalMs: 0, backoff: { initialMs: 1000, maxMs: 60_000 } }
      )
      yield* awaitServer(manager, "remote", inState("connected"))
      yield* Effect.promise(() => first.close())
      const away = yield* awaitServer(manager, "remote", inState("disconnected"))
      assert.include(away.lastError ?? "", "stopped answering")
      const call = yield* Effect.flip(manager.call("remote__echo", { text: "anyone?" }))
      assert.strictEqual(call.reason, "disconnected")
      assert.include(call.message, "not connected")

      const second = yield* Effect.acquireRelease(
        Effect.promise(() => startHttpTestServer({ port })),
        (server) => Effect.promise(() => server.close())
      )
      // The retry waits for its backoff delay, then finds the server back.
      yield* TestClock.adjust((away.nextRetryAt ?? 0) - (yield* Clock.currentTimeMillis))
      yield* awaitServer(manager, "remote", inState("connected"))
      assert.strictEqual(second.sessions(), 1)
      assert.strictEqual(
        textOf(yield* manager.call("remote__echo", { text: "welcome back" })),
        "welcome back"
      )
    })
  )

  it.live("closing the manager's scope kills every stdio child and grandchild", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const manager = yield* manage(
        Configs.gateway([
          Configs.stdioServer("one"),
          Configs.stdioServer("two", ["--grandchild", "--stubborn"]),
          Configs.everything("three")
        ])
      ).pipe(Scope.provide(scope))
      const statuses = yield* manager.awaitStatus((all) =>
        all.every((status) => status.state === "connected")
      )
      const pids = statuses.map((status) => status.pid ?? -1)
      const family = JSON.parse((yield* manager.call("two__pids", {})).text) as { grandchild: number }
      assert.isTrue(isAlive(family.grandchild))
      yield* Scope.close(scope, Exit.void)
      for (const pid of [...pids, family.grandchild])
        assert.isFalse(isAlive(pid), `process ${pid} is still alive`)
      assert.deepStrictEqual(ourChildrenWith(Configs.stdioTestServerPath), [])
      assert.deepStrictEqual(ourChildrenWith(Configs.everythingPath), [])
    })
  )

  it.live(
    "SIGTERM to the gateway process stops every server it started",
    () =>
      Effect.gen(function* () {
        const config = Configs.gateway([
          Configs.stdioServer("one"),
          Configs.stdioServer("two", ["--grandchild", "--stubborn"])
        ])
        const runner = spawn(
          process.execPath,
          [new URL("./support/ManagerRunner.ts", import.meta.url).pathname, JSON.stringify(config)],
          { stdio: ["ignore", "pipe", "inherit"] }
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => runner.kill("SIGKILL")))
        const lines = createInterface({ input: runner.stdout })
        const firstLine = yield* Effect.callback<string>((resume) => {
          lines.once("line", (line) => resume(Effect.succeed(line)))
        }).pipe(Effect.timeout("15 seconds"))
        const { pids } = JSON.parse(firstLine) as { pids: Array<number> }
        assert.lengthOf(pids, 2)
        const group = () => living().filter((entry) => pids.includes(entry.pgrp))
        assert.isAbove(group().length, 2)
        const exited = Effect.callback<number | null>((resume) => {
          runner.once("exit", (code) => resume(Effect.succeed(code)))
        })
        runner.kill("SIGTERM")
        const code = yield* exited.pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(code, 0)
        assert.deepStrictEqual(group(), [])
      }),
    // A second node process starts and connects its servers: slow on a loaded machine.
    20_000
  )

  it.live(
    "a gateway process that exits without running its finalizers still kills every server group",
    () =>
      Effect.gen(function* () {
        const config = Configs.gateway([Configs.stdioServer("stubborn", ["--grandchild", "--stubborn"])])
        const runner = spawn(
          process.execPath,
          [
            new URL("./support/ManagerRunner.ts", import.meta.url).pathname,
            JSON.stringify(config),
            "exit-at-once"
          ],
          { stdio: ["ignore", "pipe", "inherit"] }
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => runner.kill("SIGKILL")))
        const exited = Effect.callback<number | null>((resume) => {
          runner.once("exit", (code) => resume(Effect.succeed(code)))
        })
        const lines = createInterface({ input: runner.stdout })
        const firstLine = yield* Effect.callback<string>((resume) => {
          lines.once("line", (line) => resume(Effect.succeed(line)))
        }).pipe(Effect.timeout("15 seconds"))
        const { pids } = JSON.parse(firstLine) as { pids: Array<number> }
        assert.strictEqual(yield* exited.pipe(Effect.timeout("10 seconds")), 0)
        // SIGKILL is delivered at once, but the kernel reaps asynchronously.
        yield* eventually(() => living().every((entry) => !pids.includes(entry.pgrp)))
      }),
    // A second node process starts and connects its servers: slow on a loaded machine.
    20_000
  )

  it.live("list_changed updates the aggregate and publishes a change", () =>
    Effect.gen(function* () {
      const manager = yield* manage(Configs.gateway([Configs.stdioServer("dyn")]))
      yield* awaitServer(manager, "dyn", inState("connected"))
      assert.notInclude(
        (yield* manager.tools).map((tool) => tool.publicName),
        "dyn__brand_new"
      )
      const toolsChanged = yield* manager.changes.pipe(
        Stream.filter((change) => change._tag === "ToolsChanged" && change.server === "dyn"),
        Stream.runHead,
        Effect.forkScoped
      )
      yield* Effect.yieldNow
      yield* manager.call("dyn__add_tool", { name: "brand_new" })
      const change = yield* Fiber.join(toolsChanged).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(change._tag, "Some")
      assert.include(
        (yield* manager.tools).map((tool) => tool.publicName),
        "dyn__brand_new"
      )
      assert.strictEqual(textOf(yield* manager.call("dyn__echo", { text: "ok" })), "ok")
    })
  )

  it.live("connects 50 servers at once and aggregates all their tools", () =>
    Effect.gen(function* () {
      const prefixes = Array.from({ length: 50 }, (_, index) => `/s${index + 1}`)
      const http = yield* httpTestServer({ prefixes })
      const manager = yield* manage(
        Configs.gateway(
          prefixes.map((prefix) =>
            Configs.server(prefix.slice(1), { transport: "streamable-http", url: `${http.base(prefix)}/mcp` })
          )
        )
      )
      const settled = yield* manager.awaitSettled.pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(
        settled.filter((status) => status.state !== "connected").map((status) => status.name),
        []
      )
      const tools = yield* manager.tools
      assert.lengthOf(tools, 150)
      assert.strictEqual(new Set(tools.map((tool) => tool.publicName)).size, 150)
      assert.strictEqual(textOf(yield* manager.call("s37__whoami", {})), "/s37")
    })
  )

  it.live("reload restarts only the servers whose config changed", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer()
      const a = Configs.stdioServer("a")
      const b = Configs.stdioServer("b", [], { env: { VERSION: "1" } })
      const c = Configs.server("c", { url: `${http.base()}/mcp` })
      const manager = yield* manage(Configs.gateway([a, b, c]))
      const before = yield* manager.awaitStatus((all) => all.every((status) => status.state === "connected"))
      assert.strictEqual(http.openSessions(), 1)
      const changes = yield* recordChanges(manager)

      yield* manager.reload(
        Configs.gateway([
          { ...a, tools: { deny: ["slow"] } },
          { ...b, env: { VERSION: "2" } },
          Configs.stdioServer("d")
        ])
      )
      const after = yield* manager.awaitStatus(
        (all) => all.length === 3 && all.every((status) => status.state === "connected")
      )
      assert.deepStrictEqual(
        after.map((status) => status.name),
        ["a", "b", "d"]
      )
      // a: same connection, new filter applied.
      assert.strictEqual(statusOf(after, "a").pid, statusOf(before, "a").pid)
      assert.strictEqual(statusOf(after, "a").lastConnectedAt, statusOf(before, "a").lastConnectedAt)
      assert.strictEqual(statusOf(after, "a").toolCount, statusOf(before, "a").toolCount - 1)
      assert.isFalse(
        changes.some(
          (change) =>
            change._tag === "StatusChanged" &&
            change.status.name === "a" &&
            change.status.state !== "connected"
        )
      )
      // b: restarted with its new environment; the old process is gone.
      assert.notStrictEqual(statusOf(after, "b").pid, statusOf(before, "b").pid)
      assert.isFalse(isAlive(statusOf(before, "b").pid ?? -1))
      const env = JSON.parse((yield* manager.call("b__env", {})).text) as Record<string, string>
      assert.strictEqual(env.VERSION, "2")
      // c: removed, its session closed.
      yield* eventually(
        () => changes.some((change) => change._tag === "ServerRemoved" && change.server === "c"),
        3000,
        "the ServerRemoved change"
      )
      yield* eventually(() => http.openSessions() === 0, 3000, "c's session to close")
      const gone = yield* Effect.flip(manager.call("c__echo", { text: "x" }))
      assert.strictEqual(gone.reason, "unknown_tool")

      // Disabling stops the process and reports `disabled`.
      yield* manager.reload(
        Configs.gateway([
          { ...a, enabled: false },
          { ...b, env: { VERSION: "2" } }
        ])
      )
      const disabled = statusOf(yield* manager.status, "a")
      assert.strictEqual(disabled.state, "disabled")
      assert.isFalse(isAlive(statusOf(after, "a").pid ?? -1))
      assert.isFalse(isAlive(statusOf(after, "d").pid ?? -1))
      assert.strictEqual(statusOf(yield* manager.status, "b").pid, statusOf(after, "b").pid)
    })
  )

  it.live("reload restarts a server whose secret changed: secrets compare by what they hold", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer()
      const auth = (clientSecret: string): AuthConfig => ({
        type: "oauth2",
        resource: "auto",
        flow: "pkce",
        signingAlgorithm: "RS256",
        allowHttp: true,
        clientId: "the-client",
        clientSecret: Redacted.make(clientSecret)
      })
      const server = (clientSecret: string) =>
        Configs.server("c", { url: `${http.base()}/mcp`, auth: auth(clientSecret) })
      const manager = yield* manage(Configs.gateway([server("first-secret")]))
      const before = yield* awaitServer(manager, "c", inState("connected"))
      // The same secret in a new `Redacted`: nothing changed, the connection stays.
      yield* manager.reload(Configs.gateway([server("first-secret")]))
      assert.strictEqual(statusOf(yield* manager.status, "c").lastConnectedAt, before.lastConnectedAt)
      const changes = yield* recordChanges(manager)
      yield* manager.reload(Configs.gateway([server("second-secret")]))
      yield* eventually(
        () =>
          changes.some(
            (change) =>
              change._tag === "StatusChanged" &&
              change.status.name === "c" &&
              change.status.state !== "connected"
          ),
        3000,
        "c to restart with its new secret"
      )
      yield* awaitServer(manager, "c", inState("connected"))
    })
  )

  it.live("disconnect stops a server until reconnect starts it again", () =>
    Effect.gen(function* () {
      const manager = yield* manage(Configs.gateway([Configs.stdioServer("a")]))
      const first = yield* awaitServer(manager, "a", inState("connected"))
      yield* manager.disconnect("a")
      const stopped = statusOf(yield* manager.status, "a")
      assert.strictEqual(stopped.state, "disconnected")
      assert.isUndefined(stopped.nextRetryAt)
      assert.isFalse(isAlive(first.pid ?? -1))
      const error = yield* Effect.flip(manager.call("a__echo", { text: "x" }))
      assert.strictEqual(error.reason, "disconnected")
      assert.include(error.message, "state: disconnected")

      yield* manager.reconnect("a")
      const second = yield* awaitServer(manager, "a", inState("connected"))
      assert.notStrictEqual(second.pid, first.pid)
      const missing = yield* Effect.flip(manager.reconnect("zzz"))
      assert.strictEqual(missing._tag, "ServerNotFound")
    })
  )

  it.live(
    "reload with the same config starts again a server that was disconnected, keeps the running ones",
    () =>
      Effect.gen(function* () {
        const config = Configs.gateway([Configs.stdioServer("a"), Configs.stdioServer("b")])
        const manager = yield* manage(config)
        const before = yield* manager.awaitStatus((all) =>
          all.every((status) => status.state === "connected")
        )
        yield* manager.disconnect("a")
        yield* manager.reload(config)
        assert.notStrictEqual(statusOf(yield* manager.status, "a").state, "disconnected")
        const after = yield* manager.awaitStatus((all) => all.every((status) => status.state === "connected"))
        assert.notStrictEqual(statusOf(after, "a").pid, statusOf(before, "a").pid)
        assert.strictEqual(statusOf(after, "b").pid, statusOf(before, "b").pid, "b was not restarted")
      })
  )

  it.live("a server that wants authorization is needs_auth and is not retried", () =>
    Effect.gen(function* () {
      const http = yield* httpTestServer({ bearer: "token" })
      const manager = yield* manage(
        Configs.gateway([
          Configs.server("locked", {
            url: `${http.base()}/mcp`,
            auth: {
              type: "oauth2",
              resource: "auto",
              flow: "pkce",
              signingAlgorithm: "RS256",
              allowHttp: false
            }
          })
        ])
      )
      const status = yield* awaitServer(manager, "locked", inState("needs_auth"))
      assert.isUndefined(status.nextRetryAt)
      assert.include(status.lastError ?? "", "mcpgate login locked")
      const error = yield* Effect.flip(manager.call("locked__echo", {}))
      assert.strictEqual(error.reason, "unknown_tool")
    })
  )
})

describe("backoffSchedule", () => {
  it.effect("doubles from the initial delay up to the cap, each within ±20%", () =>
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(backoffSchedule(1000, 60_000))
      const delays: Array<number> = []
      for (let attempt = 0; attempt < 9; attempt++) {
        const [, delay] = yield* step(0, undefined)
        delays.push(Duration.toMillis(delay))
      }
      const nominal = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
      delays.forEach((delay, index) => {
        const expected = nominal[index] ?? 0
        assert.isAtLeast(delay, expected * 0.8 - 1, `attempt ${index}: ${delay}`)
        assert.isAtMost(delay, expected * 1.2 + 1, `attempt ${index}: ${delay}`)
      })
    })
  )
})
