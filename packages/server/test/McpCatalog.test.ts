/**
 * The aggregated `/mcp` carries every connected server's resources and prompts:
 * prompts named `<server>__<prompt>`, resource URIs `mcpgate://<server>/<uri>`,
 * every page of each server's lists read, and reads and gets routed back.
 */
import { assert, describe, it } from "@effect/vitest"
import { stdioTestServerPath } from "@mcpgate/testing/Configs"
import { conformanceServer } from "@mcpgate/testing/ConformanceServer"
import { Effect } from "effect"
import * as McpGateway from "./support/McpGateway.ts"

describe("/mcp resources and prompts", () => {
  it.live(
    "lists, reads and gets every server's resources and prompts under public names",
    () =>
      Effect.gen(function* () {
        const upstream = yield* conformanceServer({ pageSize: 2 })
        const gateway = yield* McpGateway.start({
          servers: [
            McpGateway.server("conf", { url: upstream.url, transport: "streamable-http" }),
            // A server without resources or prompts lists none and breaks nothing.
            McpGateway.server("local", { command: process.execPath, args: [stdioTestServerPath] })
          ]
        })
        const { client } = yield* McpGateway.connect(gateway)
        const caps = client.getServerCapabilities()
        assert.isDefined(caps?.resources)
        assert.isDefined(caps?.prompts)

        const { resources } = yield* McpGateway.promise(() => client.listResources())
        assert.deepStrictEqual(
          resources.map((resource) => resource.uri),
          [
            "mcpgate://conf/test://static-text",
            "mcpgate://conf/test://static-binary",
            "mcpgate://conf/test://watched-resource"
          ]
        )
        const read = yield* McpGateway.promise(() =>
          client.readResource({ uri: "mcpgate://conf/test://static-text" })
        )
        assert.deepStrictEqual(read.contents, [
          {
            uri: "mcpgate://conf/test://static-text",
            mimeType: "text/plain",
            text: "This is the content of the static text resource."
          }
        ])
        const { resourceTemplates } = yield* McpGateway.promise(() => client.listResourceTemplates())
        assert.deepStrictEqual(
          resourceTemplates.map((template) => template.uriTemplate),
          ["mcpgate://conf/test://template/{id}/data"]
        )
        const fromTemplate = yield* McpGateway.promise(() =>
          client.readResource({ uri: "mcpgate://conf/test://template/7/data" })
        )
        assert.include(JSON.stringify(fromTemplate.contents), "Data for ID: 7")
        for (const uri of [
          "test://static-text",
          "mcpgate://nope/test://static-text",
          "mcpgate://conf/test://missing"
        ]) {
          const error = yield* Effect.flip(McpGateway.promise(() => client.readResource({ uri })))
          assert.include(String(error), "Resource not found", uri)
        }

        const { prompts } = yield* McpGateway.promise(() => client.listPrompts())
        assert.deepStrictEqual(
          prompts.map((prompt) => prompt.name),
          [
            "conf__test_simple_prompt",
            "conf__test_prompt_with_arguments",
            "conf__test_prompt_with_embedded_resource",
            "conf__test_prompt_with_image"
          ]
        )
        const prompt = yield* McpGateway.promise(() =>
          client.getPrompt({ name: "conf__test_prompt_with_arguments", arguments: { arg1: "a", arg2: "b" } })
        )
        assert.deepStrictEqual(prompt.messages[0]?.content, {
          type: "text",
          text: "Prompt with arguments: arg1='a', arg2='b'"
        })
        const unknown = yield* Effect.flip(
          McpGateway.promise(() => client.getPrompt({ name: "test_simple_prompt" }))
        )
        assert.include(String(unknown), "no prompt named test_simple_prompt")
      }),
    60_000
  )
})
