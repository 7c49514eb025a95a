/**
 * What the installed binary loads before a command runs (bench/startup.ts measures
 * the time): commands that neither connect nor touch the keychain start without the
 * gateway's code, the keychain's native module and node:child_process.
 */
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { binary, sandbox } from "./support/Cli.ts"

const recorder = fileURLToPath(new URL("./support/RecordLoads.mjs", import.meta.url))

/** The URLs of every module `mcpgate <args>` resolved, whatever its exit code. */
const loadsOf = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  new Promise<ReadonlyArray<string>>((resolve) => {
    const file = join(env.HOME ?? "", `loads-${args.join("-")}.txt`)
    writeFileSync(file, "")
    execFile(
      process.execPath,
      ["--import", recorder, binary, ...args],
      { env: { ...env, MCPGATE_TEST_LOADS: file }, cwd: env.HOME, timeout: 20_000 },
      () =>
        resolve(
          readFileSync(file, "utf8")
            .split("\n")
            .filter((line) => line !== "")
        )
    )
  })

// A service key: a string the minifier keeps, in whichever chunk holds the client manager.
const managerKey = "@mcpgate/transport/McpClientManager"
const loadsManager = (urls: ReadonlyArray<string>) =>
  urls.some((url) => url.startsWith("file:") && readFileSync(fileURLToPath(url), "utf8").includes(managerKey))

const loadsKeyring = (urls: ReadonlyArray<string>) => urls.some((url) => url.includes("@napi-rs/keyring"))

describe("start-up", () => {
  it("status --offline and --version load no gateway code, no keychain module, no child_process", async () => {
    const { env, home } = sandbox()
    writeFileSync(join(home, "mcpgate.json"), JSON.stringify({ mcpServers: {} }))
    for (const args of [["status", "--json", "--offline"], ["--version"]]) {
      const urls = await loadsOf(args, env)
      assert.isTrue(
        urls.some((url) => url.endsWith("/dist/mcpgate.mjs")),
        `${args.join(" ")} ran the bundle`
      )
      assert.isFalse(loadsManager(urls), `${args.join(" ")} loaded the client manager`)
      assert.isFalse(loadsKeyring(urls), `${args.join(" ")} loaded @napi-rs/keyring`)
      assert.notInclude(urls, "node:child_process", `${args.join(" ")} loaded node:child_process`)
    }
  })

  it("the checks see the modules when a command needs them", async () => {
    const { env, home } = sandbox()
    writeFileSync(join(home, "mcpgate.json"), JSON.stringify({ mcpServers: {} }))
    // Connecting loads the client manager; the keychain store loads the native module.
    assert.isTrue(loadsManager(await loadsOf(["status", "--json"], env)))
    assert.isTrue(
      loadsKeyring(await loadsOf(["status", "--offline"], { ...env, MCPGATE_TOKEN_STORE: "keychain" }))
    )
  })
})
