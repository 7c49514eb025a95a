/**
 * `builtin__search_tools` (docs/gateway.md#many-tools): when a request would
 * offer more than `maxTools` tools, the model gets this one tool instead of
 * the MCP tools, and each tool it finds is offered from the next round on.
 * Matching is by words in the tool's name, server and description: no index,
 * no model, predictable.
 */
import { Predicate } from "effect"
import type { JsonObject } from "./ChatFormat.ts"
import type { ToolDefinition } from "./ModelTools.ts"

export const searchToolName = "builtin__search_tools"

/** At most this many tools per search. */
const resultsPerSearch = 10

export const definition: ToolDefinition = {
  name: searchToolName,
  server: "builtin",
  tool: "search_tools",
  description:
    "Searches the tools available to you by keywords (what you want to do, a service's name). " +
    "The tools it finds can be called from your next step on.",
  parameters: {
    type: "object",
    properties: { query: { type: "string", description: "Keywords, e.g. 'create calendar event'" } },
    required: ["query"]
  }
}

const words = (text: string) =>
  text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 1)

const score = (tool: ToolDefinition, query: ReadonlyArray<string>) => {
  const name = words(`${tool.server} ${tool.tool}`)
  const description = words(tool.description ?? "")
  let total = 0
  for (const word of query) {
    if (name.some((part) => part === word)) total += 3
    else if (name.some((part) => part.includes(word))) total += 2
    if (description.includes(word)) total += 1
  }
  return total
}

/** The best matches among `tools` (not yet offered first), and the text the model reads. */
export const search = (
  args: JsonObject,
  tools: ReadonlyArray<ToolDefinition>,
  room: number
): { readonly found: ReadonlyArray<ToolDefinition>; readonly text: string } => {
  const query = Predicate.isString(args.query) ? words(args.query) : []
  if (query.length === 0) return { found: [], text: 'Error: give "query", a few keywords.' }
  const found = tools
    .map((tool) => ({ tool, score: score(tool, query) }))
    .filter((entry) => entry.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, Math.max(1, Math.min(resultsPerSearch, room)))
    .map((entry) => entry.tool)
  if (found.length === 0) {
    const servers = [...new Set(tools.map((tool) => tool.server))].join(", ")
    return {
      found,
      text: `No tool matches "${String(args.query)}". Try other words; the servers are: ${servers}.`
    }
  }
  const lines = found.map(
    (tool) => `- ${tool.name}: ${(tool.description ?? "").split("\n")[0]?.slice(0, 200)}`
  )
  return { found, text: `Found ${found.length} tools; you can call them from now on:\n${lines.join("\n")}` }
}
