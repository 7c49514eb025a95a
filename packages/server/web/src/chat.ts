/**
 * The chat page (docs/gateway.md#web-ui; events: docs/gateway.md#tool-call-events): streams `/v1/chat/completions` through the
 * gateway; with the tools switch on it sends `execute_mcp_tools: true` and
 * shows every `tool_call_event` as a collapsible block. Reasoning
 * (`reasoning_content` deltas and `<think>` blocks) is collapsible too.
 * Answers are Markdown, sanitised, rendered block by block (lib/markdown.ts).
 */
import type { ToolsAnswer } from "../../src/api/McpJsonHttpApi.ts"
import { ApiError, errorFrom, messageOf, requestJson } from "./lib/api.ts"
import { byId, formatDuration, h, plural, prettyJson, setText } from "./lib/dom.ts"
import { StreamingMarkdown, ThinkSplitter } from "./lib/markdown.ts"

interface ChatMessage {
  readonly role: "user" | "assistant"
  readonly content: string
}

interface ToolCallEvent {
  readonly id: string
  readonly name: string
  readonly arguments: string
  readonly status: "started" | "completed" | "failed"
  readonly result?: string
  readonly duration_ms?: number
}

const modelSelect = byId<HTMLSelectElement>("model")
const modelStatus = byId("model-status")
const toolsSwitch = byId<HTMLInputElement>("use-tools")
const toolsStatus = byId("tools-status")
const newChatButton = byId<HTMLButtonElement>("new-chat")
const keySettings = byId<HTMLDetailsElement>("api-key-settings")
const keyForm = byId<HTMLFormElement>("api-key-form")
const keyInput = byId<HTMLInputElement>("api-key")
const transcript = byId("transcript")
const emptyState = byId("empty-state")
const composer = byId<HTMLFormElement>("composer")
const prompt = byId<HTMLTextAreaElement>("prompt")
const sendButton = byId<HTMLButtonElement>("send")
const stopButton = byId<HTMLButtonElement>("stop")
const chatStatus = byId("chat-status")

// ---------------------------------------------------------------------------
// Settings: the API key lives in this tab only; the model and the switch are remembered.

const keyStorage = "mcpgate.chat.apiKey"
const modelStorage = "mcpgate.chat.model"
const toolsStorage = "mcpgate.chat.tools"

const storedKey = () => sessionStorage.getItem(keyStorage) ?? ""

const apiHeaders = (): Record<string, string> => {
  const key = storedKey()
  return key === "" ? {} : { authorization: `Bearer ${key}` }
}

const askForKey = (message: string) => {
  keySettings.hidden = false
  keySettings.open = true
  setText(modelStatus, message)
  keyInput.focus()
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault()
  const key = keyInput.value.trim()
  if (key === "") sessionStorage.removeItem(keyStorage)
  else sessionStorage.setItem(keyStorage, key)
  keyInput.value = ""
  keySettings.open = false
  void loadModels()
})

toolsSwitch.checked = localStorage.getItem(toolsStorage) !== "off"
toolsSwitch.addEventListener("change", () => {
  localStorage.setItem(toolsStorage, toolsSwitch.checked ? "on" : "off")
})

modelSelect.addEventListener("change", () => localStorage.setItem(modelStorage, modelSelect.value))

const loadModels = async () => {
  try {
    const models = await requestJson<{ data?: ReadonlyArray<{ id?: unknown }> }>("/v1/models", {
      headers: apiHeaders()
    })
    const ids = (models.data ?? [])
      .map((model) => model.id)
      .filter((id): id is string => typeof id === "string")
      .sort((a, b) => a.localeCompare(b))
    const remembered = localStorage.getItem(modelStorage)
    modelSelect.replaceChildren(...ids.map((id) => h("option", { value: id }, id)))
    if (ids.length === 0) {
      modelSelect.append(h("option", { value: "" }, "No models"))
      setText(modelStatus, "The upstream lists no models.")
    } else {
      setText(modelStatus, "")
      if (remembered !== null && ids.includes(remembered)) modelSelect.value = remembered
    }
  } catch (error) {
    modelSelect.replaceChildren(h("option", { value: "" }, "Unavailable"))
    if (error instanceof ApiError && error.status === 401) {
      askForKey("This gateway needs an API key for /v1: enter one of its server.apiKeys.")
    } else setText(modelStatus, `Cannot list models: ${messageOf(error)}`)
    return
  }
  try {
    const tools = await requestJson<ToolsAnswer>("/v1/mcp/tools", { headers: apiHeaders() })
    setText(toolsStatus, plural(tools.tools.length, "tool"))
  } catch {
    setText(toolsStatus, "")
  }
}

// ---------------------------------------------------------------------------
// Following the stream: stay at the bottom unless the reader scrolled up.

let stickToBottom = true
transcript.addEventListener("scroll", () => {
  stickToBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48
})
let scrollFrame: number | undefined
new MutationObserver(() => {
  if (!stickToBottom || scrollFrame !== undefined) return
  scrollFrame = window.requestAnimationFrame(() => {
    scrollFrame = undefined
    transcript.scrollTop = transcript.scrollHeight
  })
}).observe(transcript, { childList: true, subtree: true, characterData: true })

// ---------------------------------------------------------------------------
// One assistant turn: reasoning, tool calls and answer text, in the order they came.

const statusLabels = { started: "running", completed: "done", failed: "failed" } as const

class ToolBlock {
  readonly element: HTMLDetailsElement
  private readonly badge: HTMLElement
  private readonly duration: HTMLElement
  private readonly args: HTMLElement
  private readonly result: HTMLElement

  constructor(event: ToolCallEvent) {
    this.badge = h("span", { class: "badge" })
    this.duration = h("span", { class: "tool-duration muted" })
    this.args = h("pre", { class: "tool-args" })
    this.result = h("pre", { class: "tool-result" })
    this.element = h(
      "details",
      { class: "tool-call", "data-tool-id": event.id, "data-tool": event.name },
      h(
        "summary",
        {},
        h("span", { class: "tool-icon", "aria-hidden": "true" }),
        h("span", { class: "tool-label" }, "Tool "),
        h("code", { class: "tool-name" }, event.name),
        this.badge,
        this.duration
      ),
      h(
        "div",
        { class: "tool-body" },
        h("h3", { class: "tool-heading" }, "Arguments"),
        this.args,
        h("h3", { class: "tool-heading" }, "Result"),
        this.result
      )
    )
    this.update(event)
  }

  update(event: ToolCallEvent): void {
    this.element.dataset.status = event.status
    setText(this.badge, statusLabels[event.status])
    this.badge.className = `badge tone-${event.status === "completed" ? "ok" : event.status === "failed" ? "danger" : "info"}`
    setText(this.duration, event.duration_ms === undefined ? "" : formatDuration(event.duration_ms))
    setText(this.args, event.arguments.trim() === "" ? "(none)" : prettyJson(event.arguments))
    setText(this.result, event.result ?? (event.status === "started" ? "Running…" : "(no result)"))
  }

  /** The request was stopped while the call ran. */
  stop(): void {
    if (this.element.dataset.status !== "started") return
    this.element.dataset.status = "stopped"
    setText(this.badge, "stopped")
    this.badge.className = "badge tone-muted"
    setText(this.result, "(stopped before the tool answered)")
  }
}

type TextPart =
  | { readonly kind: "answer"; readonly markdown: StreamingMarkdown }
  | {
      readonly kind: "reasoning"
      readonly markdown: StreamingMarkdown
      readonly summary: HTMLElement
    }

class AssistantTurn {
  readonly element: HTMLElement
  private readonly parts: HTMLElement
  private readonly footer: HTMLElement
  private current: TextPart | undefined
  private readonly tools = new Map<string, ToolBlock>()
  private readonly splitter = new ThinkSplitter()
  private answers: Array<StreamingMarkdown> = []

  constructor() {
    this.parts = h("div", { class: "parts" })
    this.footer = h("p", { class: "turn-footer muted small" })
    this.element = h(
      "article",
      { class: "message assistant", "aria-label": "Assistant" },
      this.parts,
      this.footer
    )
    this.element.dataset.state = "streaming"
  }

  /** The answer text so far (without reasoning), as the next request's history. */
  get answerText(): string {
    return this.answers.map((answer) => answer.text).join("\n\n")
  }

  get runningTools(): ReadonlyArray<string> {
    return [...this.tools.values()]
      .filter((block) => block.element.dataset.status === "started")
      .map((block) => block.element.dataset.tool ?? "")
  }

  private closeText(): void {
    if (this.current === undefined) return
    this.current.markdown.finish()
    if (this.current.kind === "reasoning") setText(this.current.summary, "Reasoning")
    this.current = undefined
  }

  private textPart(kind: "answer" | "reasoning"): StreamingMarkdown {
    if (this.current?.kind === kind) return this.current.markdown
    this.closeText()
    if (kind === "answer") {
      const body = h("div", { class: "answer markdown" })
      this.parts.append(body)
      const markdown = new StreamingMarkdown(body)
      this.answers.push(markdown)
      this.current = { kind, markdown }
      return markdown
    }
    const summary = h("span", { class: "reasoning-label" }, "Thinking…")
    const body = h("div", { class: "reasoning-body markdown" })
    this.parts.append(h("details", { class: "reasoning" }, h("summary", {}, summary), body))
    const markdown = new StreamingMarkdown(body)
    this.current = { kind, markdown, summary }
    return markdown
  }

  reasoning(text: string): void {
    if (text !== "") this.textPart("reasoning").append(text)
  }

  content(text: string): void {
    for (const piece of this.splitter.push(text)) this.textPart(piece.kind).append(piece.text)
  }

  toolEvent(event: ToolCallEvent): void {
    const known = this.tools.get(event.id)
    if (known !== undefined) {
      known.update(event)
      return
    }
    this.closeText()
    const block = new ToolBlock(event)
    this.tools.set(event.id, block)
    this.parts.append(block.element)
  }

  private end(state: string, footer: string): void {
    for (const piece of this.splitter.flush()) this.textPart(piece.kind).append(piece.text)
    this.closeText()
    this.element.dataset.state = state
    setText(this.footer, footer)
  }

  finish(reason: string | undefined, requestedTools: ReadonlyArray<string>): void {
    this.end(
      "done",
      reason === "length"
        ? "Cut off: the model reached its length limit."
        : reason === "content_filter"
          ? "Stopped by the content filter."
          : reason === "tool_calls"
            ? `The model asked for ${requestedTools.length === 0 ? "tools" : requestedTools.join(", ")}; turn on MCP tools to let the gateway run them.`
            : ""
    )
  }

  stop(): void {
    for (const block of this.tools.values()) block.stop()
    this.end("stopped", "Stopped.")
  }

  fail(message: string): void {
    this.end("failed", "")
    this.parts.append(h("p", { class: "turn-error", role: "alert" }, message))
  }
}

// ---------------------------------------------------------------------------
// Server-sent events of the completion (the `data:` of each event).

async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      buffer = buffer.replace(/\r\n/g, "\n")
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n")
        if (data !== "") yield data
      }
    }
  } finally {
    reader.releaseLock()
  }
}

// ---------------------------------------------------------------------------
// Sending

const history: Array<ChatMessage> = []
let controller: AbortController | undefined

const setStreaming = (streaming: boolean) => {
  sendButton.hidden = streaming
  stopButton.hidden = !streaming
  transcript.setAttribute("aria-busy", String(streaming))
  if (streaming) stopButton.focus({ preventScroll: true })
  else if (document.activeElement === stopButton || document.activeElement === document.body) prompt.focus()
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A `tool_call_event` as the gateway sends it (ToolLoop.ts), or `undefined` for anything else. */
const toolCallEvent = (value: unknown): ToolCallEvent | undefined => {
  if (!isRecord(value) || typeof value.id !== "string" || typeof value.name !== "string") return undefined
  const status = value.status
  if (status !== "started" && status !== "completed" && status !== "failed") return undefined
  return {
    id: value.id,
    name: value.name,
    arguments: typeof value.arguments === "string" ? value.arguments : "",
    status,
    ...(typeof value.result === "string" ? { result: value.result } : {}),
    ...(typeof value.duration_ms === "number" ? { duration_ms: value.duration_ms } : {})
  }
}

const send = async (text: string) => {
  emptyState.hidden = true
  history.push({ role: "user", content: text })
  transcript.append(
    h("article", { class: "message user", "aria-label": "You" }, h("div", { class: "bubble" }, text))
  )
  const turn = new AssistantTurn()
  transcript.append(turn.element)
  stickToBottom = true
  const abort = new AbortController()
  controller = abort
  setStreaming(true)
  setText(chatStatus, "Waiting for the model…")
  const useTools = toolsSwitch.checked
  let finish: string | undefined
  /** Tools the model asked for that the gateway did not run (the switch is off). */
  const requestedTools = new Set<string>()
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...apiHeaders() },
      body: JSON.stringify({
        model: modelSelect.value,
        messages: history,
        stream: true,
        ...(useTools ? { execute_mcp_tools: true } : {})
      }),
      signal: abort.signal,
      cache: "no-store"
    })
    if (!response.ok || response.body === null) {
      const body: unknown = await response.json().catch(() => undefined)
      throw errorFrom(response.status, body)
    }
    setText(chatStatus, "Answering…")
    for await (const data of sseData(response.body)) {
      if (data === "[DONE]") break
      let chunk: unknown
      try {
        chunk = JSON.parse(data)
      } catch {
        continue
      }
      if (!isRecord(chunk)) continue
      if (isRecord(chunk.error)) {
        throw new ApiError(
          502,
          typeof chunk.error.message === "string" ? chunk.error.message : "the stream failed"
        )
      }
      const choice = Array.isArray(chunk.choices) ? (chunk.choices[0] as unknown) : undefined
      if (!isRecord(choice)) continue
      const delta = isRecord(choice.delta) ? choice.delta : {}
      if (typeof delta.reasoning_content === "string") turn.reasoning(delta.reasoning_content)
      else if (typeof delta.reasoning === "string") turn.reasoning(delta.reasoning)
      if (typeof delta.content === "string") turn.content(delta.content)
      const event = toolCallEvent(delta.tool_call_event)
      if (event !== undefined) {
        turn.toolEvent(event)
        setText(
          chatStatus,
          turn.runningTools.length > 0 ? `Running ${turn.runningTools.join(", ")}…` : "Answering…"
        )
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls as ReadonlyArray<unknown>) {
          const name = isRecord(call) && isRecord(call.function) ? call.function.name : undefined
          if (typeof name === "string" && name !== "") requestedTools.add(name)
        }
      }
      if (typeof choice.finish_reason === "string") finish = choice.finish_reason
    }
    turn.finish(finish, [...requestedTools])
    history.push({ role: "assistant", content: turn.answerText })
    setText(chatStatus, "Answer complete.")
  } catch (error) {
    if (abort.signal.aborted) {
      turn.stop()
      if (turn.answerText.trim() !== "") history.push({ role: "assistant", content: turn.answerText })
      else history.pop()
      setText(chatStatus, "Stopped.")
    } else {
      turn.fail(messageOf(error))
      // The question goes back into the box, so it can be sent again.
      history.pop()
      if (prompt.value.trim() === "") prompt.value = text
      if (error instanceof ApiError && error.status === 401) {
        askForKey("This gateway needs an API key for /v1: enter one of its server.apiKeys.")
      }
      setText(chatStatus, "The request failed.")
    }
  } finally {
    if (controller === abort) controller = undefined
    setStreaming(false)
  }
}

composer.addEventListener("submit", (event) => {
  event.preventDefault()
  const text = prompt.value.trim()
  if (text === "" || controller !== undefined) return
  if (modelSelect.value === "") {
    setText(chatStatus, "Pick a model first.")
    modelSelect.focus()
    return
  }
  prompt.value = ""
  void send(text)
})

prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    composer.requestSubmit()
  }
})

stopButton.addEventListener("click", () => controller?.abort())

newChatButton.addEventListener("click", () => {
  controller?.abort()
  history.length = 0
  transcript.replaceChildren(emptyState)
  emptyState.hidden = false
  setText(chatStatus, "")
  prompt.focus()
})

if (storedKey() !== "") keySettings.hidden = false
void loadModels()
