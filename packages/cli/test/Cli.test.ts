import { execFile } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { runCli, sandbox } from "./support/Cli.ts"

describe("mcpgate CLI", () => {
  it("prints help for the root and every command, exit 0", async () => {
    const { env } = sandbox()
    for (const args of [
      ["--help"],
      ["status", "--help"],
      ["config", "--help"],
      ["config", "validate", "--help"],
      ["serve", "--help"]
    ]) {
      const result = await runCli(args, { env })
      assert.strictEqual(result.code, 0, `${args.join(" ")}: ${result.stderr}`)
      assert.include(result.stdout, "USAGE")
    }
    const root = await runCli(["--help"], { env })
    for (const command of ["serve", "status", "config"]) assert.include(root.stdout, command)
    assert.include(root.stdout, "--config")
  })

  it("exits 2 on a usage error", async () => {
    const { env } = sandbox()
    const unknownFlag = await runCli(["status", "--bogus"], { env })
    assert.strictEqual(unknownFlag.code, 2)
    assert.include(unknownFlag.stderr + unknownFlag.stdout, "--bogus")
    const unknownCommand = await runCli(["frobnicate"], { env })
    assert.strictEqual(unknownCommand.code, 2)
  })

  it("resolves the config path: --config, MCPGATE_CONFIG, ./mcpgate.json, then MCPGATE_HOME", async () => {
    const { env, home } = sandbox()
    const byDefault = await runCli(["config", "path"], { env })
    assert.strictEqual(byDefault.stdout.trim(), join(home, "config.json"))

    writeFileSync(join(home, "mcpgate.json"), "{}")
    const inCwd = await runCli(["config", "path"], { env })
    assert.strictEqual(inCwd.stdout.trim(), join(home, "mcpgate.json"))

    const fromEnv = await runCli(["config", "path"], {
      env: { ...env, MCPGATE_CONFIG: "/tmp/from-env.json" }
    })
    assert.strictEqual(fromEnv.stdout.trim(), "/tmp/from-env.json")

    for (const args of [
      ["--config", "/tmp/flag.json", "config", "path"],
      ["config", "path", "--config", "/tmp/flag.json"]
    ]) {
      const fromFlag = await runCli(args, { env: { ...env, MCPGATE_CONFIG: "/tmp/from-env.json" } })
      assert.strictEqual(fromFlag.stdout.trim(), "/tmp/flag.json")
    }
  })

  it("config init writes a config that validates, and refuses to overwrite without --force", async () => {
    const { env, home } = sandbox()
    const path = join(home, "new.json")
    const init = await runCli(["config", "init", "--config", path], { env })
    assert.strictEqual(init.code, 0, init.stderr)
    const validate = await runCli(["config", "validate", "--config", path], { env })
    assert.strictEqual(validate.code, 0, validate.stderr)
    assert.include(validate.stdout, "valid")
    const again = await runCli(["config", "init", "--config", path], { env })
    assert.notStrictEqual(again.code, 0)
    assert.include(again.stderr, "--force")
    const forced = await runCli(["config", "init", "--force", "--config", path], { env })
    assert.strictEqual(forced.code, 0, forced.stderr)
  })

  const malformed: ReadonlyArray<readonly [string, string, string]> = [
    ["bad JSON", '{\n  "mcpServers": {\n    "a": { "command": "x" ,, }\n  }\n}', "3:"],
    ["unknown key", '{ "mcpServer": {} }', 'did you mean "mcpServers"'],
    ["wrong type", '{ "maxToolCalls": "ten" }', "maxToolCalls"],
    ["missing command and url", '{ "mcpServers": { "a": { "args": [] } } }', "mcpServers.a"],
    [
      "missing env variable",
      '{ "mcpServers": { "a": { "url": "https://x.test/${env:MCPGATE_TEST_UNSET}" } } }',
      "MCPGATE_TEST_UNSET"
    ],
    [
      "bad auth block",
      '{ "mcpServers": { "a": { "url": "https://x.test/", "auth": { "type": "basic" } } } }',
      "mcpServers.a.auth.type"
    ]
  ]

  for (const [name, text, expected] of malformed) {
    it(`config validate: ${name} → one line on stderr naming the problem, exit 2`, async () => {
      const { env, home } = sandbox()
      const path = join(home, "broken.json")
      writeFileSync(path, text)
      for (const command of [["config", "validate"], ["status"]]) {
        const result = await runCli([...command, "--config", path], { env })
        assert.strictEqual(result.code, 2, `${command.join(" ")}: ${result.stderr}`)
        const lines = result.stderr.trim().split("\n")
        assert.strictEqual(lines.length, 1, result.stderr)
        assert.include(lines[0], expected)
        assert.include(lines[0], "broken.json")
      }
    })
  }

  it("a missing explicit config file is an error, exit 2", async () => {
    const { env, home } = sandbox()
    const result = await runCli(["status", "--config", join(home, "nope.json")], { env })
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "nope.json")
  })
})

describe("the installed binary", () => {
  it("npm install -g ./packages/cli gives a working mcpgate command", async () => {
    const { env, home } = sandbox()
    const prefix = join(home, "prefix")
    const packageDir = fileURLToPath(new URL("../", import.meta.url))
    await new Promise<void>((resolve, reject) =>
      execFile(
        "npm",
        ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", packageDir],
        { env },
        (error) => (error === null ? resolve() : reject(error))
      )
    )
    const installed = join(prefix, "bin", "mcpgate")
    const result = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(installed, ["config", "path"], { env, cwd: home }, (error, stdout) =>
        resolve({ code: error === null ? 0 : 1, stdout })
      )
    )
    assert.strictEqual(result.code, 0)
    assert.strictEqual(result.stdout.trim(), join(home, "config.json"))
  })
})
