/**
 * Runs `storeWorker.ts` in a child process (`process.execPath`, which strips
 * the TypeScript types) and lets a test wait for its output lines, write to its
 * stdin and kill it. The child is killed when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { Data, Deferred, Duration, Effect, type Scope } from "effect"

export class WorkerError extends Data.TaggedError("WorkerError")<{ readonly message: string }> {}

export interface Worker {
  readonly pid: number
  /** The first output line (from now or earlier) matching `test`. */
  readonly waitFor: (
    test: (line: string) => boolean,
    timeout?: Duration.Input
  ) => Effect.Effect<string, WorkerError>
  readonly send: (line: string) => Effect.Effect<void>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exit: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly stderr: () => string
}

const script = path.join(import.meta.dirname, "storeWorker.ts")

export const spawnWorker = (
  command: string,
  args: object,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<Worker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const exit = yield* Deferred.make<{
      readonly code: number | null
      readonly signal: NodeJS.Signals | null
    }>()
    const child: ChildProcess = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [script, command, JSON.stringify(args)], { env, stdio: "pipe" })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    const lines: Array<string> = []
    const waiters = new Set<() => void>()
    let stderr = ""
    let partial = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      partial += chunk.toString("utf8")
      const parts = partial.split("\n")
      partial = parts.pop() ?? ""
      lines.push(...parts)
      for (const wake of waiters) wake()
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.once("exit", (code, signal) => {
      Deferred.doneUnsafe(exit, Effect.succeed({ code, signal }))
      for (const wake of waiters) wake()
    })

    const waitFor = (test: (line: string) => boolean, timeout: Duration.Input = "20 seconds") =>
      Effect.callback<string, WorkerError>((resume) => {
        const check = () => {
          const found = lines.find(test)
          if (found !== undefined) {
            waiters.delete(check)
            resume(Effect.succeed(found))
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check)
            resume(
              Effect.fail(
                new WorkerError({
                  message: `worker ${command} exited (${child.exitCode ?? child.signalCode}): ${stderr}`
                })
              )
            )
          }
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new WorkerError({
                message: `worker ${command} printed no matching line within ${Duration.format(Duration.fromInputUnsafe(timeout))}; stdout: ${lines.join(" | ")}; stderr: ${stderr}`
              })
            )
        })
      )

    return {
      pid: child.pid ?? -1,
      waitFor,
      send: (line) =>
        Effect.sync(() => {
          child.stdin?.write(`${line}\n`)
        }),
      kill: (signal) =>
        Effect.sync(() => {
          child.kill(signal)
        }),
      exit: Deferred.await(exit),
      stderr: () => stderr
    } satisfies Worker
  })
