/**
 * The builtin tools (docs/connections.md#builtin-tools, #fetch-tool, #web-search-tool):
 * `fetch` and `web_search`, offered as a tool provider
 * named `builtin` that the client manager lists and routes like any MCP server.
 *
 * Every failure a model can cause or meet (a refused address, a timeout, a 404, a
 * PDF, a search engine's error) is an `isError` result with a sentence it can act
 * on; `ToolCallError` is only for a tool name this provider does not have.
 *
 * Choices written down here because a reader will ask:
 * - Download cap: past `maxBytes` (default 5 MB, counted after decompression) the
 *   rest is not read; the page is converted from what arrived and says it was cut.
 * - `maxChars` (default 20,000) cuts the converted text and says how much there was.
 * - Redirects: at most 5, each hop vetted by the SSRF guard before connecting.
 * - `web_search` reaches its endpoint through effect's `FetchHttpClient.Fetch`
 *   (`globalThis.fetch` unless the embedding app or a test provides another): the
 *   endpoint comes from the user's configuration, not from a model, so the SSRF
 *   guard does not apply to it.
 * - `fetch` does not take that reference: its connections are pinned to the addresses
 *   the SSRF guard vetted (internal/SafeFetch.ts), which a `fetch` function cannot
 *   promise. A provided resolver (`options.resolver`) is how tests steer it.
 */
import type { IncomingHttpHeaders } from "node:http"
import type { BuiltinsConfig } from "@mcpgate/core/Config"
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js"
import { Context, Effect, Layer, Result, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { ToolCallError } from "./Errors.ts"
import { contentKind, decodeText, parseContentType, sniffKind } from "./internal/Content.ts"
import { FetchFailure, type SafeResponse, safeFetch } from "./internal/SafeFetch.ts"
import type { SearchResult } from "./internal/SearchResults.ts"
import { type Resolver, systemResolver } from "./internal/Ssrf.ts"
import type { CallOptions, ToolProvider } from "./ToolProvider.ts"

export type { ResolvedAddress, Resolver } from "./internal/Ssrf.ts"
export { HostNotFound } from "./internal/Ssrf.ts"

export const defaultFetchTimeoutMs = 20_000
export const defaultMaxBytes = 5 * 1024 * 1024
export const defaultMaxChars = 20_000
export const maxMaxChars = 1_000_000
export const defaultMaxResults = 8
export const maxMaxResults = 20
export const maxRedirects = 5
export const defaultDuckDuckGoEndpoint = "https://html.duckduckgo.com/html/"

export interface BuiltinToolsOptions {
  /** Host name resolution for `fetch` (default: the system resolver, every address). */
  readonly resolver?: Resolver
  /** Whole-call timeout for both tools, redirects included; a call's own `timeoutMs` wins. */
  readonly fetchTimeoutMs?: number
  /** Decompressed bytes `fetch` reads at most. */
  readonly maxBytes?: number
  /** Replaces `builtins.webSearch.endpoint`. */
  readonly searchEndpoint?: string
  /**
   * TEST ONLY: exact addresses the SSRF guard lets through although they are not
   * public. The guard's per-hop check can only be shown end to end with a local
   * first hop (a test cannot bind a public address), so a test trusts `127.0.0.1`
   * and watches a redirect to any other private address be refused. Never set this
   * from configuration; `builtins.fetch.allowPrivateNetwork` is the user's switch.
   */
  readonly testOnlyTrustedAddresses?: ReadonlyArray<string>
}

export interface BuiltinToolsShape extends ToolProvider {
  readonly name: "builtin"
}

const userAgent = "Mozilla/5.0 (compatible; mcpgate/0.1)"

const fetchTool: Tool = {
  name: "fetch",
  title: "Fetch a web page",
  description:
    "Fetches a public http(s) URL and returns its content as text. HTML pages are converted to Markdown " +
    "(title, headings, links, lists, tables); JSON is pretty-printed; plain text, Markdown and XML are " +
    "returned as they are. Images, PDFs and other binary files are not supported. Addresses on local or " +
    "private networks are refused. Long content is cut at maxChars characters.",
  inputSchema: {
    type: "object",
    properties: {
      url: { type: "string", description: "The absolute http:// or https:// URL to fetch." },
      maxChars: {
        type: "integer",
        minimum: 1,
        maximum: maxMaxChars,
        default: defaultMaxChars,
        description: `Most characters of converted text to return (default ${defaultMaxChars}). Raise it to read more of a long page.`
      }
    },
    required: ["url"],
    additionalProperties: false
  },
  annotations: { title: "Fetch a web page", readOnlyHint: true, openWorldHint: true }
}

const webSearchTool: Tool = {
  name: "web_search",
  title: "Search the web",
  description:
    "Searches the web and returns a numbered list of results, each with its title, URL and a short snippet. " +
    "Use fetch on a result's URL to read the page.",
  inputSchema: {
    type: "object",
    properties: {
      query: {
        type: "string",
        description: "What to search for, as you would type it into a search engine."
      },
      maxResults: {
        type: "integer",
        minimum: 1,
        maximum: maxMaxResults,
        default: defaultMaxResults,
        description: `How many results to return (default ${defaultMaxResults}, at most ${maxMaxResults}).`
      }
    },
    required: ["query"],
    additionalProperties: false
  },
  annotations: { title: "Search the web", readOnlyHint: true, openWorldHint: true }
}

const FetchArgs = Schema.Struct({
  url: Schema.String,
  maxChars: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: maxMaxChars })))
})

const SearchArgs = Schema.Struct({
  query: Schema.String.check(Schema.isMinLength(1)),
  maxResults: Schema.optionalKey(Schema.Finite)
})

const textResult = (text: string): CallToolResult => ({ content: [{ type: "text", text }] })
const errorResult = (text: string): CallToolResult => ({ content: [{ type: "text", text }], isError: true })

const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MB`
    : bytes >= 1024
      ? `${Math.round(bytes / 1024)} KB`
      : `${bytes} bytes`

const formatSeconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`

/** Cuts at `maxChars` without splitting a surrogate pair, and says so. */
const truncateText = (text: string, maxChars: number): string => {
  if (text.length <= maxChars) return text
  const end = /[\uD800-\uDBFF]/.test(text.charAt(maxChars - 1)) ? maxChars - 1 : maxChars
  return (
    `${text.slice(0, end)}\n\n[truncated: showing the first ${end} of ${text.length} characters; ` +
    "call fetch again with a larger maxChars to read more]"
  )
}

const excerpt = (text: string, maxChars: number): string =>
  text.length <= maxChars ? text : `${text.slice(0, maxChars).replace(/[\uD800-\uDBFF]$/, "")}…`

const prettyJson = (text: string): string => {
  // Invalid (or cut-off) JSON is still worth showing as it is.
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

/**
 * The HTML converter (turndown, cheerio) and the search result parsers load when a tool
 * first needs them, not when the gateway starts: most gateways never call them.
 */
const loadHtml = Effect.promise(() => import("./internal/HtmlToMarkdown.ts"))
const loadSearch = Effect.promise(() => import("./internal/SearchResults.ts"))

/** The converted text of a response, or undefined when it is not text at all. */
const render = (
  response: SafeResponse,
  htmlToMarkdown: typeof import("./internal/HtmlToMarkdown.ts")["htmlToMarkdown"]
): string | undefined => {
  const media = parseContentType(response.headers["content-type"])
  const body = response.body
  if (body === undefined) return undefined
  const kind = media.essence === "" ? sniffKind(body) : contentKind(media.essence)
  if (kind === undefined) return undefined
  const text = decodeText(body, kind, media.charset)
  const source = `Source: ${response.url.href}`
  switch (kind) {
    case "html": {
      const page = htmlToMarkdown(text, response.url)
      if (page.title === undefined) return `${source}\n\n${page.markdown}`
      // The title goes on top; a first heading that repeats it is not said twice.
      const repeated = `# ${page.title}`
      const markdown =
        page.markdown === repeated
          ? ""
          : page.markdown.startsWith(`${repeated}\n`)
            ? page.markdown.slice(repeated.length).trimStart()
            : page.markdown
      return `${repeated}\n\n${source}\n\n${markdown}`.trimEnd()
    }
    case "json":
      return `${source}\n\n\`\`\`json\n${prettyJson(text)}\n\`\`\``
    case "xml":
      return `${source}\n\n\`\`\`xml\n${text.trim()}\n\`\`\``
    case "text":
      return `${source}\n\n${text}`
  }
}

/** Whether a response's body is text worth downloading (binary types are refused unread). */
const wantsBody = (_status: number, headers: IncomingHttpHeaders): boolean => {
  const essence = parseContentType(headers["content-type"]).essence
  return essence === "" || contentKind(essence) !== undefined
}

class SearchFailure extends Schema.TaggedError<SearchFailure>()("SearchFailure", {
  message: Schema.String
}) {}

interface HttpText {
  readonly status: number
  readonly statusText: string
  readonly text: string
}

const describeFetchError = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = cause.cause
  return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message
}

/** A request to the user's own search endpoint. */
const requestText = (fetch: typeof globalThis.fetch, provider: string, url: URL, init: RequestInit) =>
  Effect.tryPromise({
    try: async (signal): Promise<HttpText> => {
      const response = await fetch(url, { ...init, signal })
      return { status: response.status, statusText: response.statusText, text: await response.text() }
    },
    catch: (cause) =>
      new SearchFailure({
        message: `could not reach ${provider} at ${url.origin}: ${describeFetchError(cause)}`
      })
  }).pipe(
    Effect.flatMap((response) =>
      response.status >= 200 && response.status < 300
        ? Effect.succeed(response)
        : Effect.fail(
            new SearchFailure({
              message:
                `${provider} returned HTTP ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`}` +
                (provider === "SearXNG" && response.status === 403
                  ? " (SearXNG answers JSON only when `json` is listed under search.formats in its settings.yml)"
                  : "")
            })
          )
    )
  )

/** Up to this many result pages per search: 20 results need two pages of about ten. */
const maxPages = 3

const searchDuckDuckGo = Effect.fn("BuiltinTools.searchDuckDuckGo")(function* (
  fetch: typeof globalThis.fetch,
  endpoint: URL,
  query: string,
  maxResults: number
) {
  const { parseDuckDuckGo } = yield* loadSearch
  const results = new Map<string, SearchResult>()
  let form: URLSearchParams | undefined = new URLSearchParams({ q: query })
  for (let page = 0; page < maxPages && form !== undefined && results.size < maxResults; page++) {
    const response = yield* requestText(fetch, "DuckDuckGo", endpoint, {
      method: "POST",
      body: form,
      headers: { "user-agent": userAgent, accept: "text/html", "accept-language": "en-US,en;q=0.8" }
    })
    const parsed = parseDuckDuckGo(response.text)
    if (parsed.blocked) {
      return yield* new SearchFailure({
        message:
          "DuckDuckGo answered with a bot check instead of results; try again in a while, " +
          'or configure a SearXNG instance (builtins.webSearch.provider "searxng")'
      })
    }
    const before = results.size
    for (const result of parsed.results) if (!results.has(result.url)) results.set(result.url, result)
    form = results.size > before ? parsed.next : undefined
  }
  return [...results.values()].slice(0, maxResults)
})

const searxngUrl = (endpoint: URL, query: string, page: number): URL => {
  const base = endpoint.pathname.endsWith("/search")
    ? new URL(endpoint)
    : new URL("search", endpoint.href.endsWith("/") ? endpoint : new URL(`${endpoint.href}/`))
  base.search = new URLSearchParams({ q: query, format: "json", pageno: String(page) }).toString()
  return base
}

const searchSearxng = Effect.fn("BuiltinTools.searchSearxng")(function* (
  fetch: typeof globalThis.fetch,
  endpoint: URL,
  query: string,
  maxResults: number
) {
  const { parseSearxng } = yield* loadSearch
  const results = new Map<string, SearchResult>()
  for (let page = 1; page <= maxPages && results.size < maxResults; page++) {
    const response = yield* requestText(fetch, "SearXNG", searxngUrl(endpoint, query, page), {
      headers: { "user-agent": userAgent, accept: "application/json" }
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(response.text) as unknown,
      catch: () =>
        new SearchFailure({ message: "SearXNG did not answer with JSON (is format=json enabled?)" })
    })
    const parsed = parseSearxng(json)
    if (Result.isFailure(parsed)) {
      return yield* new SearchFailure({ message: `SearXNG answered with unexpected JSON: ${parsed.failure}` })
    }
    const before = results.size
    for (const result of parsed.success) if (!results.has(result.url)) results.set(result.url, result)
    if (results.size === before) break
  }
  return [...results.values()].slice(0, maxResults)
})

export const make = Effect.fn("BuiltinTools.make")(function* (
  config: BuiltinsConfig,
  options: BuiltinToolsOptions = {}
) {
  const resolver = options.resolver ?? systemResolver
  const fetch = yield* FetchHttpClient.Fetch
  const defaultTimeoutMs = options.fetchTimeoutMs ?? defaultFetchTimeoutMs
  const maxBytes = options.maxBytes ?? defaultMaxBytes
  const trusted = new Set(options.testOnlyTrustedAddresses ?? [])

  const tools: ReadonlyArray<Tool> = [
    ...(config.fetch.enabled ? [fetchTool] : []),
    ...(config.webSearch.enabled ? [webSearchTool] : [])
  ]

  const fetchUrl = Effect.fn("BuiltinTools.fetch")(function* (
    args: Readonly<Record<string, unknown>>,
    timeoutMs: number
  ) {
    const decoded = Schema.decodeUnknownResult(FetchArgs)(args, { errors: "all" })
    if (Result.isFailure(decoded))
      return errorResult(`invalid arguments for fetch: ${decoded.failure.message}`)
    const { url: rawUrl, maxChars = defaultMaxChars } = decoded.success
    if (!URL.canParse(rawUrl))
      return errorResult(`invalid URL ${JSON.stringify(rawUrl)}: give an absolute http(s) URL`)
    const url = new URL(rawUrl)

    return yield* safeFetch(url, {
      resolver,
      allowPrivateNetwork: config.fetch.allowPrivateNetwork,
      testOnlyTrustedAddresses: trusted,
      maxBytes,
      maxRedirects,
      headers: {
        "user-agent": userAgent,
        accept: "text/html,application/xhtml+xml,application/json;q=0.9,text/plain;q=0.8,*/*;q=0.5",
        "accept-encoding": "gzip, deflate, br"
      },
      wantsBody
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.fail(
            new FetchFailure({
              url: url.href,
              message: `timed out after ${formatSeconds(timeoutMs)} fetching ${url.href}`
            })
          )
      }),
      Effect.flatMap((response) => Effect.map(loadHtml, (html) => [response, html.htmlToMarkdown] as const)),
      Effect.map(([response, htmlToMarkdown]) => {
        const ok = response.status >= 200 && response.status < 300
        const statusLine = `HTTP ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`} from ${response.url.href}`
        const rendered = render(response, htmlToMarkdown)
        if (rendered === undefined) {
          if (!ok) return errorResult(statusLine)
          const type = parseContentType(response.headers["content-type"]).essence
          return errorResult(
            `unsupported content type ${type === "" ? "(binary data without a Content-Type)" : type} at ` +
              `${response.url.href}: fetch returns web pages and text (HTML, plain text, Markdown, JSON, XML), ` +
              "not images, PDFs, audio, video or other binary files"
          )
        }
        const cut = response.truncated
          ? `\n\n[truncated: the response is larger than ${formatBytes(maxBytes)}; only the first ${formatBytes(maxBytes)} were read]`
          : ""
        // An error page often says why; a short excerpt of it goes with the status.
        return ok
          ? textResult(truncateText(rendered, maxChars) + cut)
          : errorResult(`${statusLine}\n\n${excerpt(rendered, 2_000)}`)
      }),
      Effect.catch((failure) => Effect.succeed(errorResult(failure.message)))
    )
  })

  const webSearch = Effect.fn("BuiltinTools.webSearch")(function* (
    args: Readonly<Record<string, unknown>>,
    timeoutMs: number
  ) {
    const decoded = Schema.decodeUnknownResult(SearchArgs)(args, { errors: "all" })
    if (Result.isFailure(decoded))
      return errorResult(`invalid arguments for web_search: ${decoded.failure.message}`)
    const query = decoded.success.query.trim()
    if (query === "") return errorResult("invalid arguments for web_search: the query is empty")
    // Lenient on purpose: a model asking for 50 results gets the 20 allowed, not an error.
    const maxResults = Math.min(
      maxMaxResults,
      Math.max(1, Math.floor(decoded.success.maxResults ?? defaultMaxResults))
    )

    const { provider } = config.webSearch
    const endpoint =
      options.searchEndpoint ??
      config.webSearch.endpoint ??
      (provider === "duckduckgo" ? defaultDuckDuckGoEndpoint : undefined)
    if (endpoint === undefined) {
      return errorResult(
        "web search is not configured: builtins.webSearch.endpoint is required for the searxng provider"
      )
    }
    if (!URL.canParse(endpoint))
      return errorResult(`web search is misconfigured: invalid endpoint ${JSON.stringify(endpoint)}`)
    const endpointUrl = new URL(endpoint)

    return yield* (
      provider === "searxng"
        ? searchSearxng(fetch, endpointUrl, query, maxResults)
        : searchDuckDuckGo(fetch, endpointUrl, query, maxResults)
    ).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.fail(new SearchFailure({ message: `timed out after ${formatSeconds(timeoutMs)}` }))
      }),
      Effect.flatMap((results) =>
        Effect.map(loadSearch, ({ formatResults }) => textResult(formatResults(query, results)))
      ),
      Effect.catch((failure) => Effect.succeed(errorResult(`web search failed: ${failure.message}`)))
    )
  })

  const callTool = Effect.fn("BuiltinTools.callTool")(function* (
    tool: string,
    args: Readonly<Record<string, unknown>>,
    callOptions?: CallOptions
  ) {
    const timeoutMs = callOptions?.timeoutMs ?? defaultTimeoutMs
    if (tool === "fetch" && config.fetch.enabled) return yield* fetchUrl(args, timeoutMs)
    if (tool === "web_search" && config.webSearch.enabled) return yield* webSearch(args, timeoutMs)
    const known = tool === "fetch" || tool === "web_search"
    return yield* new ToolCallError({
      server: "builtin",
      tool,
      reason: "unknown_tool",
      message: known
        ? `the builtin tool ${tool} is disabled in the configuration`
        : `builtin has no tool named ${tool}`
    })
  })

  return {
    name: "builtin",
    listTools: Effect.succeed(tools),
    callTool
  } satisfies BuiltinToolsShape as BuiltinToolsShape
})

/** `builtin__fetch` and `builtin__web_search` as a tool provider named `builtin`. */
export class BuiltinTools extends Context.Service<BuiltinTools, BuiltinToolsShape>()(
  "@mcpgate/transport/BuiltinTools"
) {
  static readonly make = make
  static readonly layer = (config: BuiltinsConfig, options?: BuiltinToolsOptions) =>
    Layer.effect(BuiltinTools, make(config, options))
}
