/**
 * `mcpgate tools [server] [--json]` and `mcpgate call <tool> [--args JSON] [--json]`
 * (docs/cli.md#tools, docs/cli.md#call).
 */
import { ToolCallError } from "@mcpgate/transport/Errors"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { InvalidArguments, ToolReportedError, UnknownServer } from "../Errors.ts"
import { managerLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print machine-readable JSON"),
  Flag.withDefault(false)
)

export const summary = (text: string | undefined) => {
  const line = (text ?? "").split("\n")[0]?.trim() ?? ""
  return line.length > 90 ? `${line.slice(0, 89)}…` : line
}

/** The client manager, its code loaded on demand (other commands start without it). */
export const managerService = Effect.gen(function* () {
  const { McpClientManager } = yield* Effect.promise(() => import("@mcpgate/transport/McpClientManager"))
  return yield* McpClientManager
})

/** Servers that did not connect, as warnings on stderr (the listing still shows the others). */
export const warnUnavailable = Effect.gen(function* () {
  const manager = yield* managerService
  const statuses = yield* manager.awaitSettled
  for (const status of statuses) {
    if (status.state === "connected" || status.state === "disabled") continue
    yield* Output.errorLine(
      `${Output.yellow("warning")} ${status.name}: ${status.state}${status.lastError === undefined ? "" : ` (${status.lastError})`}${status.stderr === undefined ? "" : `; stderr: ${status.stderr}`}`
    )
  }
  return statuses
})

export const tools = Command.make(
  "tools",
  {
    server: Argument.String("server").pipe(
      Argument.withDescription("Only this server's tools"),
      Argument.optional
    ),
    json
  },
  Effect.fn(function* ({ server, json }) {
    const manager = yield* managerService
    const statuses = yield* warnUnavailable
    if (Option.isSome(server) && !statuses.some((status) => status.name === server.value)) {
      return yield* new UnknownServer({
        server: server.value,
        message: `no server named ${server.value} in the config`
      })
    }
    const all = yield* manager.tools
    const listed = Option.isSome(server) ? all.filter((tool) => tool.server === server.value) : all
    if (json) {
      return yield* Output.json(
        listed.map(({ publicName, server, tool }) => ({
          name: publicName,
          server,
          tool: tool.name,
          description: tool.description,
          inputSchema: tool.inputSchema
        }))
      )
    }
    if (listed.length === 0) return yield* Output.line("no tools available")
    yield* Output.line(
      Output.table([
        ["TOOL", "SERVER", "DESCRIPTION"].map(Output.dim),
        ...listed.map(({ publicName, server, tool }) => [
          Output.bold(publicName),
          server,
          summary(tool.description)
        ])
      ])
    )
  }, Effect.provide(managerLayer))
).pipe(Command.withDescription("List the tools of every connected server (names as models see them)"))

const parseArguments = (text: string) =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: () => new InvalidArguments({ message: `--args is not valid JSON: ${text}` })
  }).pipe(
    Effect.filterOrFail(
      (value): value is Record<string, unknown> =>
        typeof value === "object" && value !== null && !Array.isArray(value),
      () => new InvalidArguments({ message: '--args must be a JSON object, e.g. \'{"message":"hi"}\'' })
    )
  )

export const call = Command.make(
  "call",
  {
    tool: Argument.String("tool").pipe(
      Argument.withDescription("The tool's public name, e.g. everything__echo")
    ),
    args: Flag.String("args").pipe(
      Flag.withDescription("Arguments as a JSON object"),
      Flag.withDefault("{}")
    ),
    json
  },
  Effect.fn(function* ({ tool, args, json }) {
    const parsed = yield* parseArguments(args)
    const manager = yield* managerService
    const statuses = yield* warnUnavailable
    const result = yield* manager.call(tool, parsed).pipe(
      Effect.catchIf(
        (error) => error.reason === "unknown_tool",
        (error) => {
          // A server that never got past its 401 has not listed its tools: the tool may be one of them.
          const locked = statuses
            .filter((status) => status.state === "needs_auth")
            .map((status) => status.name)
          return Effect.fail(
            locked.length === 0
              ? error
              : new ToolCallError({
                  server: locked.join(", "),
                  tool,
                  reason: "needs_auth",
                  message: `unknown tool ${tool}; the tools of ${locked.join(", ")} are unknown until you sign in: run ${locked.map((name) => `\`mcpgate login ${name}\``).join(", ")}`
                })
          )
        }
      )
    )
    if (json) {
      yield* Output.json(result.raw)
    } else {
      yield* (result.isError ? Output.errorLine : Output.line)(result.text)
    }
    if (result.isError) {
      return yield* new ToolReportedError({ message: `${tool} reported an error` })
    }
  }, Effect.provide(managerLayer))
).pipe(Command.withDescription("Call one tool and print its result (exit 1 when the tool reports an error)"))
