/**
 * A browser's sign-in to the gateway's web UI without a browser
 * (docs/teams.md#sign-in): `/signin`, the provider's redirects (its cookies
 * kept), up to the gateway's `/signin/callback`, whose answer is returned
 * as it came (the session cookie, the redirect back).
 */
import { Effect } from "effect"

export interface CallbackAnswer {
  readonly status: number
  readonly location: string | null
  /** The `Set-Cookie` headers of the callback. */
  readonly setCookies: ReadonlyArray<string>
  readonly body: string
  /** The callback URL the provider sent the browser to. */
  readonly callbackUrl: string
}

/** `/signin?return=…` through the provider up to (not into) the gateway's callback: its URL. */
export const toCallback = (gateway: string, returnTo = "/connections") =>
  Effect.promise(async () => {
    const jar = new Map<string, string>()
    let current = `${gateway}/signin?return=${encodeURIComponent(returnTo)}`
    for (let hop = 0; hop < 20; hop++) {
      if (current.startsWith(`${gateway}/signin/callback`)) return current
      const response = await fetch(current, {
        redirect: "manual",
        headers: jar.size === 0 ? {} : { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") }
      })
      // The provider's own cookies (its interaction and session); the gateway sets none before the callback.
      for (const header of response.headers.getSetCookie()) {
        const [pair] = header.split(";")
        const at = pair?.indexOf("=") ?? -1
        if (pair !== undefined && at > 0) jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
      }
      await response.body?.cancel()
      const location = response.headers.get("location")
      if (location === null) throw new Error(`no redirect at ${current}: ${response.status}`)
      current = new URL(location, current).href
    }
    throw new Error("too many redirects on the way to the callback")
  })

/** Opens the callback URL as the browser would (without following the redirect back). */
export const openCallback = (callbackUrl: string) =>
  Effect.promise(async (): Promise<CallbackAnswer> => {
    const response = await fetch(callbackUrl, { redirect: "manual" })
    return {
      status: response.status,
      location: response.headers.get("location"),
      setCookies: response.headers.getSetCookie(),
      body: await response.text(),
      callbackUrl
    }
  })

/** The value of the `mcpgate_session` cookie a callback set, as a `Cookie` header. */
export const sessionCookieOf = (answer: CallbackAnswer): string => {
  const header = answer.setCookies.find((cookie) => cookie.startsWith("mcpgate_session="))
  if (header === undefined)
    throw new Error(`no session cookie: ${answer.status} ${answer.body.slice(0, 300)}`)
  return header.split(";")[0] ?? ""
}

/** A full sign-in: the `Cookie` header of the session. */
export const signIn = (gateway: string, returnTo = "/connections") =>
  Effect.map(Effect.flatMap(toCallback(gateway, returnTo), openCallback), sessionCookieOf)
