/**
 * The admin page (docs/gateway.md#web-ui; its API: docs/http-api.md#admin-api): sign-in with the admin token (traded for
 * an HttpOnly session cookie; the page never stores the token), one card per
 * server kept live by the `events` stream, OAuth sign-in in a popup, reconnect,
 * logout, reload, and the config editor.
 */
import type { Auth, Server, ServerStatus, ServersAnswer, Tool } from "../../src/api/AdminSchemas.ts"
import { startActivity, stopActivity } from "./activity.ts"
import * as AdminApi from "./lib/adminApi.ts"
import { ApiError, type ConfigIssue, messageOf, requestJson } from "./lib/api.ts"
import { announce, byId, formatIn, h, plural, setAttribute, setText } from "./lib/dom.ts"
import { renderMarkdown } from "./lib/markdown.ts"
import { startUsers } from "./users.ts"

/** A card's server: a configured one, or the builtin tools shown as one. */
type CardServer = Omit<Server, "transport"> & { readonly transport: Server["transport"] | "builtin" }

// ---------------------------------------------------------------------------
// Page elements

const loading = byId("loading")
const signInSection = byId("sign-in")
const signInForm = byId<HTMLFormElement>("sign-in-form")
const tokenInput = byId<HTMLInputElement>("admin-token")
const signInError = byId("sign-in-error")
const signInSubmit = byId<HTMLButtonElement>("sign-in-submit")
const dashboard = byId("dashboard")
const sessionActions = byId("session-actions")
const live = byId("live")
const reloadButton = byId<HTMLButtonElement>("reload-config")
const signOutButton = byId<HTMLButtonElement>("sign-out")
const serverList = byId<HTMLUListElement>("servers")
const serversSummary = byId("servers-summary")
const announcer = byId("announcer")
const main = byId("main")

const dialog = byId<HTMLDialogElement>("tool-dialog")
const dialogTitle = byId("tool-dialog-title")
const dialogName = byId("tool-dialog-name")
const dialogBody = byId("tool-dialog-body")
const dialogSchema = byId("tool-dialog-schema")
const dialogClose = byId<HTMLButtonElement>("tool-dialog-close")

const configPath = byId("config-path")
const configText = byId<HTMLTextAreaElement>("config-text")
const configGutter = byId("config-gutter")
const configAnnotations = byId("config-annotations")
const configIssues = byId("config-issues")
const configStatus = byId("config-status")
const configSave = byId<HTMLButtonElement>("config-save")
const configRevert = byId<HTMLButtonElement>("config-revert")

// ---------------------------------------------------------------------------
// Session

let events: EventSource | undefined

const showSignIn = (message = "") => {
  stopActivity()
  events?.close()
  events = undefined
  loading.hidden = true
  dashboard.hidden = true
  sessionActions.hidden = true
  signInSection.hidden = false
  setText(signInError, message)
  tokenInput.value = ""
  tokenInput.focus()
}

const showDashboard = () => {
  loading.hidden = true
  signInSection.hidden = true
  dashboard.hidden = false
  sessionActions.hidden = false
}

/** Any 401 means the session ended (expired, closed elsewhere, gateway restarted). */
const onFailure = (error: unknown): string => {
  if (error instanceof ApiError && error.status === 401) {
    showSignIn("Your session has ended. Sign in again.")
  }
  return messageOf(error)
}

signInForm.addEventListener("submit", (event) => {
  event.preventDefault()
  const token = tokenInput.value.trim()
  if (token === "") {
    setText(signInError, "Enter the admin token.")
    tokenInput.focus()
    return
  }
  signInSubmit.disabled = true
  setText(signInError, "")
  AdminApi.session
    .open(token)
    .then(async () => {
      tokenInput.value = ""
      await start()
      // The form that had focus is gone: continue at the top of the content.
      main.focus({ preventScroll: true })
    })
    .catch((error: unknown) => {
      setText(
        signInError,
        error instanceof ApiError && error.status === 401
          ? "That is not the admin token."
          : `Sign-in failed: ${messageOf(error)}`
      )
      tokenInput.select()
      tokenInput.focus()
    })
    .finally(() => {
      signInSubmit.disabled = false
    })
})

signOutButton.addEventListener("click", () => {
  AdminApi.session
    .close()
    .catch(() => undefined)
    .finally(() => {
      cards.clear()
      serverList.replaceChildren()
      showSignIn("")
      announce(announcer, "Signed out")
    })
})

// ---------------------------------------------------------------------------
// Server cards

const stateLabels: Readonly<Record<string, string>> = {
  connected: "connected",
  connecting: "connecting",
  needs_auth: "needs auth",
  error: "error",
  disconnected: "disconnected",
  disabled: "disabled"
}

/** The auth badge: `authenticated · expires in 52 min`, `needs login`, … (undefined: no badge). */
const authLabel = (auth: Auth, now: number): string | undefined => {
  switch (auth.state) {
    case "not-required":
      return undefined
    case "authenticated":
      return auth.expiresAt === undefined
        ? "authenticated"
        : `authenticated · expires in ${formatIn(auth.expiresAt - now)}`
    case "expired":
      return auth.refreshable ? "expired · refreshable" : "expired"
    case "needs-login":
      return "needs login"
    case "needs-scope":
      return auth.neededScopes === undefined || auth.neededScopes.length === 0
        ? "needs scope"
        : `needs scope ${auth.neededScopes.join(" ")}`
    case "unknown":
      return `auth error: ${auth.summary}`
  }
}

const authTone = (state: Auth["state"]): string =>
  state === "authenticated"
    ? "ok"
    : state === "expired" || state === "needs-login" || state === "needs-scope"
      ? "warn"
      : "danger"

const stateTone = (state: string): string =>
  state === "connected"
    ? "ok"
    : state === "connecting"
      ? "info"
      : state === "needs_auth"
        ? "warn"
        : state === "error"
          ? "danger"
          : "muted"

let nextId = 0

/** The first sentence (or line) of a description, as plain text. */
const summaryOf = (description: string | undefined): string => {
  if (description === undefined) return ""
  const firstLine = description.trim().split("\n")[0] ?? ""
  const plain = firstLine.replace(/[`*_#>[\]]/g, "").trim()
  return plain.length > 140 ? `${plain.slice(0, 137)}…` : plain
}

class ServerCard {
  readonly element: HTMLLIElement
  private server: CardServer
  private readonly builtin: boolean
  private readonly stateBadge: HTMLElement
  private readonly authBadge: HTMLElement
  private readonly transportBadge: HTMLElement
  private readonly detail: HTMLElement
  private readonly errorLine: HTMLElement
  private readonly notice: HTMLElement
  private readonly toolsToggle: HTMLButtonElement
  private readonly toolsEmpty: HTMLElement
  private readonly toolsList: HTMLUListElement
  private readonly catalogToggle: HTMLButtonElement
  private readonly catalogList: HTMLUListElement
  private readonly signIn: HTMLButtonElement
  private readonly reconnect: HTMLButtonElement
  private readonly logout: HTMLButtonElement
  private toolsKey = ""

  constructor(server: CardServer, builtin = false) {
    this.server = server
    this.builtin = builtin
    const id = `server-${nextId++}`
    this.stateBadge = h("span", { class: "badge", "data-role": "state" })
    this.authBadge = h("span", { class: "badge", "data-role": "auth" })
    this.transportBadge = h("span", { class: "badge tone-muted", "data-role": "transport" })
    this.detail = h("p", { class: "card-detail muted" })
    this.errorLine = h("p", { class: "card-error", "data-role": "error" })
    this.notice = h("p", { class: "card-notice", "data-role": "notice", "aria-live": "polite" })
    this.toolsList = h("ul", { class: "tool-list", id: `${id}-tools`, hidden: true })
    this.toolsToggle = h(
      "button",
      {
        type: "button",
        class: "tools-toggle",
        "aria-expanded": "false",
        "aria-controls": `${id}-tools`,
        onclick: () => this.toggleTools()
      },
      ""
    )
    this.toolsEmpty = h("span", { class: "muted" }, "no tools")
    this.catalogList = h("ul", { class: "tool-list", id: `${id}-catalog`, hidden: true })
    this.catalogToggle = h(
      "button",
      {
        type: "button",
        class: "tools-toggle",
        "aria-expanded": "false",
        "aria-controls": `${id}-catalog`,
        "data-role": "catalog",
        onclick: () => this.toggleCatalog()
      },
      "resources and prompts"
    )
    this.signIn = h(
      "button",
      { type: "button", class: "primary", onclick: () => this.authenticate() },
      "Sign in"
    )
    this.reconnect = h("button", { type: "button", onclick: () => this.doReconnect() }, "Reconnect")
    this.logout = h("button", { type: "button", onclick: () => this.doLogout() }, "Log out")
    this.element = h(
      "li",
      { class: "card", "data-server": server.name },
      h(
        "article",
        { "aria-labelledby": `${id}-name` },
        h(
          "div",
          { class: "card-head" },
          h("h3", { id: `${id}-name`, class: "card-title" }, server.name),
          this.transportBadge
        ),
        this.detail,
        h("div", { class: "badges" }, this.stateBadge, this.authBadge),
        this.errorLine,
        h("div", { class: "card-tools" }, this.toolsToggle, this.toolsEmpty),
        this.toolsList,
        builtin ? null : h("div", { class: "card-tools" }, this.catalogToggle),
        builtin ? null : this.catalogList,
        builtin ? null : h("div", { class: "card-actions" }, this.signIn, this.reconnect, this.logout),
        this.notice
      )
    )
    this.render()
  }

  get name(): string {
    return this.server.name
  }

  update(server: CardServer): void {
    this.server = server
    this.render()
  }

  /** A `status` event: connection fields only; tools and auth come with the next refresh. */
  patch(status: ServerStatus): void {
    this.server = { ...this.server, ...status }
    this.render()
  }

  /** Re-renders what depends on the clock (the expiry). */
  tick(): void {
    this.renderAuth()
  }

  private render(): void {
    const server = this.server
    this.element.dataset.state = server.state
    setText(this.transportBadge, this.builtin ? "builtin" : server.transport)
    setText(this.stateBadge, stateLabels[server.state] ?? server.state)
    this.stateBadge.className = `badge tone-${stateTone(server.state)}`
    this.stateBadge.hidden = this.builtin
    const details = [
      server.url,
      server.serverInfo === undefined ? undefined : `${server.serverInfo.name} ${server.serverInfo.version}`
    ].filter((part): part is string => part !== undefined && part !== "")
    setText(this.detail, details.join(" · "))
    this.detail.hidden = details.length === 0
    const showError =
      server.lastError !== undefined && server.state !== "connected" && server.state !== "disabled"
    const retry =
      server.nextRetryAt === undefined ? "" : ` (retrying in ${formatIn(server.nextRetryAt - Date.now())})`
    const stderr = server.stderr === undefined ? "" : `; stderr: ${server.stderr}`
    setText(this.errorLine, showError ? `${server.lastError ?? ""}${retry}${stderr}` : "")
    this.errorLine.hidden = !showError
    this.renderAuth()
    this.renderTools()
    this.renderActions()
  }

  private renderAuth(): void {
    const label = this.builtin ? undefined : authLabel(this.server.auth, Date.now())
    this.authBadge.hidden = label === undefined
    setText(this.authBadge, label ?? "")
    this.authBadge.className = `badge tone-${authTone(this.server.auth.state)}`
    setAttribute(this.authBadge, "title", this.server.auth.issuer)
  }

  private renderTools(): void {
    const tools = this.server.tools
    const count = tools.length
    setText(this.toolsToggle, plural(count, "tool"))
    this.toolsToggle.hidden = count === 0
    this.toolsEmpty.hidden = count !== 0
    if (count === 0 && this.toolsToggle.getAttribute("aria-expanded") === "true") this.setExpanded(false)
    const key = tools.map(
      (tool) => `${tool.publicName}\u0000${tool.title ?? ""}\u0000${tool.description ?? ""}`
    )
    if (key.join("\u0001") === this.toolsKey) return
    this.toolsKey = key.join("\u0001")
    this.toolsList.replaceChildren(
      ...tools.map((tool) =>
        h(
          "li",
          { class: "tool" },
          h(
            "button",
            {
              type: "button",
              class: "tool-link",
              "aria-haspopup": "dialog",
              "data-tool": tool.publicName,
              onclick: (event) => openTool(tool, event.currentTarget as HTMLElement)
            },
            tool.title ?? tool.name
          ),
          h("code", { class: "tool-public" }, tool.publicName),
          h("span", { class: "tool-summary muted" }, summaryOf(tool.description))
        )
      )
    )
  }

  private renderActions(): void {
    const { auth, state } = this.server
    const oauth = auth.state !== "not-required" || state === "needs_auth"
    this.signIn.hidden = !oauth || auth.state === "authenticated"
    setText(this.signIn, auth.state === "needs-scope" ? "Grant access" : "Sign in")
    this.logout.hidden = !["authenticated", "expired", "needs-scope"].includes(auth.state)
    this.reconnect.hidden = state === "disabled"
  }

  private setExpanded(expanded: boolean): void {
    this.toolsToggle.setAttribute("aria-expanded", String(expanded))
    this.toolsList.hidden = !expanded
  }

  /** Resources, templates and prompts, read from the server when opened (they are not in the list). */
  private toggleCatalog(): void {
    const expanded = this.catalogToggle.getAttribute("aria-expanded") !== "true"
    this.catalogToggle.setAttribute("aria-expanded", String(expanded))
    this.catalogList.hidden = !expanded
    if (!expanded) return
    this.catalogList.replaceChildren(h("li", { class: "muted" }, "loading…"))
    AdminApi.servers.catalog(this.server.name).then(
      (catalog) => {
        const row = (label: string, publicName: string, summary: string | undefined) =>
          h(
            "li",
            { class: "tool" },
            h("span", { class: "tool-link" }, label),
            h("code", { class: "tool-public" }, publicName),
            h("span", { class: "tool-summary muted" }, summaryOf(summary))
          )
        const rows = [
          ...catalog.resources.map((resource) =>
            row(resource.title ?? resource.name, resource.publicUri, resource.description)
          ),
          ...catalog.resourceTemplates.map((template) =>
            row(
              `${template.title ?? template.name} (template)`,
              template.publicUriTemplate,
              template.description
            )
          ),
          ...catalog.prompts.map((prompt) =>
            row(`${prompt.title ?? prompt.name} (prompt)`, prompt.publicName, prompt.description)
          )
        ]
        this.catalogList.replaceChildren(
          ...(rows.length === 0 ? [h("li", { class: "muted" }, "no resources or prompts")] : rows)
        )
      },
      (error: unknown) => {
        this.catalogList.replaceChildren(h("li", { class: "card-error" }, messageOf(error)))
      }
    )
  }

  private toggleTools(): void {
    this.setExpanded(this.toolsToggle.getAttribute("aria-expanded") !== "true")
  }

  showNotice(message: string, tone: "info" | "error" = "info"): void {
    this.notice.dataset.tone = tone
    setText(this.notice, message)
  }

  private async busy(button: HTMLButtonElement, run: () => Promise<void>): Promise<void> {
    button.disabled = true
    button.setAttribute("aria-busy", "true")
    try {
      await run()
    } catch (error) {
      this.showNotice(`${this.server.name}: ${onFailure(error)}`, "error")
    } finally {
      button.disabled = false
      button.removeAttribute("aria-busy")
    }
  }

  /** Opens the popup at once (a popup opened after an await may be blocked), then sends it to the authorization URL. */
  private authenticate(): void {
    const name = this.server.name
    const popup = window.open("", `mcpgate-login-${name}`, "popup=yes,width=540,height=720")
    void this.busy(this.signIn, async () => {
      try {
        const { authUrl } = await AdminApi.servers.authenticate(name)
        const url = new URL(authUrl)
        if (url.protocol !== "https:" && url.protocol !== "http:")
          throw new Error("the authorization URL is not http(s)")
        if (popup === null || popup.closed) {
          this.showNotice(
            "The sign-in window was blocked: allow pop-ups for this page, or open the sign-in page:"
          )
          this.notice.append(" ", h("a", { href: url.href, target: "_blank" }, "sign in"))
        } else {
          popup.location.assign(url.href)
          this.showNotice("Waiting for the sign-in window…")
        }
      } catch (error) {
        popup?.close()
        throw error
      }
    })
  }

  private doReconnect(): void {
    void this.busy(this.reconnect, async () => {
      this.showNotice("Reconnecting…")
      const result = await AdminApi.servers.reconnect(this.server.name)
      this.patch(result.server)
      this.showNotice("")
      void refresh()
    })
  }

  private doLogout(): void {
    void this.busy(this.logout, async () => {
      const result = await AdminApi.servers.logout(this.server.name)
      this.showNotice(
        result.revoked
          ? "Logged out; the token was revoked."
          : result.removed
            ? "Logged out."
            : "There was no sign-in to remove."
      )
      await refresh()
      // The button that had focus is gone now: keep focus on the card's next action.
      if (!this.signIn.hidden) this.signIn.focus()
    })
  }

  /** Called from the popup's message or the `oauth` event. */
  loginFinished(ok: boolean, error: string | undefined): void {
    this.showNotice(ok ? "Signed in." : `Sign-in failed: ${error ?? "unknown error"}`, ok ? "info" : "error")
  }
}

const cards = new Map<string, ServerCard>()
const builtinName = "\u0000builtin"

const renderServers = (payload: ServersAnswer) => {
  const names = new Set<string>()
  const ordered: Array<ServerCard> = []
  for (const server of payload.servers) {
    names.add(server.name)
    let card = cards.get(server.name)
    if (card === undefined) {
      card = new ServerCard(server)
      cards.set(server.name, card)
    } else card.update(server)
    ordered.push(card)
  }
  if (payload.builtinTools.length > 0) {
    names.add(builtinName)
    const builtin: CardServer = {
      name: "builtin",
      transport: "builtin",
      state: "connected",
      attempts: 0,
      toolCount: payload.builtinTools.length,
      enabled: true,
      tools: payload.builtinTools,
      auth: { state: "not-required", summary: "not required", refreshable: false, scopes: [] }
    }
    let card = cards.get(builtinName)
    if (card === undefined) {
      card = new ServerCard(builtin, true)
      cards.set(builtinName, card)
    } else card.update(builtin)
    ordered.push(card)
  }
  for (const [name, card] of cards) {
    if (!names.has(name)) {
      card.element.remove()
      cards.delete(name)
    }
  }
  // Moves only what is out of place, so focus and open tool lists stay put.
  ordered.forEach((card, index) => {
    if (serverList.children[index] !== card.element)
      serverList.insertBefore(card.element, serverList.children[index] ?? null)
  })
  const servers = payload.servers.filter((server) => server.state !== "disabled")
  const connected = servers.filter((server) => server.state === "connected").length
  const tools = payload.servers.reduce(
    (sum, server) => sum + server.tools.length,
    payload.builtinTools.length
  )
  setText(
    serversSummary,
    `${connected} of ${plural(servers.length, "server")} connected · ${plural(tools, "tool")}`
  )
}

const refreshServers = async () => renderServers(await AdminApi.servers.list())

let refreshTimer: number | undefined
let refreshWaiters: Array<() => void> = []
let refreshing: Promise<void> = Promise.resolve()

/**
 * Coalesces the refreshes a burst of events asks for into one request; every
 * caller's promise settles once a request that started after its call is done.
 */
const refresh = (): Promise<void> =>
  new Promise((resolve) => {
    refreshWaiters.push(resolve)
    if (refreshTimer !== undefined) window.clearTimeout(refreshTimer)
    refreshTimer = window.setTimeout(() => {
      refreshTimer = undefined
      const waiters = refreshWaiters
      refreshWaiters = []
      refreshing = refreshing
        .then(() => refreshServers())
        .catch(onFailure)
        .then(() => {
          for (const waiter of waiters) waiter()
        })
    }, 60)
  })

window.setInterval(() => {
  for (const card of cards.values()) card.tick()
}, 30_000)

// ---------------------------------------------------------------------------
// Tool description dialog

let dialogInvoker: HTMLElement | undefined

const openTool = (tool: Tool, invoker: HTMLElement) => {
  dialogInvoker = invoker
  setText(dialogTitle, tool.title ?? tool.name)
  setText(dialogName, tool.publicName)
  dialogBody.replaceChildren(
    tool.description === undefined || tool.description.trim() === ""
      ? h("p", { class: "muted" }, "This tool has no description.")
      : renderMarkdown(tool.description)
  )
  setText(dialogSchema, JSON.stringify(tool.inputSchema ?? {}, null, 2))
  dialog.showModal()
  dialogClose.focus()
}

dialogClose.addEventListener("click", () => dialog.close())
dialog.addEventListener("close", () => {
  dialogInvoker?.focus()
  dialogInvoker = undefined
})
// A click on the backdrop (outside the dialog's box) closes it.
dialog.addEventListener("click", (event) => {
  if (event.target !== dialog) return
  const box = dialog.getBoundingClientRect()
  const inside =
    event.clientX >= box.left &&
    event.clientX <= box.right &&
    event.clientY >= box.top &&
    event.clientY <= box.bottom
  if (!inside) dialog.close()
})

// ---------------------------------------------------------------------------
// Live updates

const setLive = (state: "live" | "connecting" | "offline") => {
  live.dataset.state = state
  setText(live, state === "live" ? "Live" : state === "connecting" ? "Connecting…" : "Offline, retrying…")
}

/** The last state read out per server. */
const announced = new Map<string, string>()

const connectEvents = () => {
  events?.close()
  setLive("connecting")
  const source = new EventSource(AdminApi.eventsUrl)
  events = source
  source.addEventListener("open", () => setLive("live"))
  AdminApi.onEvent(source, "snapshot", renderServers)
  AdminApi.onEvent(source, "status", (status) => {
    cards.get(status.name)?.patch(status)
    // Settled states only, once each: a server that keeps retrying is not read out every time.
    if (status.state !== "connecting" && announced.get(status.name) !== status.state) {
      announced.set(status.name, status.state)
      announce(announcer, `${status.name}: ${stateLabels[status.state] ?? status.state}`)
    }
    void refresh()
  })
  for (const name of ["tools", "removed"] as const) AdminApi.onEvent(source, name, () => void refresh())
  AdminApi.onEvent(source, "oauth", (completion) => {
    cards.get(completion.server)?.loginFinished(completion.ok, completion.error)
    announce(announcer, `${completion.server}: ${completion.ok ? "signed in" : "sign-in failed"}`)
    void refresh()
  })
  source.addEventListener("error", () => {
    if (source !== events) return
    if (source.readyState !== EventSource.CLOSED) {
      setLive("offline")
      return
    }
    // Closed for good (an error status): find out whether the session is still valid.
    setLive("offline")
    refreshServers()
      .then(() => window.setTimeout(() => source === events && connectEvents(), 3000))
      .catch(onFailure)
  })
}

// The popup's own report (admin/CallbackPage.ts), from this origin only.
window.addEventListener("message", (event: MessageEvent<unknown>) => {
  if (event.origin !== window.location.origin) return
  const data = event.data
  if (typeof data !== "object" || data === null) return
  const message = data as { type?: unknown; server?: unknown; ok?: unknown; error?: unknown }
  if (message.type !== "mcpgate:oauth" || typeof message.server !== "string") return
  cards
    .get(message.server)
    ?.loginFinished(message.ok === true, typeof message.error === "string" ? message.error : undefined)
  void refresh()
})

// ---------------------------------------------------------------------------
// Reload

reloadButton.addEventListener("click", () => {
  reloadButton.disabled = true
  AdminApi.config
    .reload()
    .then(async (result) => {
      announce(
        announcer,
        result.restartRequired
          ? "Config reloaded. Some changes (listener, upstream, builtins, budget) apply after a restart."
          : "Config reloaded."
      )
      void refresh()
      // Unsaved edits stay; otherwise the editor shows what was just loaded.
      if (!editorDirty()) await loadConfig()
      setText(
        configStatus,
        result.restartRequired ? "Reloaded; some changes need a restart." : "Reloaded from disk."
      )
    })
    .catch((error: unknown) => {
      const message = onFailure(error)
      if (error instanceof ApiError && error.issues.length > 0)
        showIssues(error.issues, "The file on disk is not valid:")
      else setText(configStatus, `Reload failed: ${message}`)
    })
    .finally(() => {
      reloadButton.disabled = false
    })
})

// ---------------------------------------------------------------------------
// Config editor

let baseHash: string | undefined
let savedText = ""
let issueLines = new Set<number>()
let gutterLines = 0

const editorDirty = () => configText.value !== savedText

const lineHeight = () => Number.parseFloat(getComputedStyle(configText).lineHeight) || 20

const renderGutter = () => {
  const lines = configText.value.split("\n").length
  if (lines !== gutterLines) {
    gutterLines = lines
    const numbers = document.createDocumentFragment()
    for (let line = 1; line <= lines; line++) numbers.append(h("div", { "data-line": line }, String(line)))
    configGutter.replaceChildren(numbers)
  }
  for (const element of configGutter.children) {
    const line = Number((element as HTMLElement).dataset.line)
    element.classList.toggle("has-issue", issueLines.has(line))
  }
  syncScroll()
}

const syncScroll = () => {
  const offset = `translateY(${-configText.scrollTop}px)`
  configGutter.style.transform = offset
  configAnnotations.style.transform = `translate(${-configText.scrollLeft}px, ${-configText.scrollTop}px)`
}

const clearIssues = () => {
  issueLines = new Set()
  configIssues.replaceChildren()
  configAnnotations.replaceChildren()
  configText.removeAttribute("aria-invalid")
  renderGutter()
}

/** Puts the caret at the start of a line (1-based) and scrolls it into view. */
const goToLine = (line: number, column = 1) => {
  const lines = configText.value.split("\n")
  let offset = 0
  for (let index = 0; index < line - 1 && index < lines.length; index++)
    offset += (lines[index]?.length ?? 0) + 1
  offset += Math.max(0, column - 1)
  configText.focus()
  configText.setSelectionRange(offset, offset)
  const top = (line - 1) * lineHeight()
  if (top < configText.scrollTop || top > configText.scrollTop + configText.clientHeight - lineHeight() * 2) {
    configText.scrollTop = Math.max(0, top - configText.clientHeight / 3)
  }
  syncScroll()
}

const showIssues = (issues: ReadonlyArray<ConfigIssue>, heading: string) => {
  issueLines = new Set(issues.flatMap((issue) => (issue.line === undefined ? [] : [issue.line])))
  configText.setAttribute("aria-invalid", "true")
  const padding = Number.parseFloat(getComputedStyle(configText).paddingTop) || 0
  configAnnotations.replaceChildren(
    ...issues
      .filter((issue) => issue.line !== undefined)
      .map((issue) => {
        const note = h("div", { class: "annotation", "data-line": issue.line ?? 0 }, issue.message)
        note.style.top = `${padding + ((issue.line ?? 1) - 1) * lineHeight()}px`
        return note
      })
  )
  configIssues.replaceChildren(
    h("p", { class: "issues-heading" }, heading),
    h(
      "ul",
      {},
      ...issues.map((issue) =>
        h(
          "li",
          { class: "issue", "data-line": issue.line ?? "" },
          issue.line === undefined
            ? h("span", { class: "issue-where" }, issue.path === "" ? "Config" : issue.path)
            : h(
                "button",
                {
                  type: "button",
                  class: "issue-where link",
                  onclick: () => goToLine(issue.line ?? 1, issue.column ?? 1)
                },
                `Line ${issue.line}${issue.column === undefined ? "" : `, column ${issue.column}`}`
              ),
          " ",
          h("span", { class: "issue-message" }, issue.message),
          issue.path === "" || issue.line === undefined
            ? null
            : h("code", { class: "issue-path" }, issue.path)
        )
      )
    )
  )
  renderGutter()
}

const loadConfig = async () => {
  const config = await AdminApi.config.get()
  setText(configPath, config.path)
  baseHash = config.hash
  savedText = config.text
  configText.value = config.text
  clearIssues()
  const readOnly = config.editor === "read-only"
  configText.readOnly = readOnly
  configSave.hidden = readOnly
  setText(
    configStatus,
    readOnly
      ? "Read-only here (server.configEditor): edit the file on the host."
      : config.editor === "no-commands"
        ? "How stdio servers are started (command, args, env, cwd) can only be changed in the file on the host."
        : config.exists
          ? ""
          : "The file does not exist yet: saving creates it."
  )
}

const saveConfig = async () => {
  configSave.disabled = true
  setText(configStatus, "Checking…")
  const text = configText.value
  try {
    const result = await AdminApi.config.put(baseHash === undefined ? { text } : { text, baseHash })
    clearIssues()
    const fresh = await AdminApi.config.get()
    baseHash = fresh.hash
    savedText = fresh.text
    if (configText.value === text && fresh.text !== text) configText.value = fresh.text
    setText(
      configStatus,
      result.restartRequired ? "Saved and applied; some changes need a restart." : "Saved and applied."
    )
    announce(announcer, "Config saved")
    void refresh()
  } catch (error) {
    const message = onFailure(error)
    if (error instanceof ApiError && error.code === "config_changed") {
      setText(configStatus, "")
      configIssues.replaceChildren(
        h(
          "p",
          { class: "issues-heading" },
          "The file changed on disk since it was loaded; nothing was saved."
        ),
        h(
          "button",
          {
            type: "button",
            onclick: () => {
              void loadConfig().catch(onFailure)
            }
          },
          "Load the file from disk (discards these edits)"
        )
      )
    } else if (error instanceof ApiError && error.issues.length > 0) {
      setText(configStatus, "Not saved.")
      showIssues(error.issues, `Not saved: ${plural(error.issues.length, "problem")} in the config.`)
      const first = error.issues.find((issue) => issue.line !== undefined)
      if (first?.line !== undefined) goToLine(first.line, first.column ?? 1)
    } else {
      setText(configStatus, `Not saved: ${message}`)
    }
  } finally {
    configSave.disabled = false
  }
}

configText.addEventListener("input", () => {
  if (issueLines.size > 0 || configIssues.childElementCount > 0) clearIssues()
  else renderGutter()
  setText(configStatus, editorDirty() ? "Unsaved changes" : "")
})
configText.addEventListener("scroll", syncScroll)
configText.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
    event.preventDefault()
    void saveConfig()
  }
})
configSave.addEventListener("click", () => void saveConfig())
configRevert.addEventListener("click", () => {
  configText.value = savedText
  clearIssues()
  setText(configStatus, "Reverted to the saved file.")
})

// ---------------------------------------------------------------------------
// Start

// With server.auth, admins may sign in with the provider instead of the token.
void requestJson<{ signInAvailable?: boolean }>("/signin/session")
  .then((session) => {
    byId("provider-sign-in").hidden = session.signInAvailable !== true
  })
  .catch(() => undefined)

const start = async () => {
  let payload: ServersAnswer
  try {
    payload = await AdminApi.servers.list()
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showSignIn()
    loading.hidden = false
    setText(loading, `The admin API cannot be reached: ${messageOf(error)}`)
    return
  }
  showDashboard()
  renderServers(payload)
  connectEvents()
  void startActivity(byId("activity"), byId("activity-summary"), onFailure)
  void startUsers(byId("users"), byId("users-summary"), onFailure)
  await loadConfig().catch((error: unknown) =>
    setText(configStatus, `Cannot load the config: ${onFailure(error)}`)
  )
}

void start()
