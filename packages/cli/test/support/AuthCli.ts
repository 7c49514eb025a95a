/**
 * For the CLI's OAuth tests: the shared real authorization server
 * (oidc-provider) in front of its protected MCP server, both in the test
 * process on 127.0.0.1, and the `mcpgate` binary run as a child process whose
 * output can be watched while it runs (a device code to approve, a URL to
 * paste back). Every output of every run is kept, so a suite can prove that no
 * issued token was ever printed.
 */
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import { browserScriptPath } from "@mcpgate/testing/Harness"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import { Deferred, Effect, type Scope } from "effect"
import { binary } from "./Cli.ts"

export { allIssuedTokens } from "@mcpgate/testing/AuthServer"
export { approveDevice } from "@mcpgate/testing/DeviceUser"
/** The redirect a user would copy from the browser's address bar (without requesting it). */
export { redirectFor } from "@mcpgate/testing/Harness"
/**
 * A loopback port free right now, for `--callback-port`: the default one (a hash
 * of the server's name and URL) can be held by any socket of the tests running
 * beside these.
 */
export { freePort } from "@mcpgate/testing/Loopback"

/** A `$BROWSER` that follows the authorization server's redirects back to the CLI's loopback callback. */
export const browserCommand = `"${process.execPath}" "${browserScriptPath}"`

export interface Servers {
  readonly as: AuthServer.AuthServer
  readonly mcp: ProtectedMcpServer.ProtectedMcpServer
}

/** The authorization server and the MCP server it protects. */
export const startServers: Effect.Effect<Servers, never, Scope.Scope> = Effect.gen(function* () {
  let resource = ""
  const as = yield* AuthServer.start({ resource: () => resource })
  const mcp = yield* ProtectedMcpServer.start({ issuer: () => as.issuer })
  resource = mcp.url
  return { as, mcp }
})

/** `mcpgate.json` in `home` with one OAuth server `notes` (and no builtins, to keep the output small). */
export const writeConfig = (home: string, url: string) =>
  writeFileSync(
    join(home, "mcpgate.json"),
    JSON.stringify({
      mcpServers: { notes: { url, auth: { type: "oauth2" } } },
      builtins: { fetch: { enabled: false }, webSearch: { enabled: false } }
    })
  )

/** Everything any CLI run of this process printed (for the leak checks). */
export const allOutput: Array<string> = []

export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly env: Record<string, string>
  readonly cwd?: string
  /**
   * Called with the output so far whenever more arrives; a `string` it returns
   * is written to the process's stdin (once per distinct value).
   */
  readonly interact?: (output: string) => Effect.Effect<string | undefined>
  readonly timeoutMillis?: number
}

/** Runs `mcpgate <args>` to its end; kills it when the scope closes first. */
export const mcpgate = (args: ReadonlyArray<string>, options: RunOptions): Effect.Effect<CliRun> =>
  Effect.gen(function* () {
    const child = spawn(process.execPath, [binary, ...args], {
      env: options.env,
      cwd: options.cwd ?? options.env.HOME,
      stdio: ["pipe", "pipe", "pipe"]
    })
    // The CLI stops reading stdin once it has what it asked for: a late write is not an error.
    child.stdin.on("error", () => {})
    const done = yield* Deferred.make<CliRun>()
    let stdout = ""
    let stderr = ""
    const written = new Set<string>()
    const onOutput = () => {
      const interact = options.interact
      if (interact === undefined) return
      Effect.runFork(
        Effect.flatMap(interact(stdout + stderr), (input) =>
          Effect.sync(() => {
            if (input === undefined || written.has(input) || !child.stdin.writable) return
            written.add(input)
            child.stdin.write(`${input}\n`)
          })
        )
      )
    }
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      onOutput()
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
      onOutput()
    })
    child.once("close", (code, signal) => {
      allOutput.push(stdout, stderr)
      Deferred.doneUnsafe(done, Effect.succeed({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }))
    })
    return yield* Deferred.await(done).pipe(
      Effect.timeoutOrElse({
        duration: options.timeoutMillis ?? 25_000,
        orElse: () => Effect.die(new Error(`mcpgate ${args.join(" ")} did not end:\n${stdout}\n${stderr}`))
      }),
      Effect.onInterrupt(() => Effect.sync(() => child.kill("SIGKILL"))),
      Effect.ensuring(Effect.sync(() => child.kill("SIGKILL")))
    )
  })
