/**
 * `mcpgate status [--json]`: every configured server with its transport and stored
 * credential metadata (docs/cli.md#status). Never prints a secret.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import * as Credential from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import type * as ConnectionState from "@mcpgate/transport/ConnectionState"
import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { configFileLayer, credentialStoreLayer, managerLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

export type AuthState = "not required" | "authenticated" | "expired, refreshable" | "expired" | "needs login"

export interface ServerStatus {
  readonly name: string
  readonly transport: string
  readonly enabled: boolean
  readonly target: string
  readonly auth: AuthState
  readonly credential?: Credential.CredentialMetadata
  /** The live connection, unless `--offline`. */
  readonly connection?: Connection
}

export interface Connection {
  readonly state: ConnectionState.ServerState
  readonly toolCount: number
  readonly lastError?: string
  /** stdio: what the server last wrote to stderr when it failed (this is the host's own user). */
  readonly stderr?: string
}

/** Connects every enabled server at once and reports how each first attempt ended. */
const liveStates = Effect.gen(function* () {
  // Loaded on demand: `--offline` starts without the MCP client code.
  const { McpClientManager } = yield* Effect.promise(() => import("@mcpgate/transport/McpClientManager"))
  const manager = yield* McpClientManager
  const statuses = yield* manager.awaitSettled
  return new Map(
    statuses.map((status): [string, Connection] => [
      status.name,
      {
        state: status.state,
        toolCount: status.toolCount,
        ...(status.lastError === undefined ? {} : { lastError: status.lastError }),
        ...(status.stderr === undefined ? {} : { stderr: status.stderr })
      }
    ])
  )
}).pipe(Effect.provide(managerLayer))

const targetOf = (server: ServerConfig): string =>
  server.url ?? [server.command ?? "", ...server.args].join(" ").trim()

const authStateOf = (
  server: ServerConfig,
  credential: Option.Option<Credential.Credential>,
  now: number
): AuthState => {
  if (server.auth === undefined) return "not required"
  if (Option.isNone(credential) || credential.value.tokens === undefined) return "needs login"
  const tokens = credential.value.tokens
  if (tokens.expiresAt === undefined || tokens.expiresAt > now) return "authenticated"
  return tokens.refreshToken === undefined ? "expired" : "expired, refreshable"
}

const describeAuth = (status: ServerStatus, now: number): string => {
  const expiresAt = status.credential?.expiresAt
  switch (status.auth) {
    case "not required":
      return Output.dim("not required")
    case "authenticated":
      return Output.green(
        expiresAt === undefined
          ? "authenticated"
          : `authenticated, expires ${Output.relativeTime(expiresAt, now)}`
      )
    case "expired, refreshable":
      return Output.yellow("expired, refreshable")
    default:
      return Output.red(status.auth)
  }
}

const describeState = (server: ServerStatus): string => {
  if (!server.enabled) return Output.dim("disabled")
  const connection = server.connection
  if (connection === undefined) return "enabled"
  switch (connection.state) {
    case "connected":
      return Output.green(`connected, ${connection.toolCount} tool${connection.toolCount === 1 ? "" : "s"}`)
    case "needs_auth":
      return Output.yellow("needs auth")
    case "error":
      return Output.red("error")
    default:
      return connection.state
  }
}

export const status = Command.make(
  "status",
  {
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print machine-readable JSON"),
      Flag.withDefault(false)
    ),
    offline: Flag.Boolean("offline").pipe(
      Flag.withDescription("Do not connect: show the config and stored credentials only"),
      Flag.withDefault(false)
    )
  },
  Effect.fn(
    function* ({ json, offline }) {
      const file = yield* ConfigFile
      const store = yield* CredentialStore
      const loaded = yield* file.load
      // Read the store before connecting: connecting reads it too, and a corrupt
      // file must be reported here, not swallowed as one server's connection error.
      const stored = new Map(
        (yield* store.list).map((credential) => [Credential.keyOf(credential), credential])
      )
      const live = offline ? new Map<string, Connection>() : yield* liveStates
      const now = yield* Clock.currentTimeMillis
      const servers: Array<ServerStatus> = []
      for (const server of Object.values(loaded.config.mcpServers)) {
        const credential =
          server.auth === undefined || server.url === undefined
            ? Option.none()
            : Option.fromUndefinedOr(stored.get(Credential.keyOf({ server: server.name, url: server.url })))
        const metadata = Option.map(credential, Credential.metadata)
        servers.push({
          name: server.name,
          transport: server.transport,
          enabled: server.enabled,
          target: targetOf(server),
          auth: authStateOf(server, credential, now),
          ...Option.match(Option.fromUndefinedOr(live.get(server.name)), {
            onNone: () => ({}),
            onSome: (connection) => ({ connection })
          }),
          ...(Option.isSome(metadata) ? { credential: metadata.value } : {})
        })
      }
      if (json) {
        return yield* Output.json({
          config: { path: loaded.path, exists: loaded.exists },
          credentialStore: { backend: store.backend, description: store.description },
          servers
        })
      }
      yield* Output.line(
        `${Output.bold("config")}       ${loaded.path}${loaded.exists ? "" : Output.dim(" (not found: defaults)")}`
      )
      yield* Output.line(`${Output.bold("credentials")}  ${store.description}`)
      if (servers.length === 0) return yield* Output.line("no servers configured")
      yield* Output.line("")
      const rows = servers.map((server) => [
        Output.bold(server.name),
        server.transport,
        describeState(server),
        describeAuth(server, now),
        server.credential?.registrationMethod ?? "",
        server.credential?.scope ?? ""
      ])
      yield* Output.line(
        Output.table([
          ["SERVER", "TRANSPORT", "STATE", "AUTH", "REGISTRATION", "SCOPES"].map(Output.dim),
          ...rows
        ])
      )
      for (const server of servers) {
        if (server.connection?.lastError === undefined) continue
        yield* Output.line(`${Output.red(server.name)}: ${server.connection.lastError}`)
        if (server.connection.stderr !== undefined) {
          yield* Output.line(
            Output.dim(`  stderr: ${server.connection.stderr.replaceAll("\n", "\n          ")}`)
          )
        }
      }
    },
    Effect.provide([configFileLayer, credentialStoreLayer])
  )
).pipe(Command.withDescription("Show every configured server: transport, state and authorization"))
