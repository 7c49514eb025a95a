/**
 * The conformance client: one run of one scenario of the MCP conformance suite
 * (`@modelcontextprotocol/conformance client`), through mcpgate's own layers:
 * `McpConnection` over `AuthorizedFetch.layerOAuthWith({ login })` over
 * `OAuthManager` (interactive, a memory credential store, and a "browser" that
 * follows the mock authorization server's redirects).
 *
 * Usage (by the runner): `scripts/conformance-client <server-url>`, with
 * `MCP_CONFORMANCE_SCENARIO` and, for some scenarios, `MCP_CONFORMANCE_CONTEXT`.
 * Exit 0 when the scenario's client side went through, 1 otherwise.
 */
import { Cause, Effect, Exit, Logger, References } from "effect"
import { runScenario } from "./Scenarios.ts"

const url = process.argv.at(-1) ?? ""
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? ""
const context = process.env.MCP_CONFORMANCE_CONTEXT

const program = runScenario({ url, scenario, context }).pipe(
  Effect.provideService(Logger.LogToStderr, true),
  Effect.provideService(References.MinimumLogLevel, process.env.CONFORMANCE_DEBUG ? "Debug" : "Info")
)

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    process.stderr.write(`conformance client (${scenario}): ${Cause.pretty(exit.cause)}\n`)
    process.exit(1)
  }
  process.exit(0)
})
