/**
 * HTML → Markdown for `builtin__fetch`: cheerio removes the page furniture (scripts,
 * styles, navigation, forms) and makes links absolute, turndown writes Markdown.
 * The aim is what a model needs to read a page: title, headings, text, links, lists,
 * tables, code.
 */
import * as cheerio from "cheerio"
import TurndownService from "turndown"

export interface MarkdownPage {
  readonly title: string | undefined
  readonly markdown: string
}

/** What the rules below read of turndown's DOM nodes (its types need the DOM lib). */
interface DomNode {
  readonly nodeName: string
  readonly parentNode: DomNode | null
  readonly nextSibling: DomNode | null
  readonly children: ArrayLike<DomNode>
  readonly childNodes: ArrayLike<DomNode>
  readonly getAttribute: (name: string) => string | null
  readonly querySelector: (selector: string) => DomNode | null
}
const dom = (node: unknown): DomNode => node as DomNode

// Never content: code, media without text, and the page's furniture.
const noise = [
  "script",
  "style",
  "noscript",
  "template",
  "iframe",
  "object",
  "embed",
  "svg",
  "canvas",
  "video",
  "audio",
  "head",
  "nav",
  "dialog",
  "input",
  "button",
  "select",
  "textarea",
  "[role=navigation]",
  "[role=search]",
  "[role=contentinfo]",
  "[aria-hidden=true]",
  "[hidden]"
].join(",")

const collapse = (text: string) => text.replace(/\s+/g, " ").trim()

const resolveUrl = (href: string, base: URL): string | undefined =>
  URL.canParse(href.trim(), base.href) ? new URL(href.trim(), base).href : undefined

const cellText = (content: string) => collapse(content).replace(/\|/g, "\\|")

const makeTurndown = (): TurndownService => {
  const service = new TurndownService({
    headingStyle: "atx",
    codeBlockStyle: "fenced",
    bulletListMarker: "-",
    emDelimiter: "_",
    strongDelimiter: "**"
  })
  // `- item` / `1. item` instead of turndown's `-   item`: same Markdown, fewer tokens.
  service.addRule("compactListItem", {
    filter: "li",
    replacement: (content, rawNode) => {
      const node = dom(rawNode)
      const parent = node.parentNode
      let prefix = "- "
      if (parent?.nodeName === "OL") {
        const start = Number(parent.getAttribute("start") ?? "1")
        const index = Array.prototype.indexOf.call(parent.children, node)
        prefix = `${(Number.isFinite(start) ? start : 1) + index}. `
      }
      const isParagraph = /\n$/.test(content)
      const body = content.replace(/^\n+|\n+$/g, "") + (isParagraph ? "\n" : "")
      return prefix + body.replace(/\n/g, `\n${" ".repeat(prefix.length)}`) + (node.nextSibling ? "\n" : "")
    }
  })
  // GFM tables (turndown itself has none): one line per row, a rule after the first.
  service.addRule("tableCell", {
    filter: ["th", "td"],
    replacement: (content, rawNode) => {
      const node = dom(rawNode)
      const first =
        node.parentNode !== null && Array.prototype.indexOf.call(node.parentNode.children, node) === 0
      return `${first ? "| " : " "}${cellText(content)} |`
    }
  })
  service.addRule("tableRow", {
    filter: "tr",
    replacement: (content, rawNode) => {
      const node = dom(rawNode)
      const table = closestTable(node)
      const firstRow = table?.querySelector("tr") === rawNode
      const rule = firstRow ? `\n|${" --- |".repeat(Math.max(1, node.children.length))}` : ""
      return `\n${content.trim()}${rule}`
    }
  })
  service.addRule("tableSection", { filter: ["thead", "tbody", "tfoot"], replacement: (content) => content })
  service.addRule("table", { filter: "table", replacement: (content) => `\n\n${content.trim()}\n\n` })
  service.addRule("caption", { filter: "caption", replacement: () => "" })
  return service
}

const closestTable = (node: DomNode): DomNode | undefined => {
  let current: DomNode | null = node.parentNode
  while (current !== null && current.nodeName !== "TABLE") current = current.parentNode
  return current ?? undefined
}

const turndown = makeTurndown()

/** Converts a page; `pageUrl` is where it came from (for relative links and `<base>`). */
export const htmlToMarkdown = (html: string, pageUrl: URL): MarkdownPage => {
  const $ = cheerio.load(html)
  const title =
    collapse($("title").first().text()) || collapse($('meta[property="og:title"]').attr("content") ?? "")
  const baseHref = $("base[href]").first().attr("href")
  const base =
    baseHref !== undefined && URL.canParse(baseHref, pageUrl.href) ? new URL(baseHref, pageUrl) : pageUrl

  $(noise).remove()
  // A page footer is boilerplate; an article's own footer (author, date) is kept.
  $("footer")
    .filter((_, element) => $(element).closest("article").length === 0)
    .remove()
  // A table inside a table cannot be a GFM table: flatten the inner one to text.
  $("table table").each((_, element) => {
    $(element).replaceWith(`<span>${$(element).text()}</span>`)
  })

  $("a").each((_, element) => {
    const link = $(element)
    const href = link.attr("href")
    const target = href === undefined ? undefined : resolveUrl(href, base)
    // Script and same-page links carry no place to go: keep their text only.
    if (target === undefined || !/^https?:/i.test(target) || href?.trim().startsWith("#")) {
      link.replaceWith(link.contents())
    } else {
      link.attr("href", target)
    }
  })
  $("img").each((_, element) => {
    const image = $(element)
    const alt = collapse(image.attr("alt") ?? "")
    const src = resolveUrl(image.attr("src") ?? "", base)
    if (alt === "" || src === undefined || !/^https?:/i.test(src)) image.remove()
    else image.attr("src", src)
  })

  // The main content when the page marks it, else the whole body.
  const main = $("main, [role=main]").first()
  const root = main.length > 0 && collapse(main.text()).length > 0 ? main : $("body")
  const markdown = turndown
    .turndown($.html(root.length > 0 ? root : $.root()) ?? "")
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()
  return { title: title === "" ? undefined : title, markdown }
}
