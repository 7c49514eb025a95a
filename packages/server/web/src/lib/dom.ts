/**
 * A few DOM helpers. Text always goes in through `textContent` (never markup):
 * the only HTML the pages insert is sanitised Markdown (markdown.ts).
 */

type Child = Node | string | number | null | undefined | false
type Attribute = string | number | boolean | null | undefined
type Listener = (event: Event) => void

export type Props = Readonly<Record<string, Attribute | Listener>>

/** An element with attributes (`false`/`null`/`undefined` leave one out), `on…` listeners and children. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: ReadonlyArray<Child>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (typeof value === "function") element.addEventListener(key.slice(2).toLowerCase(), value)
    else if (value === true) element.setAttribute(key, "")
    else if (value !== false && value !== null && value !== undefined)
      element.setAttribute(key, String(value))
  }
  append(element, ...children)
  return element
}

export const append = (parent: Node, ...children: ReadonlyArray<Child>): void => {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

/** The element with this id; a missing one is a bug in the page, not a runtime condition. */
export const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from the page`)
  return element as T
}

/** Sets text only when it changed (no needless layout, no screen-reader repeats). */
export const setText = (element: Element, text: string): void => {
  if (element.textContent !== text) element.textContent = text
}

export const setAttribute = (element: Element, name: string, value: string | undefined): void => {
  if (value === undefined) element.removeAttribute(name)
  else if (element.getAttribute(name) !== value) element.setAttribute(name, value)
}

/** Says something once to screen-reader users through a polite live region. */
export const announce = (region: HTMLElement, message: string): void => {
  // Clearing first makes a repeated message be read again.
  region.textContent = ""
  window.setTimeout(() => {
    region.textContent = message
  }, 50)
}

/** `3 tools`, `1 tool`. */
export const plural = (count: number, one: string, many = `${one}s`): string =>
  `${count} ${count === 1 ? one : many}`

/** `in 52 min`, `in 3 h 5 min`, `in 2 days`; for a time in the past, `now`. */
export const formatIn = (milliseconds: number): string => {
  if (milliseconds <= 0) return "now"
  const minutes = Math.round(milliseconds / 60_000)
  if (minutes < 1) return "less than a minute"
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`
  return `${Math.round(hours / 24)} days`
}

/** A duration in ms as people read it: `340 ms`, `2.4 s`, `1 min 5 s`. */
export const formatDuration = (milliseconds: number): string => {
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`
  if (milliseconds < 60_000) return `${(milliseconds / 1000).toFixed(1)} s`
  const seconds = Math.round(milliseconds / 1000)
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`
}

/** JSON text pretty-printed when it parses, else as it came. */
export const prettyJson = (text: string): string => {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}
