/**
 * A real browser for the web UI tests: Debian's Chromium (/usr/bin/chromium)
 * driven by playwright-core, headless, with a fresh profile directory that is
 * removed afterwards. Never `npx playwright install`: no downloaded browsers.
 *
 * `watchPage` collects what a page must never produce (console errors, CSP
 * violations, uncaught exceptions, requests to other origins), and `axe` runs
 * axe-core from node_modules inside the page.
 */
import * as fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core"

export const chromiumPath = process.env.MCPGATE_TEST_CHROMIUM ?? "/usr/bin/chromium"

export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run"
]

export const viewport = { width: 1280, height: 800 }

/** A browser context on a fresh profile; closed and its profile removed with the scope. */
export const launch: Effect.Effect<BrowserContext, unknown, Scope.Scope> = Effect.gen(function* () {
  const profile = yield* Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "mcpgate-chromium-"))),
    (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true, maxRetries: 3 }))
  )
  return yield* Effect.acquireRelease(
    Effect.tryPromise(() =>
      chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        args: chromiumFlags,
        viewport,
        colorScheme: "light",
        reducedMotion: "reduce",
        timeout: 20_000
      })
    ),
    (context) => Effect.promise(() => context.close().catch(() => undefined))
  ).pipe(
    // A step that cannot happen fails with its own message, well before the test's timeout.
    Effect.tap((context) => Effect.sync(() => context.setDefaultTimeout(10_000)))
  )
})

/**
 * The browser globals in-page callbacks use, as far as the tests need them.
 * The repo's tsconfig is Node's (no DOM lib), so a callback casts
 * `globalThis` to this; callbacks run in the page, so they cannot call helpers.
 */
export interface Dom {
  readonly document: DomDocument
  readonly location: { readonly href: string }
  readonly localStorage: Readonly<Record<string, string>>
  readonly sessionStorage: Readonly<Record<string, string>>
  readonly getComputedStyle: (element: DomElement) => {
    readonly outlineStyle: string
    readonly outlineWidth: string
  }
  readonly MutationObserver: new (
    callback: (records: ReadonlyArray<{ readonly removedNodes: Iterable<DomElement> }>) => void
  ) => { observe(target: DomElement, options: Readonly<Record<string, boolean>>): void }
  /** Markers the tests leave on the page's window. */
  marks: Record<string, unknown>
  readonly axe?: { run: (options: unknown) => Promise<unknown> }
}

export interface DomElement {
  readonly textContent: string | null
  readonly classList?: { contains(name: string): boolean }
  readonly labels?: ReadonlyArray<DomElement>
  readonly value?: string
  readonly selectionStart?: number
  readonly ownerDocument: DomDocument
  scrollTop: number
  readonly scrollHeight: number
  blur(): void
  getAttribute(name: string): string | null
}

export interface DomDocument {
  readonly activeElement: DomElement | null
  readonly cookie: string
  querySelector(selector: string): DomElement | null
  getElementById(id: string): DomElement | null
}

/** The text of the focused element. */
export const focusedText = (page: Page): Promise<string | null> =>
  page.evaluate(() => (globalThis as unknown as Dom).document.activeElement?.textContent ?? null)

/** Whether the locator's element has focus. */
export const isFocused = (locator: Locator): Promise<boolean> =>
  locator.evaluate((element: DomElement) => element === element.ownerDocument.activeElement)

/** Sets a marker on the page's window (gone after a reload). */
export const mark = (page: Page, name: string, value: unknown): Promise<void> =>
  page.evaluate(
    ([key, data]) => {
      const dom = globalThis as unknown as Dom
      dom.marks = { ...dom.marks, [key as string]: data }
    },
    [name, value] as const
  )

export const readMark = (page: Page, name: string): Promise<unknown> =>
  page.evaluate((key) => (globalThis as unknown as Dom).marks?.[key], name)

export interface PageProblems {
  readonly problems: Array<string>
}

/** Records console errors, CSP violations, page errors and any request that leaves the gateway's origin. */
export const watchPage = (page: Page, origin: string): PageProblems => {
  const problems: Array<string> = []
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning")
      problems.push(`console: ${message.text()}`)
  })
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("request", (request) => {
    const url = request.url()
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("about:")) {
      problems.push(`request to another origin: ${url}`)
    }
  })
  return { problems }
}

const require = createRequire(import.meta.url)

let axeSource: string | undefined

export interface AxeViolation {
  readonly id: string
  readonly impact: string | null
  readonly help: string
  readonly nodes: ReadonlyArray<{ readonly target: ReadonlyArray<unknown>; readonly failureSummary?: string }>
}

/**
 * Runs axe-core (WCAG 2.1 A/AA rules and best practices) in the page and
 * returns the violations. The script goes in through the DevTools protocol,
 * which the page's CSP does not govern: the page itself stays strict.
 */
export const axe = async (page: Page): Promise<ReadonlyArray<AxeViolation>> => {
  axeSource ??= await fs.readFile(require.resolve("axe-core/axe.min.js"), "utf8")
  await page.evaluate(axeSource)
  return page.evaluate(async () => {
    const runner = (globalThis as unknown as Dom).axe
    if (runner === undefined) throw new Error("axe-core did not load")
    const result = (await runner.run({
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] }
    })) as { violations: ReadonlyArray<AxeViolation> }
    return result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.map((node) => ({
        target: node.target,
        ...(node.failureSummary === undefined ? {} : { failureSummary: node.failureSummary })
      }))
    }))
  })
}

/** The serious and critical ones, as one readable line each. */
export const seriousViolations = (violations: ReadonlyArray<AxeViolation>): Array<string> =>
  violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes
          .map((node) => `${JSON.stringify(node.target)} ${node.failureSummary ?? ""}`)
          .join("; ")}`
    )
