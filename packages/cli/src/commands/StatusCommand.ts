/**
 * `mcpgate status [--json]`: every configured server with its transport and stored
 * credential metadata (SPEC §6). Never prints a secret.
 */
import type { ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import * as Credential from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { configFileLayer, credentialStoreLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

export type AuthState = "not required" | "authenticated" | "expired, refreshable" | "expired" | "needs login"

export interface ServerStatus {
  readonly name: string
  readonly transport: string
  readonly enabled: boolean
  readonly target: string
  readonly auth: AuthState
  readonly credential?: Credential.CredentialMetadata
}

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

export const status = Command.make(
  "status",
  {
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print machine-readable JSON"),
      Flag.withDefault(false)
    )
  },
  Effect.fn(
    function* ({ json }) {
      const file = yield* ConfigFile
      const store = yield* CredentialStore
      const loaded = yield* file.load
      const now = yield* Clock.currentTimeMillis
      const servers: Array<ServerStatus> = []
      for (const server of Object.values(loaded.config.mcpServers)) {
        const credential =
          server.auth === undefined || server.url === undefined
            ? Option.none()
            : yield* store.get({ server: server.name, url: server.url })
        const metadata = Option.map(credential, Credential.metadata)
        servers.push({
          name: server.name,
          transport: server.transport,
          enabled: server.enabled,
          target: targetOf(server),
          auth: authStateOf(server, credential, now),
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
        server.enabled ? "enabled" : Output.dim("disabled"),
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
    },
    Effect.provide([configFileLayer, credentialStoreLayer])
  )
).pipe(Command.withDescription("Show every configured server: transport, state and authorization"))
