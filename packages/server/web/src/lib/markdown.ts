/**
 * Markdown for tool descriptions and model answers: `marked` turns it into
 * HTML (raw HTML in the source stays text) and DOMPurify sanitises every
 * render before it reaches the page (the text comes from MCP servers and
 * models, neither of which is trusted).
 *
 * `StreamingMarkdown` renders text that grows: top-level blocks that are
 * complete are rendered once and appended; only the last block (the one still
 * growing) is re-rendered, once per animation frame. So what is on screen does
 * not flicker and a selection in an earlier paragraph survives the stream.
 */
import DOMPurify from "dompurify"
import { Marked, type Token, type TokensList } from "marked"

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/**
 * Raw HTML in the Markdown is shown as text, not rendered: models and tool
 * descriptions have no business adding markup, and an event handler never
 * even reaches the sanitiser's parser (which Chrome would report as a CSP
 * violation, though nothing runs).
 */
const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: { html: (token) => escapeHtml(token.text) }
})

// The one instance: it creates the "dompurify" Trusted Types policy the CSP allows (once).
const purifier = DOMPurify

// Links open in a new tab, without giving it this page (no opener, no referrer).
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node instanceof HTMLAnchorElement && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank")
    node.setAttribute("rel", "noopener noreferrer")
  }
})

const sanitize = (html: string): DocumentFragment =>
  purifier.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    // No forms, no inline styles (the CSP forbids them anyway), no media that would phone home.
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "video", "audio"],
    FORBID_ATTR: ["style"]
  })

/** Markdown as a sanitised fragment, ready to insert. */
export const renderMarkdown = (source: string): DocumentFragment =>
  sanitize(marked.parse(source, { async: false }))

const renderTokens = (tokens: ReadonlyArray<Token>, links: TokensList["links"]): DocumentFragment => {
  const list = Object.assign([...tokens], { links }) as TokensList
  return sanitize(marked.parser(list))
}

export class StreamingMarkdown {
  readonly root: HTMLElement
  private source = ""
  /** How many characters of `source` are rendered as final blocks. */
  private committed = 0
  private readonly tail: HTMLElement
  private frame: number | undefined
  private finished = false

  constructor(root: HTMLElement) {
    this.root = root
    this.tail = document.createElement("div")
    this.tail.className = "md-tail"
    root.append(this.tail)
  }

  get text(): string {
    return this.source
  }

  append(delta: string): void {
    if (delta === "" || this.finished) return
    this.source += delta.replace(/\r\n?/g, "\n")
    this.frame ??= window.requestAnimationFrame(() => {
      this.frame = undefined
      this.render(false)
    })
  }

  /** The text is complete: render what is left as final blocks. */
  finish(): void {
    if (this.finished) return
    if (this.frame !== undefined) window.cancelAnimationFrame(this.frame)
    this.frame = undefined
    this.render(true)
    this.finished = true
    this.tail.remove()
  }

  private render(final: boolean): void {
    const rest = this.source.slice(this.committed)
    const tokens = marked.lexer(rest)
    // Every block but the last non-blank one is complete: later text cannot change it.
    let last = tokens.length - 1
    while (last >= 0 && tokens[last]?.type === "space") last--
    const completeCount = final ? tokens.length : Math.max(0, last)
    let offset = 0
    for (let index = 0; index < completeCount; index++) {
      const token = tokens[index]
      if (token === undefined) break
      // The lexer's raw text must be exactly the next piece of the source, or we stop committing.
      if (rest.slice(offset, offset + token.raw.length) !== token.raw) break
      offset += token.raw.length
      this.committed += token.raw.length
      if (token.type === "space") continue
      const block = document.createElement("div")
      block.className = "md-block"
      block.append(renderTokens([token], tokens.links))
      this.root.insertBefore(block, this.tail)
    }
    if (final) {
      this.tail.replaceChildren()
      return
    }
    const remaining = this.source.slice(this.committed)
    this.tail.replaceChildren(remaining.trim() === "" ? "" : renderMarkdown(remaining))
  }
}

/** Splits streamed content into reasoning (`<think>…</think>`) and answer, across chunk boundaries. */
export class ThinkSplitter {
  private inside = false
  private pending = ""

  /** The pieces of `delta`, in order; a tag cut in two waits for the next delta. */
  push(delta: string): Array<{ readonly kind: "reasoning" | "answer"; readonly text: string }> {
    const out: Array<{ kind: "reasoning" | "answer"; text: string }> = []
    let text = this.pending + delta
    this.pending = ""
    while (text.length > 0) {
      const tag = this.inside ? "</think>" : "<think>"
      const at = text.indexOf(tag)
      if (at >= 0) {
        if (at > 0) out.push({ kind: this.inside ? "reasoning" : "answer", text: text.slice(0, at) })
        text = text.slice(at + tag.length)
        this.inside = !this.inside
        continue
      }
      // Keep back a suffix that could be the start of the tag.
      let keep = 0
      for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
        if (tag.startsWith(text.slice(text.length - length))) {
          keep = length
          break
        }
      }
      const emit = text.slice(0, text.length - keep)
      if (emit !== "") out.push({ kind: this.inside ? "reasoning" : "answer", text: emit })
      this.pending = text.slice(text.length - keep)
      text = ""
    }
    return out
  }

  /** What is still held back, when the stream ends. */
  flush(): Array<{ readonly kind: "reasoning" | "answer"; readonly text: string }> {
    const text = this.pending
    this.pending = ""
    return text === "" ? [] : [{ kind: this.inside ? "reasoning" : "answer", text }]
  }
}
