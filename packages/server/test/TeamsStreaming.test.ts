/**
 * A streamed chat runs the model's tool calls as the caller
 * (docs/teams.md#per-user-credentials): the stream is consumed after the
 * handler returned, and still uses the user's own connection.
 */
import { assert, describe, it } from "@effect/vitest"
import { followRedirects } from "@mcpgate/oauth/Browser"
import * as Configs from "@mcpgate/testing/Configs"
import { serverConfig, startServers } from "@mcpgate/testing/Harness"
import * as ScriptedUpstream from "@mcpgate/testing/ScriptedUpstream"
import { Effect, Redacted } from "effect"
import * as TeamsGateway from "./support/TeamsGateway.ts"

const aliceKey = "alice-key-0123456789"

describe("Teams: streamed chats", () => {
  it.live(
    "a streamed chat calls the user's own tool with the user's own connection",
    () =>
      Effect.gen(function* () {
        const { as: notionAs, mcp } = yield* startServers()
        const upstream = yield* ScriptedUpstream.make((body) => {
          const messages = Array.isArray(body.messages) ? body.messages : []
          const tool = messages.find((message) => (message as { role?: unknown }).role === "tool") as
            | { content?: unknown }
            | undefined
          return tool === undefined
            ? { toolCalls: [{ id: "call_1", name: "notion__whoami", arguments: "{}" }] }
            : { content: `The tool says: ${String(tool.content)}` }
        })
        const { url } = yield* TeamsGateway.start({
          servers: [Configs.stdioServer("local"), serverConfig("notion", mcp.url, { identity: "user" })],
          expectConnected: 1,
          server: () => ({
            upstream: { baseUrl: upstream.baseUrl },
            users: { alice: { apiKeys: [Redacted.make(aliceKey)], admin: false } }
          })
        })
        const headers = { authorization: `Bearer ${aliceKey}`, "content-type": "application/json" }
        const started = yield* Effect.promise(async () => {
          const response = await fetch(`${url}/v1/mcp/connections/notion`, { method: "POST", headers })
          return (await response.json()) as { authUrl: string }
        })
        notionAs.account = "alice"
        yield* followRedirects("notion", started.authUrl)
        const text = yield* Effect.promise(async () => {
          const response = await fetch(`${url}/v1/chat/completions`, {
            method: "POST",
            headers,
            body: JSON.stringify({
              model: "m",
              stream: true,
              messages: [{ role: "user", content: "who am I?" }],
              execute_mcp_tools: true
            })
          })
          return response.text()
        })
        assert.include(text, "hello alice")
        assert.notInclude(text, "no tool named")
      }).pipe(Effect.scoped),
    60_000
  )
})
