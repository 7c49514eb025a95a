/**
 * A private PostgreSQL server (Debian's `postgresql`) for tests, the soak run
 * and the benchmarks: `initdb` into a temporary directory, `pg_ctl start` on a
 * free 127.0.0.1 port (no Unix socket outside that directory), stopped and
 * removed when the scope ends.
 *
 * PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` user (`runuser -u postgres --`) with a data directory it owns;
 * as anyone else it runs as the current user. `restart` and `stop`/`start`
 * are there for outage tests (the data survives them).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { Effect, type Scope } from "effect"
import { freePort } from "./Loopback.ts"

const run = promisify(execFile)

/** The directory of the server programs (`initdb`, `pg_ctl`, `pg_dump`): PATH, else Debian's newest. */
export const binDirectory: Effect.Effect<string> = Effect.promise(async () => {
  const fromPath = await run("sh", ["-c", "command -v pg_ctl"]).catch(() => undefined)
  const debianRoot = "/usr/lib/postgresql"
  const versions = await fs.readdir(debianRoot).catch(() => [] as Array<string>)
  const newest = versions
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((name) => path.join(debianRoot, name, "bin"))[0]
  if (newest !== undefined) return newest
  if (fromPath !== undefined && fromPath.stdout.trim() !== "") return path.dirname(fromPath.stdout.trim())
  throw new Error("PostgreSQL is not installed (Debian: apt-get install postgresql)")
})

export interface PostgresServer {
  /** `postgres://mcpgate:<password>@127.0.0.1:<port>/mcpgate` */
  readonly url: string
  readonly port: number
  readonly dataDirectory: string
  /** Runs a program of the server's bin directory (`pg_dump`, `psql` …) as the server's user; resolves stdout. */
  readonly tool: (program: string, args: ReadonlyArray<string>) => Effect.Effect<string>
  /** `pg_ctl stop -m fast`: every connection is closed. */
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
  /** `pg_ctl restart -m fast`. */
  readonly restart: Effect.Effect<void>
}

const asRoot = process.getuid?.() === 0

/** Runs `program` as the server's user (`postgres` when we are root). */
const runAs = (program: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  asRoot
    ? run(
        "runuser",
        [
          "-u",
          "postgres",
          "--",
          "env",
          ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
          program,
          ...args
        ],
        {
          maxBuffer: 64 * 1024 * 1024
        }
      )
    : run(program, [...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })

/** Starts a fresh server with a database `mcpgate` owned by the user `mcpgate`; removed when the scope ends. */
export const start = (
  options: { readonly password?: string | undefined } = {}
): Effect.Effect<PostgresServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const bin = yield* binDirectory
    const password = options.password ?? `pw-${Math.random().toString(36).slice(2)}`
    const port = yield* freePort
    const root = yield* Effect.acquireRelease(
      Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-pg-"))),
      (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
    )
    const dataDirectory = path.join(root, "data")
    const socketDirectory = path.join(root, "socket")
    const passwordFile = path.join(root, "password")
    yield* Effect.promise(async () => {
      await fs.mkdir(socketDirectory)
      await fs.writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
      if (asRoot) {
        await fs.chmod(root, 0o755)
        await run("chown", ["-R", "postgres:postgres", root])
      }
    })
    const pgCtl = path.join(bin, "pg_ctl")
    const startServer = Effect.promise(() =>
      runAs(pgCtl, [
        "start",
        "-w",
        "-t",
        "60",
        "-D",
        dataDirectory,
        "-l",
        path.join(root, "server.log"),
        "-o",
        `-p ${port} -k ${socketDirectory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`
      ])
    ).pipe(Effect.asVoid)
    const stopServer = Effect.promise(() =>
      runAs(pgCtl, ["stop", "-w", "-t", "60", "-m", "fast", "-D", dataDirectory]).catch(() => undefined)
    ).pipe(Effect.asVoid)
    yield* Effect.promise(() =>
      runAs(path.join(bin, "initdb"), [
        "-D",
        dataDirectory,
        "-U",
        "mcpgate",
        "--pwfile",
        passwordFile,
        "-A",
        "scram-sha-256",
        "-E",
        "UTF8",
        "--no-instructions"
      ])
    )
    yield* Effect.acquireRelease(startServer, () => stopServer)
    yield* Effect.promise(() =>
      runAs(path.join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "mcpgate", "mcpgate"], {
        PGPASSWORD: password
      })
    )
    const tool = (program: string, args: ReadonlyArray<string>) =>
      Effect.promise(() => runAs(path.join(bin, program), args, { PGPASSWORD: password })).pipe(
        Effect.map((result) => result.stdout)
      )
    return {
      url: `postgres://mcpgate:${password}@127.0.0.1:${port}/mcpgate`,
      port,
      dataDirectory,
      tool,
      stop: stopServer,
      start: startServer,
      restart: Effect.andThen(stopServer, startServer)
    } satisfies PostgresServer
  })

/** `pg_dump` of the whole database as SQL text (data included). */
export const dump = (server: PostgresServer): Effect.Effect<string> =>
  server.tool("pg_dump", ["-h", "127.0.0.1", "-p", String(server.port), "-U", "mcpgate", "mcpgate"])

/** A fresh empty database on the server, for tests that each want their own (`CREATE DATABASE`); its URL. */
export const createDatabase = (server: PostgresServer, name: string): Effect.Effect<string> =>
  Effect.as(
    server.tool("createdb", ["-h", "127.0.0.1", "-p", String(server.port), "-U", "mcpgate", name]),
    server.url.replace(/\/mcpgate$/, `/${name}`)
  )
