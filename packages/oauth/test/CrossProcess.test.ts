import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { ServerConfig } from "@mcpgate/core/Config"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import {
  allIssuedTokens,
  errorTexts,
  fingerprint,
  leakedTokens,
  logCapture,
  logLines,
  serverConfig,
  startServers
} from "@mcpgate/testing/Harness"
import { callTool } from "@mcpgate/testing/ProtectedMcpServer"
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import { Browser } from "../src/Browser.ts"
import { OAuthManager } from "../src/OAuthManager.ts"

const childScript = path.join(import.meta.dirname, "support", "refresh-child.ts")
const childOutputs: Array<string> = []

afterAll(() => {
  assert.deepStrictEqual(leakedTokens(allIssuedTokens, [...logLines, ...errorTexts, ...childOutputs]), [])
})

interface ChildResult {
  readonly code: number | null
  readonly output: string
}

/** Starts a child; `ready` resolves when it waits for the go, `done` when it exits. */
const startChild = (directory: string, serverJson: string) => {
  const child = spawn(process.execPath, [childScript, directory, serverJson], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" }
  })
  let markReady: () => void = () => undefined
  const ready = new Promise<void>((resolve) => {
    markReady = resolve
  })
  const done = new Promise<ChildResult>((resolve, reject) => {
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
      if (output.includes("READY\n")) markReady()
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), 40_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      markReady()
      resolve({ code, output })
    })
  })
  return { ready, done, go: () => child.stdin.end("go\n") }
}

/** Runs one child to its end and reads its `RESULT` line. */
const runChild = (directory: string, server: ServerConfig) =>
  Effect.gen(function* () {
    const child = startChild(directory, JSON.stringify(server))
    yield* Effect.promise(() => child.ready)
    child.go()
    const result = yield* Effect.promise(() => child.done)
    childOutputs.push(result.output)
    const line = result.output.split("\n").find((text) => text.startsWith("RESULT "))
    const fields = JSON.parse(line?.slice("RESULT ".length) ?? "{}") as {
      readonly status?: number
      readonly token?: string
      readonly error?: string
    }
    return { code: result.code, output: result.output, ...fields }
  })

const tempDirectory = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-oauth-"))),
  (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
)

describe("refresh across processes", () => {
  it.live(
    "8 processes on an expired token with rotating refresh tokens: one refresh, 8 working tokens",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers()
        const directory = yield* tempDirectory
        const server = serverConfig("shared", mcp.url)
        const layer = OAuthManager.layer().pipe(
          Layer.provideMerge(
            Layer.mergeAll(CredentialStore.layerFile({ directory }), Browser.layerFollowRedirects)
          )
        )
        yield* Effect.gen(function* () {
          const manager = yield* OAuthManager
          const store = yield* CredentialStore
          yield* manager.login(server)
          const credential = Option.getOrThrow(yield* store.get({ server: "shared", url: mcp.url }))
          const tokens = credential.tokens
          if (tokens === undefined) throw new Error("no tokens after login")
          yield* store.set(
            new Credential({
              ...credential,
              tokens: new TokenSet({ ...tokens, expiresAt: Date.now() - 60_000 })
            })
          )
        }).pipe(Effect.provide(layer))

        // All 8 start together against a slow token endpoint, so without the
        // cross-process lock they would all refresh (and trip reuse detection).
        as.tokenDelayMillis = 300
        const children = Array.from({ length: 8 }, () => startChild(directory, JSON.stringify(server)))
        yield* Effect.promise(() => Promise.all(children.map((child) => child.ready)))
        for (const child of children) child.go()
        const results = yield* Effect.promise(() => Promise.all(children.map((child) => child.done)))
        childOutputs.push(...results.map((result) => result.output))
        const parsed = results.map((result) => {
          const line = result.output.split("\n").find((text) => text.startsWith("RESULT "))
          const fields = JSON.parse(line?.slice("RESULT ".length) ?? "{}") as {
            readonly status?: number
            readonly token?: string
          }
          return { code: result.code, ...fields }
        })
        assert.deepStrictEqual(
          parsed.map((result) => [result.code, result.status]),
          Array.from({ length: 8 }, () => [0, 200]),
          results.map((result) => result.output).join("\n---\n")
        )
        assert.strictEqual(new Set(parsed.map((result) => result.token)).size, 1)
        assert.strictEqual(as.countGrants("refresh_token"), 1)
        assert.strictEqual(mcp.accepted, 8)
      }).pipe(Effect.provide(logCapture), Effect.scoped),
    60_000
  )
})

describe("a DPoP-bound credential across processes (RFC 9449)", () => {
  it.live(
    "a second process uses and refreshes it with the key stored beside the tokens; the first keeps working",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers({ dpop: true })
        const directory = yield* tempDirectory
        const server = serverConfig("bound", mcp.url)
        const layer = OAuthManager.layer().pipe(
          Layer.provideMerge(
            Layer.mergeAll(CredentialStore.layerFile({ directory }), Browser.layerFollowRedirects)
          )
        )
        yield* Effect.gen(function* () {
          const manager = yield* OAuthManager
          const store = yield* CredentialStore
          const login = yield* manager.login(server)
          assert.strictEqual(login.tokenType, "DPoP")
          const key = { server: server.name, url: mcp.url }
          const credentialOf = Effect.map(store.get(key), Option.getOrThrow)

          // Another process uses the stored token as it is: no refresh, no new key.
          const used = yield* runChild(directory, server)
          assert.deepStrictEqual([used.code, used.status], [0, 200], used.output)
          assert.strictEqual(as.countGrants("refresh_token"), 0)

          // Expired: the other process refreshes it with the stored key, and the server accepts that.
          const credential = yield* credentialOf
          const tokens = credential.tokens
          if (tokens === undefined) return yield* Effect.die("no tokens after login")
          const now = yield* Clock.currentTimeMillis
          yield* store.set(
            new Credential({ ...credential, tokens: new TokenSet({ ...tokens, expiresAt: now - 1000 }) })
          )
          const refreshed = yield* runChild(directory, server)
          assert.deepStrictEqual([refreshed.code, refreshed.status], [0, 200], refreshed.output)
          assert.deepStrictEqual(
            as.tokenRequests.filter((request) => request.grantType === "refresh_token").map((r) => r.error),
            [undefined]
          )

          // This process now presents the refreshed token, bound to the same key.
          const headers = yield* manager.authorizationHeaders(server, { method: "POST", url: mcp.url })
          const authorization = Redacted.value(headers.authorization)
          assert.match(authorization, /^DPoP /)
          const stored = yield* credentialOf
          assert.strictEqual(
            fingerprint(Redacted.make(authorization.slice("DPoP ".length))),
            fingerprint(stored.tokens?.accessToken)
          )
          assert.strictEqual((yield* callTool(mcp.url, authorization, "whoami", headers.dpop)).status, 200)

          // The private key is as secret as the tokens: never printed, logged or shown.
          const privateKey =
            (stored.tokens?.dpopKey === undefined ? undefined : Redacted.value(stored.tokens.dpopKey).d) ?? ""
          assert.isAbove(privateKey.length, 20)
          const shown = [String(stored), JSON.stringify(stored), ...logLines, ...errorTexts, ...childOutputs]
          assert.deepStrictEqual(leakedTokens([privateKey], shown), [])
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.provide(logCapture), Effect.scoped),
    60_000
  )
})
