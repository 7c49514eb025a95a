/**
 * A real, private Secret Service for keychain tests: a session `dbus-daemon` on
 * a socket in a temp directory and `gnome-keyring-daemon --unlock` on it, with
 * HOME and the XDG directories in that temp directory (a fresh `login`
 * collection, created from the password on stdin). The bus config has no
 * service directories, so nothing is auto-activated behind our back: a call
 * before the keyring is up fails fast and is retried.
 *
 * `layer` sets `process.env.DBUS_SESSION_BUS_ADDRESS` (read by
 * `@napi-rs/keyring` on each call) for the test process, waits until a
 * write/read/delete works, and on release restores the variable, stops both
 * daemons and removes the directory. If a daemon is missing or does not come
 * up, it fails with a message saying what is missing: keychain tests never skip.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Data, Effect, Layer, Result, type Scope } from "effect"
import * as Keychain from "../../src/internal/Keychain.ts"

export class SecretServiceError extends Data.TaggedError("SecretServiceError")<{
  readonly message: string
}> {}

export interface SecretService {
  readonly address: string
  readonly directory: string
}

const busConfig = (
  socket: string
) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- A session bus's limits (session.conf): @napi-rs/keyring holds one connection per
       entry object until it is garbage collected, and a test makes hundreds of calls. -->
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

const missing = (program: string, apt: string) =>
  new SecretServiceError({
    message: `${program} is not installed; the keychain tests need a real Secret Service (apt-get install ${apt})`
  })

/** Spawns and resolves once the process has started (or fails with ENOENT → "not installed"). */
const spawnDaemon = (
  program: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv,
  apt: string
): Effect.Effect<{ child: ChildProcess; output: () => string }, SecretServiceError> =>
  Effect.callback<{ child: ChildProcess; output: () => string }, SecretServiceError>((resume) => {
    const child = spawn(program, args, { env, stdio: ["pipe", "pipe", "pipe"] })
    let output = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.once("error", (error: NodeJS.ErrnoException) => {
      resume(
        Effect.fail(
          error.code === "ENOENT"
            ? missing(program, apt)
            : new SecretServiceError({ message: `could not start ${program}: ${error.message}` })
        )
      )
    })
    child.once("spawn", () => resume(Effect.succeed({ child, output: () => output })))
  })

const stop = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
    child.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

/** Starts both daemons for the current scope. */
export const start: Effect.Effect<SecretService, SecretServiceError, Scope.Scope> = Effect.gen(function* () {
  const directory = yield* Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-secret-service-"))),
    (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
  )
  const home = path.join(directory, "home")
  const runtime = path.join(directory, "run")
  yield* Effect.promise(async () => {
    await fs.mkdir(path.join(home, ".local", "share"), { recursive: true })
    await fs.mkdir(runtime, { mode: 0o700 })
  })
  const socket = path.join(directory, "bus")
  const config = path.join(directory, "bus.conf")
  yield* Effect.promise(() => fs.writeFile(config, busConfig(socket)))
  const address = `unix:path=${socket}`
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_RUNTIME_DIR: runtime,
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_CONFIG_HOME: path.join(home, ".config"),
    DBUS_SESSION_BUS_ADDRESS: address
  }

  const bus = yield* Effect.acquireRelease(
    spawnDaemon(
      "dbus-daemon",
      ["--nofork", `--config-file=${config}`, "--print-address=1"],
      env,
      "dbus-daemon"
    ),
    ({ child }) => stop(child)
  )
  // --print-address writes the address once the socket listens.
  yield* Effect.gen(function* () {
    while (!bus.output().includes("unix:")) {
      if (exited(bus.child)) {
        return yield* new SecretServiceError({
          message: `dbus-daemon exited at start: ${bus.output().trim()}`
        })
      }
      yield* Effect.sleep("20 millis")
    }
  }).pipe(
    Effect.timeoutOrElse({
      duration: "10 seconds",
      orElse: () => Effect.fail(new SecretServiceError({ message: "dbus-daemon did not listen within 10 s" }))
    })
  )

  const keyring = yield* Effect.acquireRelease(
    spawnDaemon(
      "gnome-keyring-daemon",
      ["--foreground", "--unlock", "--components=secrets"],
      env,
      "gnome-keyring"
    ),
    ({ child }) => stop(child)
  )
  // --unlock reads the login password from stdin until EOF; it creates the
  // `login` collection with it when there is none yet.
  keyring.child.stdin?.end("pw")

  const previous = process.env.DBUS_SESSION_BUS_ADDRESS
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      process.env.DBUS_SESSION_BUS_ADDRESS = address
    }),
    () =>
      Effect.sync(() => {
        if (previous === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS
        else process.env.DBUS_SESSION_BUS_ADDRESS = previous
      })
  )

  // Ready when a real write/read/delete through the library works.
  let lastError = "no attempt"
  const ready = yield* Effect.gen(function* () {
    for (;;) {
      if (exited(keyring.child)) return false
      const probe = yield* Effect.result(Keychain.probe("mcpgate-test-readiness", "2 seconds"))
      if (Result.isSuccess(probe)) return true
      lastError = probe.failure.message
      yield* Effect.sleep("50 millis")
    }
  }).pipe(Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.succeed(false) }))
  if (!ready) {
    return yield* new SecretServiceError({
      message: `gnome-keyring-daemon did not provide a usable Secret Service within 15 s (last error: ${lastError}; daemon output: ${keyring.output().trim() || "none"}${exited(keyring.child) ? "; it exited" : ""})`
    })
  }
  return { address, directory }
})

/** For `it.layer`: the Secret Service lives as long as the layer. */
export const layer: Layer.Layer<never, SecretServiceError> = Layer.effectDiscard(start)
