/**
 * The web sign-in's routes (docs/teams.md#sign-in), public:
 *
 * - `GET /signin?return=/connections`: to the provider (302);
 * - `GET /signin/callback`: the redirect URI registered at the provider; opens
 *   the session, sets its cookie and goes back to the page that asked;
 * - `GET /signin/session`: who is signed in (`{signInAvailable, user?}`), for the pages;
 * - `POST /signout`: closes the sessions of the request's cookies.
 *
 * Without `server.auth` only `/signin/session` and `/signout` answer.
 */
import { Effect, Option } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import * as ErrorBody from "../http/ErrorBody.ts"
import { checkSameOrigin } from "../security/AdminAuth.ts"
import { Security } from "../security/Security.ts"
import * as SignIn from "../security/SignIn.ts"
import { memoryStorage, UiRecords } from "../security/UiRecords.ts"
import { htmlPage } from "./Pages.ts"

const failedPage = (failure: SignIn.SignInFailed) =>
  htmlPage(failure.status, "Sign-in failed", [failure.message], [["/signin", "Sign in again"]])

const noSignIn = ErrorBody.response(404, {
  type: "not_found",
  code: "sign_in_not_configured",
  message: 'no sign-in: "server.auth" is not set, so the web UI takes the admin token and API keys only'
})

const urlOf = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://gateway")

export const routes = HttpRouter.use((router) =>
  Effect.gen(function* () {
    const security = yield* Security
    const auth = security.gatewayAuth
    const records = yield* Effect.serviceOption(UiRecords)
    const signIn =
      auth === undefined || security.resourceServer === undefined
        ? undefined
        : yield* SignIn.make({
            auth,
            base: security.baseUrl,
            resourceServer: security.resourceServer,
            pending: yield* Option.match(records, {
              onNone: () => memoryStorage,
              onSome: (shared) => shared.forKind("ui-signin")
            }),
            userOfClaims: security.userOfClaims
          })

    yield* router.add("GET", "/signin", (request) => {
      if (signIn === undefined) return Effect.succeed(noSignIn)
      return signIn.begin(SignIn.safeReturnTo(urlOf(request).searchParams.get("return"))).pipe(
        Effect.map((url) =>
          HttpServerResponse.redirect(url, { status: 302, headers: { "cache-control": "no-store" } })
        ),
        Effect.catch((failure) => Effect.succeed(failedPage(failure)))
      )
    })
    yield* router.add("GET", SignIn.callbackPath, (request) => {
      if (signIn === undefined) return Effect.succeed(noSignIn)
      const requested = urlOf(request)
      // The code is redeemed for the redirect URI as registered: the public base, not the Host.
      const callbackUrl = new URL(`${security.baseUrl}${SignIn.callbackPath}${requested.search}`)
      return Effect.gen(function* () {
        const { user, returnTo } = yield* signIn.complete(callbackUrl)
        const session = yield* security
          .openUserSession(user)
          .pipe(
            Effect.mapError((refused) => new SignIn.SignInFailed({ status: 503, message: refused.message }))
          )
        yield* Effect.logInfo(`user:${user.id} signed in to the web UI${user.admin ? " (admin)" : ""}`)
        return security.setUserSessionCookie(
          HttpServerResponse.redirect(returnTo, { status: 302, headers: { "cache-control": "no-store" } }),
          session
        )
      }).pipe(Effect.catch((failure) => Effect.succeed(failedPage(failure))))
    })
    yield* router.add("GET", "/signin/session", (request) =>
      Effect.map(security.userOf(request), (user) =>
        HttpServerResponse.jsonUnsafe(
          {
            signInAvailable: signIn !== undefined,
            ...(Option.isSome(user) ? { user: { id: user.value.id, admin: user.value.admin } } : {})
          },
          { headers: { "cache-control": "no-store" } }
        )
      )
    )
    yield* router.add("POST", "/signout", (request) =>
      checkSameOrigin(security.addresses, request, "sign-out").pipe(
        Effect.andThen(security.closeSession(request)),
        Effect.map(() =>
          security.clearSessionCookie(
            security.clearUserSessionCookie(HttpServerResponse.redirect("/", { status: 303 }))
          )
        ),
        Effect.catch((refused) => Effect.succeed(ErrorBody.toResponse(refused)))
      )
    )
  })
)
