import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import type { BuiltinsConfig } from "@mcpgate/core/Config"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"
import { FetchHttpClient } from "effect/http"
import { BuiltinTools } from "../src/BuiltinTools.ts"
import { decodeDuckDuckGoLink, parseDuckDuckGo } from "../src/internal/SearchResults.ts"
import { localServer } from "./fixtures/LocalServer.ts"

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")
const page1 = fixture("duckduckgo-page1.html")
const page2 = fixture("duckduckgo-page2.html")
const noResults = fixture("duckduckgo-no-results.html")
const anomaly = fixture("duckduckgo-anomaly.html")
const searxng = fixture("searxng.json")

const config = (provider: "duckduckgo" | "searxng", endpoint?: string): BuiltinsConfig => ({
  // The guard is on: the search endpoint is the user's own and is not subject to it.
  fetch: { enabled: true, allowPrivateNetwork: false },
  webSearch: { enabled: true, provider, ...(endpoint === undefined ? {} : { endpoint }) }
})

const textOf = (result: CallToolResult): string =>
  result.content.map((block) => (block.type === "text" ? block.text : "")).join("")

const search = (cfg: BuiltinsConfig, args: Record<string, unknown>, searchEndpoint?: string) =>
  Effect.gen(function* () {
    const tools = yield* BuiltinTools.make(cfg, searchEndpoint === undefined ? {} : { searchEndpoint })
    return yield* tools.callTool("web_search", args)
  })

/** A DuckDuckGo look-alike: page 1 for a new query, page 2 for the "Next" form. */
const duckDuckGo = (firstPage: string = page1, status = 200) =>
  localServer((req, res) => {
    const form = new URLSearchParams(req.body)
    res.writeHead(req.method === "POST" && req.url === "/html/" ? status : 404, {
      "content-type": "text/html; charset=UTF-8"
    })
    res.end(form.get("s") === "10" ? page2 : firstPage)
  })

const expectedFirstThree =
  'Search results for "model context protocol oauth":\n\n' +
  "1. **Authorization — Model Context Protocol**\n" +
  "   https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization\n" +
  "   The Model Context Protocol provides authorization capabilities at the transport level, enabling MCP " +
  "clients to make requests to restricted MCP servers on behalf of resource owners. This specification defines " +
  "the authorization flow for HTTP-based transports.\n\n" +
  "2. **RFC 9728: OAuth 2.0 Protected Resource Metadata**\n" +
  "   https://datatracker.ietf.org/doc/html/rfc9728\n" +
  "   This specification defines a metadata format that an OAuth 2.0 client or authorization server can use to " +
  "obtain the information needed to interact with an OAuth 2.0 protected resource.\n\n" +
  '3. **"Tokens" & <Scopes>: MCP OAuth, Explained — Part 2**\n' +
  "   https://example.org/blog/mcp-oauth?q=a&b=c#part-2\n" +
  "   Dynamic client registration isn't required – but it's recommended. We look at PKCE, resource indicators " +
  "(RFC 8707) and why audience matters…"

describe("builtin web_search: DuckDuckGo", () => {
  it.live("parses the HTML results: ads skipped, redirect links decoded, entities decoded", () =>
    Effect.gen(function* () {
      const server = yield* duckDuckGo()
      const result = yield* search(config("duckduckgo", `${server.origin}/html/`), {
        query: "model context protocol oauth",
        maxResults: 3
      })
      assert.notStrictEqual(result.isError, true)
      assert.strictEqual(textOf(result), expectedFirstThree)
      assert.notInclude(textOf(result), "Buy OAuth")
      // One POST with the query as a form field; three results need no second page.
      assert.strictEqual(server.requests.length, 1)
      assert.strictEqual(server.requests[0]?.method, "POST")
      assert.strictEqual(
        new URLSearchParams(server.requests[0]?.body).get("q"),
        "model context protocol oauth"
      )
      assert.match(server.requests[0]?.headers["user-agent"] ?? "", /mcpgate/)
    })
  )

  it.live("reads the next page when more results are wanted, without repeating a result", () =>
    Effect.gen(function* () {
      const server = yield* duckDuckGo()
      const text = textOf(
        yield* search(
          config("duckduckgo"),
          { query: "model context protocol oauth" },
          `${server.origin}/html/`
        )
      )
      const urls = [...text.matchAll(/^ {3}(https?:\/\/\S+)$/gm)].map((match) => match[1])
      assert.deepStrictEqual(urls, [
        "https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization",
        "https://datatracker.ietf.org/doc/html/rfc9728",
        "https://example.org/blog/mcp-oauth?q=a&b=c#part-2",
        "https://github.com/modelcontextprotocol/typescript-sdk",
        "https://www.rfc-editor.org/rfc/rfc8707.html",
        "https://oauth.net/2/pkce/",
        "https://aaronparecki.com/2025/04/03/15/oauth-for-model-context-protocol"
      ])
      assert.include(text, "7. **Let's fix OAuth in MCP**")
      assert.strictEqual(server.requests.length, 2)
      const next = new URLSearchParams(server.requests[1]?.body)
      assert.strictEqual(next.get("s"), "10")
      assert.strictEqual(next.get("vqd"), "4-123456789012345678901234567890")
    })
  )

  it.live("says plainly when there are no results", () =>
    Effect.gen(function* () {
      const server = yield* duckDuckGo(noResults)
      const result = yield* search(config("duckduckgo", `${server.origin}/html/`), { query: "zzqxvplkwjh" })
      assert.notStrictEqual(result.isError, true)
      assert.strictEqual(textOf(result), 'No results found for "zzqxvplkwjh".')
    })
  )

  it.live("reports DuckDuckGo's bot check and HTTP failures as isError", () =>
    Effect.gen(function* () {
      const blocked = yield* duckDuckGo(anomaly, 202)
      const result = yield* search(config("duckduckgo", `${blocked.origin}/html/`), { query: "x" })
      assert.strictEqual(result.isError, true)
      assert.match(textOf(result), /^web search failed: DuckDuckGo answered with a bot check/)

      const broken = yield* duckDuckGo(page1, 503)
      const failed = yield* search(config("duckduckgo", `${broken.origin}/html/`), { query: "x" })
      assert.strictEqual(failed.isError, true)
      assert.strictEqual(
        textOf(failed),
        "web search failed: DuckDuckGo returned HTTP 503 Service Unavailable"
      )
    })
  )

  it.live("reports an unreachable endpoint as isError", () =>
    Effect.gen(function* () {
      const port = yield* Effect.scoped(duckDuckGo().pipe(Effect.map((server) => server.port)))
      const result = yield* search(config("duckduckgo", `http://127.0.0.1:${port}/html/`), { query: "x" })
      assert.strictEqual(result.isError, true)
      assert.match(
        textOf(result),
        /^web search failed: could not reach DuckDuckGo at http:\/\/127\.0\.0\.1:\d+: fetch failed/
      )
    })
  )

  it("decodes DuckDuckGo's wrapped links and drops ads", () => {
    assert.strictEqual(
      decodeDuckDuckGoLink(
        "//duckduckgo.com/l/?uddg=https%3A%2F%2Fexample.com%2Fa%3Fb%3D1%26c%3D%25E2%2582%25AC&rut=x"
      ),
      "https://example.com/a?b=1&c=%E2%82%AC"
    )
    assert.strictEqual(decodeDuckDuckGoLink("https://example.com/plain"), "https://example.com/plain")
    assert.isUndefined(decodeDuckDuckGoLink("https://duckduckgo.com/y.js?ad_domain=x"))
    assert.isUndefined(decodeDuckDuckGoLink("//duckduckgo.com/l/?uddg=javascript%3Aalert(1)"))
    assert.isUndefined(decodeDuckDuckGoLink("//duckduckgo.com/l/?rut=missing"))
    const parsed = parseDuckDuckGo(page1)
    assert.strictEqual(parsed.results.length, 5)
    assert.isFalse(parsed.blocked)
    assert.isTrue(parseDuckDuckGo(anomaly).blocked)
    assert.isUndefined(parseDuckDuckGo(page2).next)
  })
})

describe("builtin web_search: SearXNG", () => {
  const searx = (status = 200, body = searxng) =>
    localServer((req, res) => {
      const url = new URL(req.url, "http://127.0.0.1")
      if (url.pathname !== "/searx/search" || url.searchParams.get("format") !== "json") {
        res.writeHead(404)
        res.end()
        return
      }
      res.writeHead(status, { "content-type": "application/json" })
      res.end(url.searchParams.get("pageno") === "1" ? body : '{"query":"x","results":[]}')
    })

  it.live("maps results[].{title,url,content} and skips non-web links", () =>
    Effect.gen(function* () {
      const server = yield* searx()
      const result = yield* search(config("searxng", `${server.origin}/searx`), {
        query: "model context protocol"
      })
      assert.strictEqual(
        textOf(result),
        'Search results for "model context protocol":\n\n' +
          "1. **Introduction - Model Context Protocol**\n" +
          "   https://modelcontextprotocol.io/introduction\n" +
          "   MCP is an open protocol that standardizes how applications provide context to LLMs.\n\n" +
          "2. **Model Context Protocol · GitHub**\n" +
          "   https://github.com/modelcontextprotocol\n" +
          "   An open protocol that enables seamless integration between LLM applications and external data " +
          "sources and tools.\n\n" +
          "3. **Model Context Protocol - Wikipedia**\n" +
          "   https://en.wikipedia.org/wiki/Model_Context_Protocol"
      )
      const first = new URL(server.requests[0]?.url ?? "", server.origin)
      assert.strictEqual(first.searchParams.get("q"), "model context protocol")
      // Fewer results than wanted: page 2 is asked for, and its emptiness ends the search.
      assert.deepStrictEqual(
        server.requests.map((r) => new URL(r.url, server.origin).searchParams.get("pageno")),
        ["1", "2"]
      )
    })
  )

  it.live("honours maxResults (and clamps it to 20)", () =>
    Effect.gen(function* () {
      const server = yield* searx()
      const two = textOf(
        yield* search(config("searxng", `${server.origin}/searx/`), { query: "mcp", maxResults: 2 })
      )
      assert.include(two, "2. **Model Context Protocol · GitHub**")
      assert.notInclude(two, "3. ")
      assert.strictEqual(server.requests.length, 1)
      const many = yield* search(config("searxng", `${server.origin}/searx/search`), {
        query: "mcp",
        maxResults: 500
      })
      assert.notStrictEqual(many.isError, true)
      assert.include(textOf(many), "3. **Model Context Protocol - Wikipedia**")
    })
  )

  it.live("reports HTTP errors, with a hint for a disabled JSON format", () =>
    Effect.gen(function* () {
      const forbidden = yield* searx(403, "Forbidden")
      const result = yield* search(config("searxng", `${forbidden.origin}/searx`), { query: "mcp" })
      assert.strictEqual(result.isError, true)
      assert.strictEqual(
        textOf(result),
        "web search failed: SearXNG returned HTTP 403 Forbidden (SearXNG answers JSON only when `json` is listed " +
          "under search.formats in its settings.yml)"
      )
      const broken = yield* searx(500, "oops")
      assert.strictEqual(
        textOf(yield* search(config("searxng", `${broken.origin}/searx`), { query: "mcp" })),
        "web search failed: SearXNG returned HTTP 500 Internal Server Error"
      )
      const notJson = yield* searx(200, "<html>not json</html>")
      assert.match(
        textOf(yield* search(config("searxng", `${notJson.origin}/searx`), { query: "mcp" })),
        /^web search failed: SearXNG did not answer with JSON/
      )
      const wrongShape = yield* searx(200, '{"results":[{"title":"no url"}]}')
      assert.match(
        textOf(yield* search(config("searxng", `${wrongShape.origin}/searx`), { query: "mcp" })),
        /^web search failed: SearXNG answered with unexpected JSON: Missing key/
      )
    })
  )

  it.effect("needs an endpoint, and a query", () =>
    Effect.gen(function* () {
      const missing = yield* search(config("searxng"), { query: "mcp" })
      assert.strictEqual(missing.isError, true)
      assert.strictEqual(
        textOf(missing),
        "web search is not configured: builtins.webSearch.endpoint is required for the searxng provider"
      )
      const empty = yield* search(config("duckduckgo", "http://127.0.0.1:9/html/"), { query: "   " })
      assert.strictEqual(textOf(empty), "invalid arguments for web_search: the query is empty")
      const absent = yield* search(config("duckduckgo", "http://127.0.0.1:9/html/"), {})
      assert.match(textOf(absent), /^invalid arguments for web_search: Missing key\n {2}at \["query"\]/)
    })
  )
})

describe("builtin web_search: the network", () => {
  it.effect("reaches the endpoint through the FetchHttpClient.Fetch it was built with", () =>
    Effect.gen(function* () {
      const requests: Array<string> = []
      // Stands in for the public internet: an embedding app's own fetch.
      const fetch: typeof globalThis.fetch = async (input) => {
        requests.push(input instanceof Request ? input.url : String(input))
        return new Response(searxng, { headers: { "content-type": "application/json" } })
      }
      const result = yield* search(config("searxng", "https://search.example/"), {
        query: "model context protocol",
        maxResults: 2
      }).pipe(Effect.provideService(FetchHttpClient.Fetch, fetch))
      assert.notStrictEqual(result.isError, true, textOf(result))
      assert.include(textOf(result), 'Search results for "model context protocol"')
      assert.deepStrictEqual(requests, [
        "https://search.example/search?q=model+context+protocol&format=json&pageno=1"
      ])
    })
  )
})
