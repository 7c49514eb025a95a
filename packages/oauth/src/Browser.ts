/**
 * Opens the authorization URL for the user (docs/oauth.md#cli-redirect).
 *
 * - `layer`: `$BROWSER` when set (the command gets the URL as its last
 *   argument, or in place of `%s`), else the platform opener (`open` on macOS,
 *   `xdg-open` elsewhere on Unix, `rundll32 url.dll,FileProtocolHandler` on
 *   Windows, which needs no shell quoting).
 * - `layerFollowRedirects`: no browser at all; fetches the URL and follows its
 *   redirects (keeping cookies) until they end, e.g. at the loopback callback.
 *   For authorization servers that approve without a page to click (tests, the
 *   MCP conformance suite).
 */
import { spawn } from "node:child_process"
import { Config, Context, Effect, Layer, Option } from "effect"
import { OAuthError } from "./Errors.ts"
import { clip, userAgent } from "./internal/Http.ts"

/** How the user is shown the authorization URL. */
export interface BrowserShape {
  /** Shows `url` to the user. `server` names the server in errors. */
  readonly open: (server: string, url: string) => Effect.Effect<void, OAuthError>
}

/** Splits a command line on white space, honouring single and double quotes. */
export const splitCommand = (command: string): ReadonlyArray<string> => {
  const parts: Array<string> = []
  let current = ""
  let quote: string | undefined
  let inPart = false
  for (const c of command) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined
      else current += c
    } else if (c === '"' || c === "'") {
      quote = c
      inPart = true
    } else if (c === " " || c === "\t") {
      if (inPart) parts.push(current)
      current = ""
      inPart = false
    } else {
      current += c
      inPart = true
    }
  }
  if (inPart) parts.push(current)
  return parts
}

/** The command and arguments that open `url`, from `$BROWSER` or the platform. */
export const openerCommand = (
  browserVariable: string | undefined,
  url: string,
  platform: NodeJS.Platform = process.platform
): ReadonlyArray<string> => {
  if (browserVariable !== undefined && browserVariable.trim() !== "") {
    const parts = splitCommand(browserVariable)
    return parts.some((part) => part.includes("%s"))
      ? parts.map((part) => part.replaceAll("%s", url))
      : [...parts, url]
  }
  if (platform === "darwin") return ["open", url]
  if (platform === "win32") return ["rundll32", "url.dll,FileProtocolHandler", url]
  return ["xdg-open", url]
}

/** Starts `command` detached; succeeds once it has started (a browser may run for hours). */
export const spawnDetached = (
  server: string,
  command: ReadonlyArray<string>
): Effect.Effect<void, OAuthError> =>
  Effect.callback<void, OAuthError>((resume) => {
    const [file, ...args] = command
    if (file === undefined) {
      resume(Effect.fail(OAuthError.of(server, "browser", "the browser command is empty")))
      return
    }
    const child = spawn(file, args, { detached: true, stdio: "ignore" })
    child.once("error", (error) =>
      resume(
        Effect.fail(
          OAuthError.of(
            server,
            "browser",
            `could not start the browser (${file}): ${clip(error.message)}; set $BROWSER, or log in with --no-browser`
          )
        )
      )
    )
    child.once("spawn", () => {
      child.unref()
      resume(Effect.void)
    })
  })

/**
 * Fetches `url` and follows redirects (301/302/303/307/308, up to 30) with a
 * small cookie jar, like a browser whose user approves everything. Fails when a
 * page answers with an error status, since nobody could act on it.
 */
export const followRedirects = (server: string, url: string): Effect.Effect<void, OAuthError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const cookies = new Map<string, Map<string, string>>()
      let current = new URL(url)
      for (let hop = 0; hop < 30; hop++) {
        const jar = cookies.get(current.host)
        const response = await fetch(current, {
          redirect: "manual",
          signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]),
          headers: {
            "user-agent": userAgent,
            ...(jar === undefined || jar.size === 0
              ? {}
              : { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join("; ") })
          }
        })
        for (const header of response.headers.getSetCookie()) {
          const [pair] = header.split(";")
          const separator = pair?.indexOf("=") ?? -1
          if (pair === undefined || separator <= 0) continue
          const name = pair.slice(0, separator).trim()
          const value = pair.slice(separator + 1).trim()
          const hostJar = cookies.get(current.host) ?? new Map<string, string>()
          if (/max-age=0|expires=thu, 01 jan 1970/i.test(header)) hostJar.delete(name)
          else hostJar.set(name, value)
          cookies.set(current.host, hostJar)
        }
        const location = response.headers.get("location")
        await response.body?.cancel()
        if (response.status >= 300 && response.status < 400 && location !== null) {
          current = new URL(location, current)
          continue
        }
        if (response.status >= 400) {
          throw new Error(`${current.origin}${current.pathname} answered HTTP ${response.status}`)
        }
        return
      }
      throw new Error("more than 30 redirects")
    },
    catch: (error) =>
      OAuthError.of(
        server,
        "browser",
        `the authorization page could not be completed without a browser: ${error instanceof Error ? clip(error.message) : "unknown failure"}`
      )
  })

/** Opens the authorization URL (see the header for the layers). */
export class Browser extends Context.Service<Browser, BrowserShape>()("@mcpgate/oauth/Browser") {
  /** `$BROWSER` (read through `Config`), else the platform opener. */
  static readonly layer: Layer.Layer<Browser> = Layer.succeed(
    Browser,
    Browser.of({
      open: (server, url) =>
        Effect.gen(function* () {
          const variable = yield* Config.option(Config.String("BROWSER")).pipe(
            Effect.orElseSucceed(() => Option.none<string>())
          )
          yield* spawnDetached(server, openerCommand(Option.getOrUndefined(variable), url))
        })
    })
  )

  /** A fixed command line (the URL is appended, or replaces `%s`). */
  static readonly layerCommand = (command: string): Layer.Layer<Browser> =>
    Layer.succeed(
      Browser,
      Browser.of({ open: (server, url) => spawnDetached(server, openerCommand(command, url)) })
    )

  /** No browser: follow the redirects in-process (see `followRedirects`). */
  static readonly layerFollowRedirects: Layer.Layer<Browser> = Layer.succeed(
    Browser,
    Browser.of({ open: followRedirects })
  )
}
