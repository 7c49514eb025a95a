/**
 * One MCP server connection (SPEC §4): stdio, SSE or streamable HTTP through the
 * SDK's `Client`, living in the caller's `Scope`.
 *
 * `make` opens the transport, runs `initialize` and a full (paginated) `tools/list`,
 * each bounded by the server's timeout, and returns a `ToolProvider` plus what the
 * client manager needs to supervise it: the current tool list (kept fresh by
 * `notifications/tools/list_changed`) and `closed`, which completes when the
 * connection is gone. Closing the scope closes the client (5 s at most, then the
 * stdio process group is SIGKILLed).
 */
import type { ServerConfig, Transport } from "@mcpgate/core/Config"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { SSEClientTransport, SseError } from "@modelcontextprotocol/sdk/client/sse.js"
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js"
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError
} from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  type CallToolResult,
  CallToolResultSchema,
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
  ErrorCode,
  type Implementation,
  ListToolsResultSchema,
  McpError,
  type Tool,
  ToolListChangedNotificationSchema
} from "@modelcontextprotocol/sdk/types.js"
import { Deferred, Effect, Exit, FiberSet, Predicate, Queue, Schema, Scope, SubscriptionRef } from "effect"
import { AuthorizedFetch } from "./AuthorizedFetch.ts"
import { ToolCallError } from "./Errors.ts"
import { NegotiatingHttpTransport } from "./internal/NegotiatingHttpTransport.ts"
import * as ProcessGroups from "./internal/ProcessGroups.ts"
import { StdioProcessTransport } from "./internal/StdioProcessTransport.ts"
import type { CallOptions, ToolProvider } from "./ToolProvider.ts"

/** Why a connection could not be opened. `needs_auth` means the user has to log in. */
export class McpConnectionError extends Schema.TaggedError<McpConnectionError>()("McpConnectionError", {
  server: Schema.String,
  reason: Schema.Literals(["timeout", "needs_auth", "unauthorized", "spawn", "transport", "protocol"]),
  message: Schema.String,
  /** The HTTP status behind the failure, when there was one. */
  status: Schema.optional(Schema.Number),
  /**
   * stdio: the last lines the process wrote to stderr. Kept apart from `message`
   * because it is a detail of the host, for admins only.
   */
  stderr: Schema.optional(Schema.String)
}) {}

/** Why an open connection went away. */
export interface ConnectionLost {
  readonly message: string
  /** stdio: the last lines the process wrote to stderr (for admins only, like `McpConnectionError.stderr`). */
  readonly stderr?: string | undefined
}

export interface McpConnectionOptions {
  /** Milliseconds for `initialize`, each `tools/list` page and each call (unless a call says otherwise). */
  readonly timeoutMs: number
  /** Budget for a graceful close before the process group is killed (default 5000). */
  readonly closeTimeoutMs?: number
  /** stdio: wait after closing stdin before SIGTERM (default 2000). */
  readonly termGraceMs?: number
  /** stdio: wait after SIGTERM before SIGKILL (default 2000). */
  readonly killGraceMs?: number
  /** HTTP transports: ping this often to notice a server that went away silently (default 30000; 0 disables). */
  readonly healthCheckIntervalMs?: number
  /** How we introduce ourselves in `initialize`. */
  readonly clientInfo?: Implementation
  /** stdio: receives what the server writes to stderr. */
  readonly onStderr?: (server: string, text: string) => void
  /** stdio: receives each line the server writes to stderr. */
  readonly onStderrLine?: (server: string, line: string) => void
  /** stdio: where the server's process group is registered (default: a registry of this connection's own). */
  readonly processGroups?: ProcessGroups.ProcessGroups | undefined
  /**
   * Answers the server's form elicitations (MCP 2025-11-25 "Client Features ›
   * Elicitation"). Fields an accepted `content` leaves out are filled with the
   * schema's defaults (SEP-1034). Without it no elicitation capability is declared.
   */
  readonly onElicitation?: (request: ElicitRequest["params"]) => Effect.Effect<ElicitResult>
  /**
   * Streamable HTTP: ask the server with `server/discover` whether it speaks the
   * stateless MCP 2026-07-28, and use it if so; else (the default) 2025-11-25.
   */
  readonly negotiateProtocol?: boolean
}

export interface McpConnection extends ToolProvider {
  /** The transport actually in use (`auto` resolved). */
  readonly transport: Transport
  readonly serverInfo: Implementation | undefined
  readonly instructions: string | undefined
  /** stdio: the server's pid (also its process group id). */
  readonly pid: number | undefined
  /** The server's tools as last listed (unfiltered, original names). */
  readonly tools: SubscriptionRef.SubscriptionRef<ReadonlyArray<Tool>>
  /** Lists the tools again (all pages) and publishes them on `tools`. */
  readonly refreshTools: Effect.Effect<ReadonlyArray<Tool>, ToolCallError>
  /** Completes when the connection is gone (process exit, transport closed, failed health check). */
  readonly closed: Effect.Effect<ConnectionLost>
}

export const defaultClientInfo: Implementation = { name: "mcpgate", version: "0.1.0" }

/** The server's request timeout: its own `timeout` (seconds), else the default. */
export const timeoutMsOf = (server: ServerConfig, defaultTimeoutSeconds: number): number =>
  Math.max(1, Math.round((server.timeout ?? defaultTimeoutSeconds) * 1000))

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`

/** A URL for messages: no userinfo, query or fragment (they may carry secrets). */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return "(invalid URL)"
  }
}

const errorText = (error: unknown): string => {
  if (error instanceof Error) {
    const cause: unknown = error.cause
    const causeCode =
      Predicate.hasProperty(cause, "code") && Predicate.isString(cause.code) ? cause.code : undefined
    return causeCode !== undefined && !error.message.includes(causeCode)
      ? `${error.message} (${causeCode})`
      : error.message
  }
  return String(error)
}

const httpStatusOf = (error: unknown): number | undefined => {
  if (error instanceof StreamableHTTPError || error instanceof SseError) {
    return Predicate.isNumber(error.code) && error.code > 0 ? error.code : undefined
  }
  return undefined
}

/** stdio: the last few lines of stderr, if any. */
const stderrTail = (transport: SdkTransport): string | undefined => {
  if (!(transport instanceof StdioProcessTransport)) return undefined
  const tail = transport.stderrTail.trim().split("\n").slice(-5).join("\n").slice(-800)
  return tail.length > 0 ? tail : undefined
}

const exitSummary = (transport: SdkTransport): string | undefined => {
  if (!(transport instanceof StdioProcessTransport) || transport.exit === undefined) return undefined
  const { code, signal } = transport.exit
  return signal !== null
    ? `the server process was killed by ${signal}`
    : `the server process exited with code ${code}`
}

/** Turns whatever the SDK rejected `connect` with into a typed, human error. */
const classifyOpenError = (
  server: ServerConfig,
  kind: Transport,
  transport: SdkTransport,
  timeoutMs: number,
  error: unknown
): McpConnectionError => {
  const stderr = stderrTail(transport)
  const make = (reason: McpConnectionError["reason"], message: string, status?: number) =>
    new McpConnectionError({
      server: server.name,
      reason,
      message: `server "${server.name}": ${message}`,
      ...(status === undefined ? {} : { status }),
      ...(stderr === undefined ? {} : { stderr })
    })
  const where = server.url === undefined ? "" : ` from ${displayUrl(server.url)}`
  if (Predicate.isTagged(error, "AuthorizationRequired")) {
    // Its message already names the command that fixes it (a login, or one with more scope).
    return make("needs_auth", errorText(error))
  }
  const status = httpStatusOf(error)
  if (status === 401 || status === 403) {
    return server.auth !== undefined
      ? make(
          "needs_auth",
          `HTTP ${status}${where}: authorization needed; run \`mcpgate login ${server.name}\``,
          status
        )
      : make(
          "unauthorized",
          `HTTP ${status}${where}: the server refused our credentials; check the configured headers, or add "auth": {"type": "oauth2"}`,
          status
        )
  }
  if (status !== undefined)
    return make("transport", `HTTP ${status}${where} (${kind}): ${errorText(error)}`, status)
  if (error instanceof McpError) {
    if (error.code === ErrorCode.RequestTimeout) {
      return make("timeout", `initialize did not answer within ${seconds(timeoutMs)}`)
    }
    if (error.code === ErrorCode.ConnectionClosed) {
      const exit = exitSummary(transport)
      return make("transport", `${exit ?? "the connection closed"} before initialize completed`)
    }
    return make("protocol", `initialize failed: ${error.message}`)
  }
  if (
    Predicate.hasProperty(error, "syscall") &&
    Predicate.isString(error.syscall) &&
    error.syscall.startsWith("spawn")
  ) {
    return make("spawn", `could not start "${server.command ?? ""}": ${errorText(error)}`)
  }
  return make("transport", `${kind}${where}: ${errorText(error)}`)
}

/** Whether an error means the server answered (so the connection is alive). */
const serverAnswered = (error: unknown): boolean =>
  error instanceof McpError &&
  error.code !== ErrorCode.ConnectionClosed &&
  error.code !== ErrorCode.RequestTimeout

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** Closes client and transport within `budgetMs`; then SIGKILLs a stdio group that is still there. Never rejects. */
const closeQuietly = async (client: Client, transport: SdkTransport, budgetMs: number): Promise<void> => {
  const work = (async () => {
    if (transport instanceof StreamableHTTPClientTransport || transport instanceof NegotiatingHttpTransport) {
      // MCP 2025-11-25 "Transports › Session Management": clients SHOULD DELETE a session they leave.
      await Promise.race([transport.terminateSession().catch(() => {}), sleep(Math.min(1000, budgetMs))])
    }
    await client.close().catch(() => {})
    await transport.close().catch(() => {})
  })()
  await Promise.race([work, sleep(budgetMs)])
  if (transport instanceof StdioProcessTransport) transport.kill()
}

interface Opened {
  readonly client: Client
  readonly transport: SdkTransport
  readonly kind: Transport
}

/** Opens one transport kind and initializes; the client is closed with the current scope. */
const openWith = (
  server: ServerConfig,
  kind: Transport,
  options: McpConnectionOptions,
  hooks: { readonly onClose: (lost: ConnectionLost) => void; readonly onError: (error: Error) => void },
  onListChanged: () => void
) =>
  Effect.gen(function* () {
    const fetchFor = (yield* AuthorizedFetch).forServer
    const onElicitation = options.onElicitation
    const client = new Client(options.clientInfo ?? defaultClientInfo, {
      capabilities: onElicitation === undefined ? {} : { elicitation: { form: { applyDefaults: true } } }
    })
    if (onElicitation !== undefined) {
      // With this fiber's services (logger, tracer …); interrupted when the server cancels
      // the request or the connection closes.
      const runElicitation = yield* FiberSet.makeRuntimePromise<never, ElicitResult, never>()
      client.setRequestHandler(ElicitRequestSchema, (request, extra) =>
        runElicitation(onElicitation(request.params), { signal: extra.signal })
      )
    }
    let transport: SdkTransport
    if (kind === "stdio") {
      if (server.command === undefined) {
        return yield* new McpConnectionError({
          server: server.name,
          reason: "spawn",
          message: `server "${server.name}": no command to start`
        })
      }
      const onStderr = options.onStderr
      const onStderrLine = options.onStderrLine
      const groups = options.processGroups ?? (yield* ProcessGroups.make)
      transport = new StdioProcessTransport({
        groups,
        command: server.command,
        args: server.args,
        // A safe base environment plus this server's own variables: nothing else leaks in.
        env: { ...getDefaultEnvironment(), ...server.env },
        ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
        ...(options.termGraceMs === undefined ? {} : { termGraceMs: options.termGraceMs }),
        ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
        ...(onStderr === undefined ? {} : { onStderr: (text: string) => onStderr(server.name, text) }),
        ...(onStderrLine === undefined
          ? {}
          : { onStderrLine: (line: string) => onStderrLine(server.name, line) })
      })
    } else {
      if (server.url === undefined) {
        return yield* new McpConnectionError({
          server: server.name,
          reason: "transport",
          message: `server "${server.name}": no url to connect to`
        })
      }
      const url = new URL(server.url)
      const fetch = fetchFor(server)
      transport =
        kind === "sse"
          ? new SSEClientTransport(url, { fetch })
          : options.negotiateProtocol === true
            ? new NegotiatingHttpTransport({
                url,
                fetch,
                legacy: () => new StreamableHTTPClientTransport(url, { fetch })
              })
            : new StreamableHTTPClientTransport(url, { fetch })
    }
    const opened: Opened = { client, transport, kind }
    const closeBudget = options.closeTimeoutMs ?? 5000
    yield* Effect.addFinalizer(() => Effect.promise(() => closeQuietly(client, transport, closeBudget)))

    client.onclose = () => {
      const exit = exitSummary(transport)
      hooks.onClose({
        message: exit ?? "the connection closed",
        stderr: exit === undefined ? undefined : stderrTail(transport)
      })
    }
    client.onerror = hooks.onError
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => onListChanged())

    const timeoutMs = options.timeoutMs
    // Our timeout covers the whole open (SSE's `start`, waiting for the endpoint event,
    // has none in the SDK) and then closes the transport. The SDK's own timer is set
    // later and no signal is passed, because "the initialize request MUST NOT be
    // cancelled by clients" (MCP 2025-11-25 "Utilities › Cancellation").
    yield* Effect.tryPromise({
      try: () => client.connect(transport, { timeout: timeoutMs + 5000 }),
      catch: (error) => classifyOpenError(server, kind, transport, timeoutMs, error)
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.fail(
            new McpConnectionError({
              server: server.name,
              reason: "timeout",
              message: `server "${server.name}": initialize did not answer within ${seconds(timeoutMs)}`
            })
          )
      })
    )
    return opened
  })

/**
 * MCP 2025-11-25 "Transports › Backwards Compatibility": a POST that fails with a 4xx
 * means an old HTTP+SSE server; 401/403 are authorization, not a protocol mismatch.
 */
const fallsBackToSse = (error: McpConnectionError): boolean =>
  error.status !== undefined &&
  error.status >= 400 &&
  error.status < 500 &&
  error.status !== 401 &&
  error.status !== 403

const open = (
  server: ServerConfig,
  options: McpConnectionOptions,
  hooks: { readonly onClose: (lost: ConnectionLost) => void; readonly onError: (error: Error) => void },
  onListChanged: () => void
) =>
  Effect.gen(function* () {
    const setting = server.transport
    if (setting !== "auto") return yield* openWith(server, setting, options, hooks, onListChanged)
    const scope = yield* Effect.scope
    const attemptScope = yield* Scope.fork(scope, "sequential")
    const first = yield* openWith(server, "streamable-http", options, hooks, onListChanged).pipe(
      Scope.provide(attemptScope),
      Effect.exit
    )
    if (Exit.isSuccess(first)) return first.value
    yield* Scope.close(attemptScope, first)
    const error = Exit.findErrorOption(first)
    if (error._tag === "None" || !fallsBackToSse(error.value)) return yield* first
    return yield* openWith(server, "sse", options, hooks, onListChanged).pipe(
      Effect.mapError(
        (sseError) =>
          new McpConnectionError({
            ...sseError,
            message: `${sseError.message} (after streamable HTTP answered HTTP ${error.value.status})`
          })
      )
    )
  })

const listAllTools = (client: Client, server: string, timeoutMs: number) =>
  Effect.gen(function* () {
    const tools: Array<Tool> = []
    const names = new Set<string>()
    const cursors = new Set<string>()
    let cursor: string | undefined
    for (;;) {
      const params = cursor === undefined ? {} : { cursor }
      const page = yield* Effect.tryPromise({
        try: (signal) =>
          client.request({ method: "tools/list", params }, ListToolsResultSchema, {
            signal,
            timeout: timeoutMs
          }),
        catch: (error) =>
          new ToolCallError({
            server,
            tool: "tools/list",
            reason:
              error instanceof McpError && error.code === ErrorCode.RequestTimeout
                ? "timeout"
                : error instanceof McpError && error.code === ErrorCode.ConnectionClosed
                  ? "disconnected"
                  : "transport",
            message: `server "${server}": tools/list failed: ${errorText(error)}`
          })
      })
      for (const tool of page.tools) {
        // A name listed twice would make routing ambiguous: the first one wins.
        if (!names.has(tool.name)) {
          names.add(tool.name)
          tools.push(tool)
        }
      }
      cursor = page.nextCursor
      if (cursor === undefined || cursor === "") return tools
      if (cursors.has(cursor)) {
        return yield* new ToolCallError({
          server,
          tool: "tools/list",
          reason: "transport",
          message: `server "${server}": tools/list returned the cursor "${cursor.slice(0, 40)}" twice`
        })
      }
      cursors.add(cursor)
    }
  })

const openConnection = Effect.fnUntraced(function* (server: ServerConfig, options: McpConnectionOptions) {
  const name = server.name
  const lost = yield* Deferred.make<ConnectionLost>()
  const listChanged = yield* Queue.sliding<void>(1)
  const healthCheck = yield* Queue.sliding<void>(1)
  const markLost = (reason: ConnectionLost) => {
    Deferred.doneUnsafe(lost, Exit.succeed(reason))
  }
  const opened = yield* open(
    server,
    options,
    {
      onClose: markLost,
      // Errors on HTTP transports may mean the server is gone (or just a dropped SSE
      // stream the SDK will reopen): a ping decides. stdio reports its end through `onclose`.
      onError: () => {
        Queue.offerUnsafe(healthCheck, undefined)
      }
    },
    () => {
      Queue.offerUnsafe(listChanged, undefined)
    }
  )
  const { client, transport, kind } = opened
  const timeoutMs = options.timeoutMs

  const hasTools = client.getServerCapabilities()?.tools !== undefined
  const initialTools = hasTools
    ? yield* listAllTools(client, name, timeoutMs).pipe(
        Effect.mapError(
          (error) =>
            new McpConnectionError({
              server: name,
              reason: error.reason === "timeout" ? "timeout" : "protocol",
              message: error.message
            })
        )
      )
    : []
  const tools = yield* SubscriptionRef.make<ReadonlyArray<Tool>>(initialTools)

  const refreshTools = listAllTools(client, name, timeoutMs).pipe(
    Effect.tap((list) => SubscriptionRef.set(tools, list)),
    Effect.tapError(() => Effect.sync(() => Queue.offerUnsafe(healthCheck, undefined)))
  )

  // notifications/tools/list_changed → list again; a burst of notifications makes one listing.
  yield* Effect.forkScoped(
    Effect.forever(
      Queue.take(listChanged).pipe(
        Effect.andThen(refreshTools),
        Effect.catch((error) => Effect.logWarning(`list_changed: ${error.message}`))
      )
    )
  )

  if (kind !== "stdio") {
    const interval = options.healthCheckIntervalMs ?? 30_000
    const pingTimeout = Math.min(timeoutMs, 10_000)
    const ping = Effect.tryPromise({
      try: (signal) => client.ping({ signal, timeout: pingTimeout }),
      catch: (error) => error
    }).pipe(
      Effect.catch((error) =>
        serverAnswered(error)
          ? Effect.void
          : Effect.sync(() => markLost({ message: `the server stopped answering: ${errorText(error)}` }))
      )
    )
    const trigger =
      interval > 0
        ? Effect.raceFirst(Queue.take(healthCheck), Effect.sleep(interval))
        : Queue.take(healthCheck)
    yield* Effect.forkScoped(Effect.forever(trigger.pipe(Effect.andThen(ping))))
  }

  const callTool = (tool: string, args: Readonly<Record<string, unknown>>, callOptions?: CallOptions) => {
    const ms = callOptions?.timeoutMs ?? timeoutMs
    const fail = (reason: ToolCallError["reason"], message: string) =>
      new ToolCallError({
        server: name,
        tool,
        reason,
        message: `server "${name}", tool "${tool}": ${message}`
      })
    return Effect.tryPromise({
      // The signal aborts when the caller is interrupted, and the SDK then sends
      // notifications/cancelled (MCP 2025-11-25 "Utilities › Cancellation"), as on its own timeout.
      try: (signal): Promise<CallToolResult> =>
        client.request(
          { method: "tools/call", params: { name: tool, arguments: { ...args } } },
          CallToolResultSchema,
          {
            signal,
            timeout: ms
          } satisfies RequestOptions
        ),
      catch: (error) => error
    }).pipe(
      // No Effect timeout on top: the SDK's `timeout` fails the request with RequestTimeout and
      // cancels it at the server; a second timer per call measurably slowed every call (bench/).
      Effect.catch((error): Effect.Effect<CallToolResult, ToolCallError> => {
        if (error instanceof McpError) {
          if (error.code === ErrorCode.RequestTimeout) {
            return Effect.fail(fail("timeout", `no answer within ${seconds(ms)}; the request was cancelled`))
          }
          if (error.code === ErrorCode.ConnectionClosed) {
            const exit = exitSummary(transport)
            return Effect.fail(
              fail(
                "disconnected",
                `the connection closed during the call${exit === undefined ? "" : ` (${exit})`}`
              )
            )
          }
          // A JSON-RPC error from the server (unknown tool, invalid arguments …) is the
          // tool's failure: the model sees it and can correct itself.
          return Effect.succeed({ content: [{ type: "text", text: error.message }], isError: true })
        }
        Queue.offerUnsafe(healthCheck, undefined)
        const status = httpStatusOf(error)
        if ((status === 401 || status === 403) && server.auth !== undefined) {
          return Effect.fail(
            fail("needs_auth", `HTTP ${status}: authorization needed; run \`mcpgate login ${name}\``)
          )
        }
        if (Predicate.isTagged(error, "AuthorizationRequired")) {
          return Effect.fail(fail("needs_auth", errorText(error)))
        }
        const closed = Deferred.isDoneUnsafe(lost)
        return Effect.fail(fail(closed ? "disconnected" : "transport", errorText(error)))
      })
    )
  }

  const connection: McpConnection = {
    name,
    transport: kind,
    serverInfo: client.getServerVersion(),
    instructions: client.getInstructions(),
    pid: transport instanceof StdioProcessTransport ? transport.pid : undefined,
    tools,
    refreshTools,
    listTools: SubscriptionRef.get(tools),
    callTool,
    closed: Deferred.await(lost)
  }
  return connection
})

/**
 * Opens a connection to `server` in the current scope (see the module comment).
 * Fails with `McpConnectionError` when the server cannot be reached, initialized or
 * listed; whatever was started by then (a process, a session) is closed at once,
 * not when the caller's scope ends.
 */
export const make = Effect.fn("McpConnection.make")(function* (
  server: ServerConfig,
  options: McpConnectionOptions
) {
  const connectionScope = yield* Scope.fork(yield* Effect.scope, "sequential")
  return yield* openConnection(server, options).pipe(
    Scope.provide(connectionScope),
    Effect.onExit((exit) => (Exit.isFailure(exit) ? Scope.close(connectionScope, exit) : Effect.void))
  )
})
