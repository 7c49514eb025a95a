import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import { Effect, Layer, Option } from "effect"
import { Browser } from "../src/Browser.ts"
import { OAuthManager } from "../src/OAuthManager.ts"
import {
  allIssuedTokens,
  errorTexts,
  leakedTokens,
  logCapture,
  logLines,
  serverConfig,
  startServers
} from "./support/Harness.ts"

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
