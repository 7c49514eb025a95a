/**
 * The page the browser lands on after a web OAuth login
 * (docs/gateway.md#web-oauth-callback; docs/lessons.md#callback-page: the
 * original reflected the callback's parameters into the page unescaped).
 *
 * Everything interpolated is HTML-escaped; the one script carries a fresh nonce
 * that the Content-Security-Policy requires, and its data is JSON with every
 * character that could end the script escaped. It tells the admin page that
 * opened the popup with `postMessage` to the gateway's own origin (never "*"),
 * then closes the popup.
 */
import { randomBytes } from "node:crypto"
import { HttpServerResponse } from "effect/http"
import { adminHeaders } from "./AdminResponses.ts"

const htmlEscapes: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;"
}

/** Text safe inside an element or a quoted attribute. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"'`]/g, (c) => htmlEscapes[c] ?? c)

/** JSON safe inside a `<script>` element: nothing in it can close the element or start a comment. */
export const scriptJson = (value: unknown): string =>
  JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")

export interface CallbackPage {
  readonly status: number
  readonly ok: boolean
  /** The server the login was for, when known. */
  readonly server: string | undefined
  readonly title: string
  /** Paragraphs of plain text (escaped here). */
  readonly lines: ReadonlyArray<string>
  /** The error for the opener's message, when the login failed. */
  readonly error?: string
  /** The gateway's own origin: the only target of `postMessage`. */
  readonly origin: string
  /** A page of the gateway to go back to when no window opened this one (a user's /connections). */
  readonly returnTo?: string | undefined
}

export const render = (page: CallbackPage): HttpServerResponse.HttpServerResponse => {
  const nonce = randomBytes(16).toString("base64")
  const message = {
    type: "mcpgate:oauth",
    server: page.server ?? null,
    ok: page.ok,
    ...(page.error === undefined ? {} : { error: page.error })
  }
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)} · mcpgate</title>
<style nonce="${nonce}">body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.3rem}.ok{color:#137333}.failed{color:#b3261e}</style>
</head>
<body>
<h1 class="${page.ok ? "ok" : "failed"}">${escapeHtml(page.title)}</h1>
${page.lines.map((line) => `<p>${escapeHtml(line)}</p>`).join("\n")}
${page.returnTo === undefined ? "" : `<p><a href="${escapeHtml(page.returnTo)}">Back to your connections</a></p>`}
<script nonce="${nonce}">
(function () {
  var message = ${scriptJson(message)};
  var returnTo = ${scriptJson(page.returnTo ?? null)};
  if (window.opener) {
    window.opener.postMessage(message, ${scriptJson(page.origin)});
    window.close();
  } else if (returnTo !== null) {
    window.location.replace(returnTo);
  }
})();
</script>
</body>
</html>
`
  return HttpServerResponse.text(body, {
    status: page.status,
    contentType: "text/html; charset=utf-8",
    headers: {
      ...adminHeaders,
      "content-security-policy": `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
    }
  })
}
