/**
 * What one metadata URL gave (RFC 9728 §3.2, RFC 8414 §3.2): the document, a
 * clear "not here", or anything else. Only a 404 at every URL tried counts as
 * "no metadata" and may lead to the 2025-03-26 defaults; an outage (5xx, 429)
 * is a retryable error, never read as "none" (docs/oauth.md#discovery).
 */
import { Effect } from "effect"
import { OAuthError } from "../Errors.ts"

/** What one metadata URL gave. */
export type Lookup<A> =
  | { readonly _tag: "Found"; readonly value: A }
  /** A clear 404: the document is not at this URL. */
  | { readonly _tag: "Absent" }
  /** Another answer, or no connection: no proof that there is no document. */
  | { readonly _tag: "Unclear" }

/** The document was there. */
export const found = <A>(value: A): Lookup<A> => ({ _tag: "Found", value })

/** Neither a document nor a clear 404. */
export const unclear: Lookup<never> = { _tag: "Unclear" }

const absent: Lookup<never> = { _tag: "Absent" }

/**
 * A metadata request answered with something else than 200: 5xx and 429 fail
 * with a retryable `OAuthError` (reason "network"); 404 is `Absent`; anything
 * else `Unclear`. The body is discarded unread.
 */
export const notServed = <A>(
  name: string,
  target: URL,
  what: string,
  response: Response
): Effect.Effect<Lookup<A>, OAuthError> =>
  Effect.gen(function* () {
    yield* Effect.promise(async () => response.body?.cancel())
    const status = response.status
    if (status >= 500 || status === 429) {
      return yield* OAuthError.of(
        name,
        "network",
        `the ${what} ${target.href} is unavailable (HTTP ${status}); try again later`,
        { retryable: true, status }
      )
    }
    yield* Effect.logDebug(`${name}: no ${what} at ${target.href} (HTTP ${status})`)
    return status === 404 ? absent : unclear
  })

/** A URL path without its trailing slashes (`/` becomes empty), for well-known URL building. */
export const trimSlash = (path: string): string => (path === "/" ? "" : path.replace(/\/+$/, ""))
