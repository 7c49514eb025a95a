/**
 * The connections page (docs/teams.md#connections): the `identity: "user"`
 * servers with the signed-in user's state for each; Connect goes to the
 * server's login and comes back here, Disconnect revokes this user's
 * credential. Everything through `/v1/mcp/connections` with the session cookie.
 */
import { ApiError, messageOf, requestJson } from "./lib/api.ts"
import { byId, h, setText } from "./lib/dom.ts"

interface Connection {
  readonly server: string
  readonly url: string
  readonly connected: boolean
  readonly state: string
  readonly summary?: string
  readonly expiresAt?: number
}

interface SessionAnswer {
  readonly signInAvailable: boolean
  readonly user?: { readonly id: string; readonly admin: boolean }
}

const status = byId("connections-status")
const body = byId("connections-body")
const csrf = { "x-mcpgate-csrf": "1" }

const stateText = (connection: Connection): string => {
  if (connection.connected)
    return connection.state === "expired" ? "Connected (token expired, refreshes on use)" : "Connected"
  if (connection.state === "error") return `Error: ${connection.summary ?? "unknown"}`
  return "Needs connecting"
}

const act = async (run: () => Promise<void>, doing: string) => {
  setText(status, doing)
  try {
    await run()
  } catch (error) {
    setText(status, messageOf(error))
  }
}

const connect = (server: string) =>
  act(async () => {
    const started = await requestJson<{ authUrl: string }>(
      `/v1/mcp/connections/${encodeURIComponent(server)}`,
      {
        method: "POST",
        headers: csrf
      }
    )
    // The server's login, then the gateway's callback, which comes back here.
    window.location.assign(started.authUrl)
  }, `Connecting ${server}…`)

const disconnect = (server: string) =>
  act(async () => {
    await requestJson(`/v1/mcp/connections/${encodeURIComponent(server)}`, {
      method: "DELETE",
      headers: csrf
    })
    await load()
    setText(status, `${server} is disconnected.`)
  }, `Disconnecting ${server}…`)

const row = (connection: Connection) =>
  h(
    "tr",
    { "data-server": connection.server, "data-state": connection.connected ? "connected" : connection.state },
    h("th", { scope: "row" }, connection.server, h("div", { class: "muted small" }, connection.url)),
    h("td", { class: "connection-state" }, stateText(connection)),
    h(
      "td",
      {},
      connection.connected
        ? h(
            "button",
            { type: "button", class: "danger", onclick: () => void disconnect(connection.server) },
            "Disconnect"
          )
        : h(
            "button",
            { type: "button", class: "primary", onclick: () => void connect(connection.server) },
            "Connect"
          )
    )
  )

const load = async () => {
  try {
    const answer = await requestJson<{ user: string; connections: ReadonlyArray<Connection> }>(
      "/v1/mcp/connections"
    )
    body.replaceChildren(...answer.connections.map(row))
    setText(
      status,
      answer.connections.length === 0
        ? 'No server of this gateway uses per-user logins ("auth.identity": "user").'
        : ""
    )
  } catch (error) {
    body.replaceChildren()
    if (error instanceof ApiError && error.status === 401) {
      status.replaceChildren(
        "Sign in to see your connections: ",
        h("a", { href: "/signin?return=/connections" }, "sign in")
      )
    } else setText(status, messageOf(error))
  }
}

const showUser = async () => {
  const session = await requestJson<SessionAnswer>("/signin/session").catch(() => undefined)
  if (session?.user === undefined) return
  setText(byId("signed-in-as"), `Signed in as ${session.user.id}`)
  byId("sign-out").hidden = false
  byId("admin-link").hidden = !session.user.admin
}

void showUser()
void load()
