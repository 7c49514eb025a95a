/**
 * The admin API's client for the admin page (docs/http-api.md#admin-api):
 * each call's method, path, parameters, body and answer are typed from the
 * http-api groups in src/api/AdminHttpApi.ts, so a change to a route or a
 * schema fails the UI's type check.
 *
 * The imports from src/api/ are type-only: effect's own client (`HttpApiClient`)
 * and Schema would make the page's script about four times heavier (see
 * docs/http-api.md#clients). The server encodes every answer with the group's
 * schemas, so what arrives is what the types say; errors come back as
 * `ApiError` (./api.ts).
 */
import type { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import type { ActivityGroup, ConfigGroup, ServersGroup, SessionGroup } from "../../../src/api/AdminHttpApi.ts"
import type { AdminEvent } from "../../../src/api/AdminSchemas.ts"
import { requestJson } from "./api.ts"

type Endpoints = HttpApiGroup.Endpoints<
  typeof SessionGroup | typeof ServersGroup | typeof ConfigGroup | typeof ActivityGroup
>
type Name = Endpoints["identifier"]
type Endpoint<N extends Name> = Extract<Endpoints, { readonly identifier: N }>

/** The answer (the success schema's type: plain JSON data, so what is sent). */
export type Answer<N extends Name> = HttpApiEndpoint.Success<Endpoint<N>>["Type"]
type Payload<N extends Name> = HttpApiEndpoint.Payload<Endpoint<N>>["Type"]
type Params<N extends Name> = HttpApiEndpoint.Params<Endpoint<N>>["Type"]

type Route<N extends Name> = { readonly method: Endpoint<N>["method"]; readonly path: Endpoint<N>["path"] }

/** Each endpoint's method and path; `satisfies` checks them against the groups. */
const routes = {
  open: { method: "POST", path: "/admin/api/session" },
  close: { method: "DELETE", path: "/admin/api/session" },
  list: { method: "GET", path: "/admin/api/mcp/servers" },
  catalog: { method: "GET", path: "/admin/api/mcp/servers/:name/catalog" },
  reconnect: { method: "POST", path: "/admin/api/mcp/servers/:name/reconnect" },
  authenticate: { method: "POST", path: "/admin/api/mcp/servers/:name/authenticate" },
  logout: { method: "POST", path: "/admin/api/mcp/servers/:name/logout" },
  get: { method: "GET", path: "/admin/api/mcp/config" },
  put: { method: "PUT", path: "/admin/api/mcp/config" },
  reload: { method: "POST", path: "/admin/api/mcp/reload" },
  recent: { method: "GET", path: "/admin/api/activity" }
} as const satisfies { readonly [N in Name]: Route<N> }

const call = <N extends Name>(
  name: N,
  options: { readonly params?: Params<N>; readonly payload?: Payload<N> } = {}
): Promise<Answer<N>> => {
  const { method, path } = routes[name]
  const params: Readonly<Record<string, string>> = options.params ?? {}
  const url = path.replace(/:(\w+)/g, (_, key: string) => encodeURIComponent(params[key] ?? ""))
  if (method === "GET") return requestJson(url)
  // Writes carry the CSRF header the cookie session requires, and always a JSON body.
  return requestJson(url, { method, headers: { "x-mcpgate-csrf": "1" }, body: options.payload ?? {} })
}

export const session = {
  /** Trades the admin token for the session cookie. */
  open: (token: string) => call("open", { payload: { token } }),
  close: () => call("close")
}

export const servers = {
  list: () => call("list"),
  catalog: (name: string) => call("catalog", { params: { name } }),
  reconnect: (name: string) => call("reconnect", { params: { name } }),
  authenticate: (name: string) => call("authenticate", { params: { name } }),
  logout: (name: string) => call("logout", { params: { name } })
}

export const config = {
  get: () => call("get"),
  put: (payload: Payload<"put">) => call("put", { payload }),
  reload: () => call("reload")
}

export const activity = {
  /** The last hour's tool calls of this replica. */
  recent: () => call("recent")
}

/** `GET events` (an `EventSource`: the session cookie is its credential). */
export const eventsUrl = "/admin/api/mcp/events"

export type EventName = AdminEvent["event"]
export type EventData<E extends EventName> = Extract<AdminEvent, { readonly event: E }>["data"]

/** Listens to one kind of event of the stream; `data` is the JSON the server encoded with `AdminEvent`. */
export const onEvent = <E extends EventName>(
  source: EventSource,
  name: E,
  listener: (data: EventData<E>) => void
): void =>
  source.addEventListener(name, (event) => {
    const data: EventData<E> = JSON.parse((event as MessageEvent<string>).data)
    listener(data)
  })
