/**
 * `GET /admin/api/mcp/oauth/callback` (docs/http-api.md#web-oauth-callback): where
 * the authorization server sends the browser after a web login. Public, bound to
 * the `state` that `OAuthManager` keeps (its `PendingLogins`) for 10 minutes;
 * answers a small escaped page (./CallbackPage.ts) and reports the outcome on
 * the event stream.
 */
import type { OAuthError } from "@mcpgate/oauth/Errors"
import { Effect, PubSub } from "effect"
import type { AdminContextShape } from "./AdminContext.ts"
import * as CallbackPage from "./CallbackPage.ts"

/** The path of the web OAuth callback; the redirect URI is `<publicUrl>` followed by it. */
export const callbackPath = "/admin/api/mcp/oauth/callback"

/** What the authorization server said, as lines for the page. */
const reportedBy = (params: URLSearchParams): ReadonlyArray<string> => {
  const error = params.get("error")
  const description = params.get("error_description")
  return [
    ...(error === null ? [] : [`The authorization server answered: ${error}`]),
    ...(description === null ? [] : [description])
  ]
}

/**
 * A failed login's page. `OAuthManager` keeps the state: a state it does not
 * know is unknown or expired, and then no server can be named; any other
 * failure names the server whose login it was.
 */
const failed = (ctx: AdminContextShape, error: OAuthError, reported: ReadonlyArray<string>, origin: string) =>
  Effect.gen(function* () {
    const expired = error.reason === "state-mismatch"
    const server = expired ? undefined : error.server
    const message = expired ? "this sign-in is unknown or has expired" : error.message
    if (server !== undefined) yield* PubSub.publish(ctx.logins, { server, ok: false, error: message })
    return CallbackPage.render({
      status: error.retryable ? 502 : 400,
      ok: false,
      server,
      title: expired ? "Sign-in unknown or expired" : "Sign-in failed",
      lines: expired
        ? [
            "This sign-in is unknown or has expired (a sign-in is valid for 10 minutes). Start it again from the admin page.",
            ...reported
          ]
        : [error.message, ...reported],
      error: message,
      origin
    })
  })

/** The callback, given the URL the browser came back to (path and query). */
export const callback = (ctx: AdminContextShape, requestUrl: string) =>
  Effect.gen(function* () {
    const url = new URL(requestUrl, "http://callback.invalid")
    const reported = reportedBy(url.searchParams)
    const origin = ctx.security.addresses.origin
    const state = url.searchParams.get("state")
    if (state === null || state === "") {
      return CallbackPage.render({
        status: 400,
        ok: false,
        server: undefined,
        title: "Sign-in failed",
        lines: [
          "This page was opened without the state of a sign-in. Start again from the admin page.",
          ...reported
        ],
        error: "missing state",
        origin
      })
    }
    const base = ctx.security.addresses.publicUrl ?? origin
    const callbackUrl = `${base}${callbackPath}${url.search}`
    // A user's own login (docs/teams.md#connections) is completed by that user's manager.
    if (ctx.users !== undefined) {
      const own = yield* Effect.result(ctx.users.complete(state, callbackUrl))
      if (own._tag === "Failure") return yield* failed(ctx, own.failure, reported, origin)
      if (own.success._tag === "Some") {
        const { user, result } = own.success.value
        return CallbackPage.render({
          status: 200,
          ok: true,
          server: result.server,
          title: "Connected",
          lines: [`"${result.server}" is now connected for ${user}.`, "You can close this window."],
          origin,
          returnTo: `/connections?connected=${encodeURIComponent(result.server)}`
        })
      }
    }
    const result = yield* Effect.result(ctx.oauth.completeLogin(callbackUrl))
    if (result._tag === "Failure") return yield* failed(ctx, result.failure, reported, origin)
    const server = result.success.server
    // The new credential is used at once: the connection starts over.
    yield* ctx.manager.reconnect(server).pipe(Effect.ignore)
    yield* PubSub.publish(ctx.logins, { server, ok: true })
    return CallbackPage.render({
      status: 200,
      ok: true,
      server,
      title: "Signed in",
      lines: [`mcpgate is now authorized for "${server}" and reconnects it.`, "You can close this window."],
      origin
    })
  })
