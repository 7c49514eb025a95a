/**
 * A small stdio MCP server for the transport tests (run with `node StdioTestServer.ts [flags]`).
 *
 * Flags:
 *   --mute            read stdin and never answer (an `initialize` that never completes)
 *   --grandchild      spawn a grandchild that ignores SIGTERM and stdin EOF (like `npx` → node)
 *   --stubborn        ignore SIGTERM and stdin EOF in this process too
 *   --crash-on-start  exit with code 3 after writing to stderr, before answering anything
 *
 * Tools: `echo {text}`, `slow {ms}`, `pids`, `env`, `fail`, `add_tool {name}` (adds a
 * tool at runtime and sends notifications/tools/list_changed), `elicit {message, timeoutMs?}`
 * (asks the client with a form elicitation, gives up after `timeoutMs`, and answers
 * with the elicitation's result as JSON).
 */
import { spawn } from "node:child_process"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from "@modelcontextprotocol/sdk/types.js"

const flags = new Set(process.argv.slice(2))
const keepAlive = () => setInterval(() => {}, 60_000)

if (flags.has("--crash-on-start")) {
  process.stderr.write("fatal: the test server was told to crash\n")
  process.exit(3)
}

if (flags.has("--stubborn")) {
  process.on("SIGTERM", () => {})
  keepAlive()
}

if (flags.has("--mute")) {
  process.stdin.on("data", () => {})
  keepAlive()
} else {
  let grandchildPid: number | undefined
  if (flags.has("--grandchild")) {
    const child = spawn(
      process.execPath,
      ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 60000)"],
      { stdio: "ignore" }
    )
    grandchildPid = child.pid
  }

  const tools: Array<Tool> = [
    {
      name: "echo",
      description: "Echoes its text",
      inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }
    },
    {
      name: "slow",
      description: "Answers after `ms` milliseconds",
      inputSchema: { type: "object", properties: { ms: { type: "number" } } }
    },
    { name: "pids", description: "This process's pid and its grandchild's", inputSchema: { type: "object" } },
    { name: "env", description: "This process's environment", inputSchema: { type: "object" } },
    { name: "fail", description: "Always fails", inputSchema: { type: "object" } },
    {
      name: "add_tool",
      description: "Adds a tool and notifies the client",
      inputSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] }
    },
    {
      name: "elicit",
      description: "Asks the client (form elicitation) and answers with its result",
      inputSchema: {
        type: "object",
        properties: { message: { type: "string" }, timeoutMs: { type: "number" } },
        required: ["message"]
      }
    }
  ]

  const server = new Server(
    { name: "stdio-test-server", version: "1.2.3" },
    { capabilities: { tools: { listChanged: true } } }
  )
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }))
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const args = request.params.arguments ?? {}
    switch (request.params.name) {
      case "echo":
        return { content: [{ type: "text", text: String(args.text) }] }
      case "slow": {
        const ms = Number(args.ms ?? 60_000)
        // Tells a test watching stderr that the call is in flight.
        process.stderr.write(`slow request ${String(extra.requestId)} started\n`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms)
          extra.signal.addEventListener("abort", () => {
            clearTimeout(timer)
            process.stderr.write(`cancelled request ${String(extra.requestId)}\n`)
            resolve()
          })
        })
        return { content: [{ type: "text", text: `slept ${ms} ms` }] }
      }
      case "pids":
        return {
          content: [
            { type: "text", text: JSON.stringify({ pid: process.pid, grandchild: grandchildPid ?? null }) }
          ]
        }
      case "env":
        return { content: [{ type: "text", text: JSON.stringify(process.env) }] }
      case "fail":
        return { content: [], isError: true }
      case "add_tool": {
        tools.push({
          name: String(args.name),
          description: "added at runtime",
          inputSchema: { type: "object" }
        })
        await server.sendToolListChanged()
        return { content: [{ type: "text", text: "added" }] }
      }
      case "elicit": {
        // The SDK (1.32) ignores notifications/cancelled for request id 0: use that id up first.
        await server.ping()
        const answer = await server
          .elicitInput(
            {
              mode: "form",
              message: String(args.message),
              requestedSchema: { type: "object", properties: { answer: { type: "string" } } }
            },
            args.timeoutMs === undefined ? {} : { timeout: Number(args.timeoutMs) }
          )
          .catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }))
        return { content: [{ type: "text", text: JSON.stringify(answer) }] }
      }
      default:
        throw new Error(`no tool named ${request.params.name}`)
    }
  })
  await server.connect(new StdioServerTransport())
}
