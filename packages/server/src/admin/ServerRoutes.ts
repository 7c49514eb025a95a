/**
 * The admin API's servers (docs/http-api.md#servers): `GET servers`,
 * `GET servers/{name}/catalog`, and `POST servers/{name}/reconnect | authenticate | logout`. Each handler is a
 * function of the server's name that answers data or a typed error.
 */
import { Effect } from "effect"
import { AdminErrors } from "../api/AdminHttpApi.ts"
import { type AdminContextShape, lookup, serverNotFound } from "./AdminContext.ts"
import { oauthRefusal } from "./AdminResponses.ts"
import { callbackPath } from "./OAuthCallback.ts"
import { serversPayload, statusView } from "./ServerViews.ts"

/** `GET servers` → `{servers, builtinTools}`. */
export const servers = (ctx: AdminContextShape) => serversPayload(ctx)

/** The fields that are set: the JSON answer leaves the others out rather than send `null`. */
const present = <K extends string>(
  fields: { readonly [P in K]: string | undefined }
): { [P in K]?: string } => {
  const out: { [P in K]?: string } = {}
  for (const key of Object.keys(fields) as Array<K>) {
    const value = fields[key]
    if (value !== undefined) out[key] = value
  }
  return out
}

/** The catalog's code, with the MCP SDK's result schemas under it: loaded on the first catalog asked for. */
const loadCatalog = Effect.promise(() => import("../mcp/McpCatalog.ts"))

/** `GET servers/{name}/catalog` → `{resources, resourceTemplates, prompts}` of one server. */
export const catalog = (ctx: AdminContextShape, name: string) =>
  Effect.gen(function* () {
    const server = yield* lookup(ctx, name)
    const McpCatalog = yield* loadCatalog
    const [resources, templates, prompts] = yield* Effect.all(
      [
        McpCatalog.serverResources(ctx.manager),
        McpCatalog.serverResourceTemplates(ctx.manager),
        McpCatalog.serverPrompts(ctx.manager)
      ],
      { concurrency: "unbounded" }
    )
    const own = <A extends { readonly server: string }>(list: ReadonlyArray<A>) =>
      list.filter((entry) => entry.server === server.name)
    return {
      resources: own(resources).flatMap(({ items }) =>
        items.map((resource) => ({
          uri: resource.uri,
          publicUri: McpCatalog.publicUri(server.name, resource.uri),
          name: resource.name,
          ...present({
            title: resource.title,
            description: resource.description,
            mimeType: resource.mimeType
          })
        }))
      ),
      resourceTemplates: own(templates).flatMap(({ items }) =>
        items.map((template) => ({
          uriTemplate: template.uriTemplate,
          publicUriTemplate: McpCatalog.publicUri(server.name, template.uriTemplate),
          name: template.name,
          ...present({ title: template.title, description: template.description })
        }))
      ),
      prompts: own(prompts).map(({ prompt, publicName }) => ({
        name: prompt.name,
        publicName,
        ...present({ title: prompt.title, description: prompt.description }),
        arguments: (prompt.arguments ?? []).map((arg) => ({
          name: arg.name,
          ...present({ description: arg.description }),
          ...(arg.required === undefined ? {} : { required: arg.required })
        }))
      }))
    }
  })

/** `POST servers/{name}/reconnect` → `{ok, server}`: reconnects now with a fresh backoff. */
export const reconnect = (ctx: AdminContextShape, name: string) =>
  Effect.gen(function* () {
    const server = yield* lookup(ctx, name)
    // The server may be removed between the lookup and the action.
    yield* ctx.manager.reconnect(server.name).pipe(Effect.mapError(() => serverNotFound(server.name)))
    return {
      ok: true as const,
      server: statusView(yield* ctx.manager.serverStatus(server.name).pipe(Effect.orDie))
    }
  })

/** `POST servers/{name}/authenticate` → `{authUrl}`: the authorization URL for the UI's popup. */
export const authenticate = (ctx: AdminContextShape, name: string) =>
  Effect.gen(function* () {
    const server = yield* lookup(ctx, name)
    if (server.auth === undefined) {
      return yield* AdminErrors.oauthNotConfigured.make(
        `server "${server.name}" does not use OAuth: add "auth": {"type": "oauth2"} to its entry in the config`
      )
    }
    const base = ctx.security.addresses.publicUrl
    if (base === undefined) {
      return yield* AdminErrors.publicUrlRequired.make(
        'the gateway listens on every interface and "server.publicUrl" is not set, so there is no redirect URI a browser could reach; set "server.publicUrl"'
      )
    }
    // Built from the configuration only, never from the request's Host (docs/gateway.md#public-url).
    const begun = yield* ctx.oauth
      .beginLogin(server, { redirectUri: `${base}${callbackPath}` })
      .pipe(Effect.mapError(oauthRefusal))
    const protocol = URL.parse(begun.authorizationUrl)?.protocol
    if (protocol !== "https:" && protocol !== "http:") {
      // The UI opens this URL: a javascript: or data: URL from the metadata must never reach it.
      return yield* AdminErrors.oauthFailed.make(
        `${server.name}: the authorization server gave an authorization URL that is not http(s)`,
        "authorization"
      )
    }
    return { authUrl: begun.authorizationUrl }
  })

/** `POST servers/{name}/logout` → `{ok, removed, revoked}`: revokes, deletes and disconnects. */
export const logout = (ctx: AdminContextShape, name: string) =>
  Effect.gen(function* () {
    const server = yield* lookup(ctx, name)
    // Only an HTTP server can hold a credential; a stdio server is never logged in.
    const result =
      server.url === undefined
        ? { removed: false, revoked: false }
        : yield* ctx.oauth.logout(server).pipe(Effect.mapError(oauthRefusal))
    if (!result.removed) {
      // Nothing was logged out, so the connection stays as it is.
      return yield* AdminErrors.noCredential.make(
        server.url === undefined
          ? `server "${server.name}" has no credential to log out of: it is a stdio server and does not use OAuth; nothing was changed`
          : `server "${server.name}" has no credential to log out of (it is not logged in); nothing was changed`
      )
    }
    yield* ctx.manager.disconnect(server.name).pipe(Effect.ignore)
    return { ok: true as const, removed: result.removed, revoked: result.revoked }
  })
