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
      mcpServers: { everything: { command: process.execPath, args: [everything, "stdio"] } },
      builtins: { fetch: { enabled: false }, webSearch: { enabled: false } }
    })
  )
  return path
}

describe("mcpgate resources / prompts", () => {
  it("lists every server's resources and templates, with the URIs /mcp gives them", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    const json = await runCli(["resources", "--json"], { env })
    assert.strictEqual(json.code, 0, json.stderr)
    const listed = JSON.parse(json.stdout) as {
      readonly resources: ReadonlyArray<{ uri: string; server: string; serverUri: string }>
      readonly templates: ReadonlyArray<{ uriTemplate: string; server: string }>
    }
    const features = listed.resources.find(
      (resource) => resource.serverUri === "demo://resource/static/document/features.md"
    )
    assert.deepStrictEqual(features && { uri: features.uri, server: features.server }, {
      uri: "mcpgate://everything/demo://resource/static/document/features.md",
      server: "everything"
    })
    assert.isTrue(
      listed.templates.some((template) => template.uriTemplate.startsWith("mcpgate://everything/demo://"))
    )

    const human = await runCli(["resources", "everything"], { env })
    assert.strictEqual(human.code, 0, human.stderr)
    assert.include(human.stdout, "demo://resource/static/document/features.md")
    assert.strictEqual((await runCli(["resources", "nope"], { env })).code, 2)
  })

  it("lists every server's prompts under their public names, with their arguments", async () => {
    const { env, home } = sandbox()
    writeConfig(home)
    const json = await runCli(["prompts", "--json"], { env })
    assert.strictEqual(json.code, 0, json.stderr)
    const prompts = JSON.parse(json.stdout) as ReadonlyArray<{
      name: string
      prompt: string
      arguments: ReadonlyArray<{ name: string }>
    }>
    const args = prompts.find((prompt) => prompt.name === "everything__args-prompt")
    assert.strictEqual(args?.prompt, "args-prompt")
    assert.includeMembers(args?.arguments.map((arg) => arg.name) ?? [], ["city", "state"])

    const human = await runCli(["prompts"], { env })
    assert.strictEqual(human.code, 0, human.stderr)
    assert.include(human.stdout, "everything__simple-prompt")
    assert.strictEqual((await runCli(["prompts", "nope"], { env })).code, 2)
  })
})
