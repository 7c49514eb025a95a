/**
 * The small server-made pages of the sign-in (docs/teams.md#sign-in): a failed
 * sign-in, and the 403 of `/admin` for a signed-in user who is no admin.
 * Everything interpolated is HTML-escaped; no script at all.
 */
import { createHash } from "node:crypto"
import { HttpServerResponse } from "effect/http"
import { escapeHtml } from "../admin/CallbackPage.ts"

const style =
  "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.3rem}"

/** The one inline style, allowed by its hash (CSP Level 3 hash-source). */
const styleHash = `sha256-${createHash("sha256").update(style).digest("base64")}`

export const htmlPage = (
  status: number,
  title: string,
  lines: ReadonlyArray<string>,
  links: ReadonlyArray<readonly [href: string, text: string]>
): HttpServerResponse.HttpServerResponse => {
  const body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · mcpgate</title>
<style>${style}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${lines.map((line) => `<p>${escapeHtml(line)}</p>`).join("\n")}
<p>${links.map(([href, text]) => `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`).join(" · ")}</p>
</body>
</html>
`
  return HttpServerResponse.text(body, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: {
      "content-security-policy": `default-src 'none'; style-src '${styleHash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY"
    }
  })
}
