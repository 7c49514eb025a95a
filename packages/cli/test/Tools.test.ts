import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { everythingPath as everything } from "@mcpgate/testing/Configs"
import { runCli, sandbox } from "./support/Cli.ts"

const writeConfig = (home: string) => {
  const path = join(home, "mcpgate.json")
  writeFileSync(
    path,
    JSON.stringify({
      mcpServers: {
        everything: { command: process.execPath, args: [everything, "stdio"] },
        broken: { command: process.execPath, args: ["-e", "process.exit(3)"] }
      },
      builtins: { fetch: { enabled: false }, webSearch: { enabled: false } }
    })
  )
  return path
}

describe("mcpgate tools / call", () => {
  it("lists tools by public name, and warns about servers that did not connect", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    const json = await runCli(["tools", "--json"], { env })
    assert.strictEqual(json.code, 0, json.stderr)
    const tools = JSON.parse(json.stdout) as ReadonlyArray<{ name: string; server: string; tool: string }>
    const echo = tools.find((tool) => tool.name === "everything__echo")
    assert.deepStrictEqual(echo && { server: echo.server, tool: echo.tool }, {
      server: "everything",
      tool: "echo"
    })
    assert.include(json.stderr, "broken")

    const human = await runCli(["tools", "everything"], { env })
    assert.strictEqual(human.code, 0, human.stderr)
    assert.include(human.stdout, "everything__echo")

    const unknown = await runCli(["tools", "nope"], { env })
    assert.strictEqual(unknown.code, 2)
  })

  it("calls a tool; an error result exits 1 with the server's own text", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    const echo = await runCli(["call", "everything__echo", "--args", '{"message":"hi"}'], { env })
    assert.strictEqual(echo.code, 0, echo.stderr)
    assert.strictEqual(echo.stdout.trim(), "Echo: hi")

    const json = await runCli(["call", "everything__echo", "--args", '{"message":"hi"}', "--json"], { env })
    assert.deepStrictEqual(JSON.parse(json.stdout).content, [{ type: "text", text: "Echo: hi" }])

    const failed = await runCli(["call", "everything__get-sum", "--args", '{"a":1}'], { env })
    assert.strictEqual(failed.code, 1)
    assert.include(failed.stderr, "expected number")

    const badArgs = await runCli(["call", "everything__echo", "--args", "not json"], { env })
    assert.strictEqual(badArgs.code, 2)

    const unknownTool = await runCli(["call", "everything__nope"], { env })
    assert.strictEqual(unknownTool.code, 1)
    assert.include(unknownTool.stderr, "everything__nope")
  })
})
