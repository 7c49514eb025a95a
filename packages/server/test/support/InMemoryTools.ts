/**
 * A `ModelTools` over plain async functions: the seam the tool loop is built
 * against, filled the simplest real way. It records what ran, what finished
 * and what was interrupted (its `AbortSignal` fired).
 */
import { Effect, Layer } from "effect"
import {
  ModelTools,
  ToolCallFailed,
  ToolNeedsLogin,
  ToolNotFound,
  type ToolOutcome
} from "../../src/openai/ModelTools.ts"

export interface InMemoryTool {
  readonly description?: string
  readonly parameters?: Record<string, unknown>
  readonly annotations?: Record<string, unknown>
  /** The configured server name when the tool's server needs a login. */
  readonly needsLogin?: string
  readonly run?: (args: unknown, signal: AbortSignal) => Promise<ToolOutcome> | ToolOutcome
}

export interface InMemoryTools {
  readonly layer: Layer.Layer<ModelTools>
  /** `name` of every call that started, in order, with its arguments. */
  readonly calls: Array<{ readonly name: string; readonly args: unknown }>
  readonly completed: Array<string>
  readonly interrupted: Array<string>
  /** Resolves when a call of `name` has started. */
  readonly started: (name: string) => Promise<void>
  /** Resolves when a call of `name` was interrupted. */
  readonly whenInterrupted: (name: string) => Promise<void>
}

const objectSchema = { type: "object", properties: {} }

const serverOf = (name: string) => (name.includes("__") ? name.slice(0, name.indexOf("__")) : "builtin")

/** `servers`: configured servers beyond those the tools name (e.g. one without tools). */
export const make = (tools: Record<string, InMemoryTool>, servers?: ReadonlyArray<string>): InMemoryTools => {
  const calls: Array<{ name: string; args: unknown }> = []
  const completed: Array<string> = []
  const interrupted: Array<string> = []
  const waiters: Array<{ kind: "started" | "interrupted"; name: string; resolve: () => void }> = []
  const notify = (kind: "started" | "interrupted", name: string) => {
    for (const waiter of waiters.filter((w) => w.kind === kind && w.name === name)) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  }
  const waitFor = (kind: "started" | "interrupted", name: string) =>
    new Promise<void>((resolve) => {
      const seen = kind === "started" ? calls.some((call) => call.name === name) : interrupted.includes(name)
      if (seen) resolve()
      else waiters.push({ kind, name, resolve })
    })

  const executor = ModelTools.of({
    // A name `<server>__<tool>` is that server's tool, as the manager names them.
    tools: Effect.sync(() =>
      Object.entries(tools).map(([name, tool]) => ({
        name,
        server: serverOf(name),
        tool: name.includes("__") ? name.slice(name.indexOf("__") + 2) : name,
        description: tool.description,
        parameters: tool.parameters ?? objectSchema,
        annotations: tool.annotations
      }))
    ),
    servers: Effect.sync(() => [
      ...new Set([...Object.keys(tools).map(serverOf), ...(servers ?? []), "builtin"])
    ]),
    call: (name, args) => {
      const tool = tools[name]
      if (tool === undefined) return Effect.fail(new ToolNotFound({ name, message: `no tool ${name}` }))
      if (tool.needsLogin !== undefined) {
        return Effect.fail(
          new ToolNeedsLogin({ name, server: tool.needsLogin, message: `${tool.needsLogin} needs a login` })
        )
      }
      const run = tool.run ?? (() => ({ text: `${name} ran`, isError: false }))
      return Effect.tryPromise({
        try: async (signal) => {
          signal.addEventListener("abort", () => {
            interrupted.push(name)
            notify("interrupted", name)
          })
          calls.push({ name, args })
          notify("started", name)
          const outcome = await run(args, signal)
          completed.push(name)
          return outcome
        },
        catch: (error) => new ToolCallFailed({ name, message: String(error) })
      })
    }
  })

  return {
    layer: Layer.succeed(ModelTools, executor),
    calls,
    completed,
    interrupted,
    started: (name) => waitFor("started", name),
    whenInterrupted: (name) => waitFor("interrupted", name)
  }
}

/** A tool that answers only when aborted (and then fails): for interruption tests. */
export const never: NonNullable<InMemoryTool["run"]> = (_args, signal) =>
  new Promise<ToolOutcome>((_resolve, reject) => {
    signal.addEventListener("abort", () => reject(new Error("aborted")))
  })
