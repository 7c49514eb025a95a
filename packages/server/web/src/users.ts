/**
 * The admin page's Users panel (docs/teams.md#connections): each user with
 * the metadata of their own connections (never a token), and Revoke, which
 * revokes and deletes one user's credential (`DELETE
 * /admin/api/mcp/users/{user}/connections/{server}`).
 */
import { requestJson } from "./lib/api.ts"
import { h, setText } from "./lib/dom.ts"

interface UserConnection {
  readonly server: string
  readonly url: string
  readonly hasRefreshToken: boolean
  readonly expiresAt?: number
  readonly scope?: string
  readonly updatedAt: number
}

interface UsersAnswer {
  readonly users: ReadonlyArray<{
    readonly user: string
    readonly admin: boolean
    readonly connections: ReadonlyArray<UserConnection>
  }>
}

const path = (user: string, server: string) =>
  `/admin/api/mcp/users/${encodeURIComponent(user)}/connections/${encodeURIComponent(server)}`

/** Fills `list` and keeps it current after each revocation; `onFailure` words an error (a 401 signs out). */
export const startUsers = (
  list: HTMLElement,
  summary: HTMLElement,
  onFailure: (error: unknown) => string
) => {
  const revoke = async (user: string, server: string, button: HTMLButtonElement) => {
    button.disabled = true
    try {
      await requestJson(path(user, server), { method: "DELETE", headers: { "x-mcpgate-csrf": "1" } })
      setText(summary, `Revoked ${user}'s connection to ${server}.`)
      await load()
    } catch (error) {
      button.disabled = false
      setText(summary, `Cannot revoke: ${onFailure(error)}`)
    }
  }

  const connectionItem = (user: string, connection: UserConnection) => {
    const button = h("button", { type: "button", class: "danger" }, "Revoke")
    button.addEventListener("click", () => void revoke(user, connection.server, button))
    const details = [
      connection.hasRefreshToken ? "refreshable" : "no refresh token",
      connection.scope === undefined ? undefined : `scope ${connection.scope}`,
      `updated ${new Date(connection.updatedAt).toLocaleString()}`
    ].filter((part) => part !== undefined)
    return h(
      "li",
      { "data-server": connection.server },
      h("strong", {}, connection.server),
      " ",
      h("span", { class: "muted small" }, details.join(" · ")),
      " ",
      button
    )
  }

  const load = async () => {
    try {
      const answer = await requestJson<UsersAnswer>("/admin/api/mcp/users")
      list.replaceChildren(
        ...answer.users.map((entry) =>
          h(
            "li",
            { class: "card", "data-user": entry.user },
            h("h3", {}, entry.user, entry.admin ? h("span", { class: "muted small" }, " (admin)") : null),
            entry.connections.length === 0
              ? h("p", { class: "muted small" }, "No connections.")
              : h(
                  "ul",
                  { class: "user-connections" },
                  ...entry.connections.map((c) => connectionItem(entry.user, c))
                )
          )
        )
      )
      if (answer.users.length === 0) setText(summary, "No users yet.")
    } catch (error) {
      setText(summary, `Cannot list the users: ${onFailure(error)}`)
    }
  }
  return load()
}
