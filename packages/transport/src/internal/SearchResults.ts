/**
 * Reading search results for `builtin__web_search`: DuckDuckGo's HTML page (parsed
 * with cheerio, never with regular expressions) and SearXNG's JSON API, both turned
 * into the same list, and that list into Markdown for a model.
 */
import * as cheerio from "cheerio"
import { Result, Schema } from "effect"

export interface SearchResult {
  readonly title: string
  readonly url: string
  readonly snippet: string
}

export interface DuckDuckGoPage {
  readonly results: ReadonlyArray<SearchResult>
  /** The hidden fields of the "Next" form, when the page has one. */
  readonly next: URLSearchParams | undefined
  /** DuckDuckGo answered with its bot check instead of results. */
  readonly blocked: boolean
}

const collapse = (text: string) => text.replace(/\s+/g, " ").trim()

/**
 * DuckDuckGo wraps result links as `//duckduckgo.com/l/?uddg=<encoded target>&rut=…`;
 * returns the target, or the link itself when it is not wrapped. Undefined for ads
 * (`/y.js`) and for anything that does not end up as an http(s) URL.
 */
export const decodeDuckDuckGoLink = (href: string): string | undefined => {
  const base = "https://duckduckgo.com/"
  if (!URL.canParse(href, base)) return undefined
  const url = new URL(href, base)
  const isDuckDuckGo = url.hostname === "duckduckgo.com" || url.hostname.endsWith(".duckduckgo.com")
  if (isDuckDuckGo && url.pathname === "/y.js") return undefined
  const target = isDuckDuckGo && url.pathname === "/l/" ? url.searchParams.get("uddg") : url.href
  if (target === null || !URL.canParse(target)) return undefined
  const parsed = new URL(target)
  return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : undefined
}

/** Parses one page of `html.duckduckgo.com/html/` results. */
export const parseDuckDuckGo = (html: string): DuckDuckGoPage => {
  const $ = cheerio.load(html)
  const results: Array<SearchResult> = []
  $(".result").each((_, element) => {
    const result = $(element)
    if (result.is(".result--ad") || result.find(".badge--ad").length > 0) return
    const anchor = result.find("a.result__a").first()
    const url = decodeDuckDuckGoLink(anchor.attr("href") ?? "")
    const title = collapse(anchor.text())
    if (url === undefined || title === "") return
    results.push({ title, url, snippet: collapse(result.find(".result__snippet").first().text()) })
  })

  const nextForm = $("form")
    .filter(
      (_, form) =>
        $(form)
          .find('input[type="submit"]')
          .filter((_, i) => /next/i.test($(i).val()?.toString() ?? "")).length > 0
    )
    .first()
  const next =
    nextForm.length === 0
      ? undefined
      : new URLSearchParams(
          nextForm
            .find('input[type="hidden"][name]')
            .toArray()
            .map(
              (input) => [$(input).attr("name") ?? "", $(input).val()?.toString() ?? ""] as [string, string]
            )
        )

  const blocked = results.length === 0 && ($(".anomaly-modal").length > 0 || $("#challenge-form").length > 0)
  return { results, next, blocked }
}

const SearxngResponse = Schema.Struct({
  results: Schema.Array(
    Schema.Struct({
      url: Schema.String,
      title: Schema.optionalKey(Schema.NullOr(Schema.String)),
      content: Schema.optionalKey(Schema.NullOr(Schema.String))
    })
  )
})

/** Maps a SearXNG `format=json` answer; a failure message when it is not one. */
export const parseSearxng = (json: unknown): Result.Result<ReadonlyArray<SearchResult>, string> =>
  Schema.decodeUnknownResult(SearxngResponse)(json).pipe(
    Result.map(({ results }) =>
      results.flatMap((result) => {
        const url = URL.canParse(result.url) ? new URL(result.url) : undefined
        if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) return []
        return [
          {
            title: collapse(result.title ?? "") || url.href,
            url: url.href,
            snippet: collapse(result.content ?? "")
          }
        ]
      })
    ),
    Result.mapError((error) => error.message)
  )

/** A numbered Markdown list: title, URL, snippet. */
export const formatResults = (query: string, results: ReadonlyArray<SearchResult>): string => {
  if (results.length === 0) return `No results found for "${query}".`
  const items = results.map((result, index) => {
    const lines = [`${index + 1}. **${result.title.replace(/\*/g, "\\*")}**`, `   ${result.url}`]
    if (result.snippet !== "") lines.push(`   ${result.snippet}`)
    return lines.join("\n")
  })
  return `Search results for "${query}":\n\n${items.join("\n\n")}`
}
