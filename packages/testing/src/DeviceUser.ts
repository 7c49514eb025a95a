/**
 * The person on the other device: opens the device verification page, submits
 * its confirmation form, and follows the redirects through the authorization
 * server's (automatic) login and consent, keeping cookies like a browser.
 */
import { Effect } from "effect"

export const approveDevice = (verificationUri: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    const cookies = new Map<string, string>()
    const request = async (url: URL, init: { method?: string; body?: URLSearchParams } = {}) => {
      const response = await fetch(url, {
        redirect: "manual",
        ...(init.method === undefined ? {} : { method: init.method }),
        ...(init.body === undefined ? {} : { body: init.body }),
        headers: {
          ...(cookies.size === 0 ? {} : { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") }),
          ...(init.body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
        }
      })
      for (const header of response.headers.getSetCookie()) {
        const [pair] = header.split(";")
        const separator = pair?.indexOf("=") ?? -1
        if (pair !== undefined && separator > 0)
          cookies.set(pair.slice(0, separator), pair.slice(separator + 1))
      }
      return response
    }
    let url = new URL(verificationUri)
    let response = await request(url)
    let submitted = 0
    for (let hop = 0; hop < 20; hop++) {
      const location = response.headers.get("location")
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel()
        url = new URL(location, url)
        response = await request(url)
        continue
      }
      const html = await response.text()
      const form = /<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
      // The page auto-posts the code, then asks to confirm: two forms, then the success page.
      if (submitted >= 3 || form === null) return html
      const body = new URLSearchParams()
      for (const input of (form[2] ?? "").matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/gi)) {
        body.set(input[1] ?? "", input[2] ?? "")
      }
      submitted++
      url = new URL(form[1] ?? "", url)
      response = await request(url, { method: "POST", body })
    }
    throw new Error("too many redirects on the device page")
  })
