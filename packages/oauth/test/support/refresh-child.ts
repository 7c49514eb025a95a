/**
 * One of the processes of the cross-process refresh tests: an `OAuthManager`
 * over the credentials file in the directory given as the first argument asks
 * for the authorization headers (a bearer token, or a DPoP-bound one with its
 * proof) for the server given (as JSON) as the second, and calls the MCP
 * server with them, once the parent says go (a line on stdin). Prints `READY`, then `RESULT {"status":…,"token":"<sha256 prefix>"}`; the
 * token itself is never printed.
 */
import { createHash } from "node:crypto"
import type { ServerConfig } from "@mcpgate/core/Config"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { Effect, Layer, Redacted } from "effect"
import { Browser } from "../../src/Browser.ts"
import { OAuthManager } from "../../src/OAuthManager.ts"

const [directory = "", serverJson = "{}"] = process.argv.slice(2)
const server = JSON.parse(serverJson) as ServerConfig

/** Resolves when the parent writes a line: all children start their request together. */
const go = Effect.promise(
  () =>
    new Promise<void>((resolve) => {
      process.stdin.setEncoding("utf8").once("data", () => resolve())
    })
)

const program = Effect.gen(function* () {
  const manager = yield* OAuthManager
  process.stdout.write("READY\n")
  yield* go
  const url = server.url ?? ""
  const headers = yield* manager.authorizationHeaders(server, { method: "POST", url })
  const authorization = Redacted.value(headers.authorization)
  const call = yield* callTool(url, authorization, "whoami", headers.dpop)
  const token = authorization.slice(authorization.indexOf(" ") + 1)
  return {
    status: call.status,
    token: createHash("sha256").update(token).digest("hex").slice(0, 16)
  }
})

const layer = OAuthManager.layer().pipe(
  Layer.provide(Layer.mergeAll(CredentialStore.layerFile({ directory }), Browser.layerFollowRedirects))
)

Effect.runPromise(program.pipe(Effect.provide(layer))).then(
  (result) => {
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error: unknown) => {
    process.stdout.write(
      `RESULT ${JSON.stringify({ error: error instanceof Error ? error.message : "failed" })}\n`
    )
    process.exit(1)
  }
)
