import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { makeMemory } from "@mcpgate/core/CredentialStore"
import * as AuthServer from "@mcpgate/testing/AuthServer"
import {
  allIssuedTokens,
  errorTexts,
  failureOf,
  leakedTokens,
  logCapture,
  logLines,
  managerLayer,
  managerOn,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import * as ProtectedMcpServer from "@mcpgate/testing/ProtectedMcpServer"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { Effect, Redacted } from "effect"
import { OAuthManager } from "../src/OAuthManager.ts"

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts]), [])
  assert.isAbove(allIssuedTokens.size, 0)
})

const bearer = (token: Redacted.Redacted<string>) => `Bearer ${Redacted.value(token)}`

describe("step-up on 403 insufficient_scope", () => {
  it.live("interactive: re-authorizes with the granted and the required scopes, never a plain refresh", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = serverConfig("admin", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const first = yield* manager.accessToken(server)
      const refused = yield* callTool(mcp.url, bearer(first), "admin")
      assert.strictEqual(refused.status, 403)

      const stepped = yield* manager.onInsufficientScope(server, refused.wwwAuthenticate)
      const call = yield* callTool(mcp.url, bearer(stepped), "admin")
      assert.strictEqual(call.status, 200)
      assert.strictEqual(call.text, "admin ok")
      const granted = (mcp.lastClaims?.scope ?? "").split(" ")
      assert.includeMembers(granted, ["mcp:read", "mcp:admin"])
      assert.strictEqual(as.countGrants("authorization_code"), 2)
      assert.strictEqual(as.countGrants("refresh_token"), 0)
      assert.includeMembers([...(yield* manager.status(server)).scopes], ["mcp:read", "mcp:admin"])

      // The scope is now granted: another 403 for it cannot be fixed by authorizing again.
      const error = yield* failureOf(manager.onInsufficientScope(server, refused.wwwAuthenticate))
      assert.strictEqual(error._tag === "OAuthError" ? error.reason : error._tag, "insufficient-scope")
      assert.strictEqual(as.countGrants("authorization_code"), 2)
    }).pipe(Effect.provide(managerLayer({ interactive: true })), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("not interactive (the gateway): NeedsScope with the combined scopes, and status says so", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = serverConfig("quiet", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const token = yield* manager.accessToken(server)
      const refused = yield* callTool(mcp.url, bearer(token), "admin")
      const error = yield* failureOf(manager.onInsufficientScope(server, refused.wwwAuthenticate))
      assert.strictEqual(error._tag, "NeedsScope")
      if (error._tag === "NeedsScope")
        assert.deepStrictEqual([...error.scopes].sort(), ["mcp:admin", "mcp:read"])
      assert.include(error.message, "mcpgate login quiet --scope")
      const status = yield* manager.status(server)
      assert.strictEqual(status.state, "needs-scope")
      assert.strictEqual(as.countGrants("authorization_code"), 1)
      // A login with the scopes clears it.
      yield* manager.login(server, { scopes: ["mcp:read", "mcp:admin"] })
      assert.strictEqual((yield* manager.status(server)).state, "authenticated")
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("step-ups and other processes", () => {
  it.live("two concurrent step-ups for one server share one login", () =>
    Effect.gen(function* () {
      const { as, mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = serverConfig("twice", mcp.url)
      const manager = yield* OAuthManager
      yield* manager.login(server)
      const refused = yield* callTool(mcp.url, bearer(yield* manager.accessToken(server)), "admin")
      const tokens = yield* Effect.all(
        [
          manager.onInsufficientScope(server, refused.wwwAuthenticate),
          manager.onInsufficientScope(server, refused.wwwAuthenticate)
        ],
        { concurrency: "unbounded" }
      )
      for (const token of tokens)
        assert.strictEqual((yield* callTool(mcp.url, bearer(token), "admin")).status, 200)
      assert.strictEqual(as.countGrants("authorization_code"), 2, "one login, one step-up")
    }).pipe(Effect.provide(managerLayer({ interactive: true })), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("'needs scope' clears once another process's login granted the scope", () =>
    Effect.gen(function* () {
      const { mcp } = yield* startServers({ challengeScope: "mcp:read" })
      const server = serverConfig("elsewhere", mcp.url)
      const store = yield* makeMemory()
      const gateway = yield* managerOn(store)
      const cli = yield* managerOn(store)
      yield* gateway.login(server)
      const refused = yield* callTool(mcp.url, bearer(yield* gateway.accessToken(server)), "admin")
      assert.strictEqual(
        (yield* failureOf(gateway.onInsufficientScope(server, refused.wwwAuthenticate)))._tag,
        "NeedsScope"
      )
      assert.strictEqual((yield* gateway.status(server)).state, "needs-scope")
      // The user runs the suggested login in a terminal (another process).
      yield* cli.login(server, { scopes: ["mcp:read", "mcp:admin"] })
      const status = yield* gateway.status(server)
      assert.strictEqual(status.state, "authenticated")
      assert.includeMembers([...status.scopes], ["mcp:admin"])
    }).pipe(Effect.provide(logCapture), Effect.scoped)
  )
})

describe("authorization server migration (SEP-2352)", () => {
  it.live("a 401 after the resource moved to another authorization server drops the old client", () =>
    Effect.gen(function* () {
      let resource = ""
      const first = yield* AuthServer.start({ resource: () => resource })
      const second = yield* AuthServer.start({ resource: () => resource })
      let current = first
      const mcp = yield* ProtectedMcpServer.start({ issuer: () => current.issuer })
      resource = mcp.url
      const server = serverConfig("moving", mcp.url)
      const manager = yield* OAuthManager
      const before = yield* manager.login(server)
      assert.strictEqual(before.issuer, first.issuer)
      const oldToken = yield* manager.accessToken(server)

      current = second
      const refused = yield* callTool(mcp.url, bearer(oldToken), "whoami")
      assert.strictEqual(refused.status, 401)
      const error = yield* failureOf(
        manager.onUnauthorized(server, { wwwAuthenticate: refused.wwwAuthenticate, rejectedToken: oldToken })
      )
      assert.strictEqual(error._tag, "NeedsLogin")
      assert.include(error.message, second.issuer)
      assert.strictEqual(first.countGrants("refresh_token"), 0)

      const after = yield* manager.login(server)
      assert.strictEqual(after.issuer, second.issuer)
      assert.notStrictEqual(after.clientId, before.clientId)
      assert.strictEqual(second.registrations.length, 1)
      // The old client id was never shown to the new server.
      assert.isTrue(second.tokenRequests.every((request) => request.clientId !== before.clientId))
      const token = yield* manager.accessToken(server)
      assert.strictEqual((yield* callTool(mcp.url, bearer(token), "whoami")).status, 200)
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})

describe("scopes from a server in a suggested command", () => {
  /** Runs the message's suggested command in a real shell, with `mcpgate` printing its arguments. */
  const argumentsOf = (message: string): ReadonlyArray<string> => {
    const command = /`(mcpgate .*)`$/s.exec(message)?.[1]
    if (command === undefined) throw new Error(`no command in ${message}`)
    const script = `mcpgate() { for a in "$@"; do printf '%s\\n' "$a"; done; }; ${command}`
    return execFileSync("sh", ["-c", script], { encoding: "utf8" }).split("\n").slice(0, -1)
  }

  it.live("are quoted for the shell: pasting the command runs nothing the server put there", () =>
    Effect.gen(function* () {
      const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mcpgate-scope-"))
      const marker = path.join(directory, "pwned")
      const scopes = ["mcp:read", `$(touch\${IFS}${marker})`, "a;b|c&d", "'q'", "`id`"]
      const manager = yield* OAuthManager
      const error = yield* failureOf(
        manager.onInsufficientScope(
          serverConfig("quoted", "http://127.0.0.1:9/mcp"),
          `Bearer error="insufficient_scope", scope="${scopes.join(" ")}"`
        )
      )
      assert.strictEqual(error._tag, "NeedsScope")
      const args = argumentsOf(error.message)
      assert.deepStrictEqual(args, ["login", "quoted", ...scopes.flatMap((scope) => ["--scope", scope])])
      assert.isFalse(fs.existsSync(marker), "nothing ran")
      fs.rmSync(directory, { recursive: true, force: true })
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )

  it.live("are refused when they are not scope tokens (RFC 6749 §3.3)", () =>
    Effect.gen(function* () {
      const manager = yield* OAuthManager
      const server = serverConfig("refused", "http://127.0.0.1:9/mcp")
      for (const scope of ["mcp:\u00e5dmin", "mcp:\\\\admin", "mcp:\u0007"]) {
        const error = yield* failureOf(
          manager.onInsufficientScope(server, `Bearer error="insufficient_scope", scope="${scope}"`)
        )
        assert.strictEqual(error._tag === "OAuthError" ? error.reason : error._tag, "insufficient-scope")
        assert.notInclude(error.message, "--scope")
      }
      assert.strictEqual((yield* manager.status(server)).state, "needs-login")
    }).pipe(Effect.provide(managerLayer()), Effect.provide(logCapture), Effect.scoped)
  )
})
