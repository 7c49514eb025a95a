/**
 * An Effect app that embeds mcpgate's layers three ways, each against local
 * servers it starts itself (src/local/), all under the host's logger:
 *
 * 1. ClientManager.ts: the MCP client manager over the host's own stdio server.
 * 2. OAuthClient.ts: `OAuthManager` with a `CredentialStore` of the host's
 *    making, against an OAuth-protected MCP server.
 * 3. OpenAiRoutes.ts: the gateway's OpenAI routes in the host's `HttpRouter`.
 *
 * `npm start` runs it; it exits 0 when all three worked.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import * as ClientManager from "./ClientManager.ts"
import * as HostLogger from "./HostLogger.ts"
import * as OAuthClient from "./OAuthClient.ts"
import * as OpenAiRoutes from "./OpenAiRoutes.ts"

const program = Effect.gen(function* () {
  yield* Effect.log("host app starting")
  yield* ClientManager.run
  yield* OAuthClient.run
  yield* OpenAiRoutes.run
  yield* Console.log("all three parts worked")
})

program.pipe(Effect.scoped, Effect.provide(HostLogger.layer), NodeRuntime.runMain)
