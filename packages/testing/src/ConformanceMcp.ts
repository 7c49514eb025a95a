/**
 * An MCP server that offers what the MCP conformance suite's server scenarios
 * ask for (`conformance server --url …`): the `test_*` tools, the `test://`
 * resources and template, the `test_*` prompts, completions, logging levels,
 * subscriptions, progress, sampling and elicitation requests to the client.
 * Written for mcpgate's tests from the scenarios' descriptions; one `Server` per
 * session (ConformanceServer.ts hosts it over streamable HTTP).
 *
 * Beyond the suite, a few tools for the relay tests: `test_slow {ms}` (notes a
 * cancellation it receives), `test_notify_resource {uri}` (sends
 * `notifications/resources/updated` to a subscriber), `test_add_tool {name}`
 * (changes the list and says so), `test_roots` (asks the client for its roots).
 *
 * Longer than 500 lines on purpose: it is one catalogue of fixtures, one handler
 * per scenario, read side by side with the suite's list of scenarios.
 */
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { Server as SdkServer } from "@modelcontextprotocol/sdk/server/index.js"
import {
  CallToolRequestSchema,
  type CallToolResult,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema,
  type LoggingLevel,
  McpError,
  type Prompt,
  ReadResourceRequestSchema,
  type Resource,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type Tool,
  UnsubscribeRequestSchema
} from "@modelcontextprotocol/sdk/types.js"

/** A 1×1 PNG and a minimal WAV, base64. */
export const pngBase64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
export const wavBase64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

/** What every session of one host shares, so tests can see what reached the server. */
export interface ConformanceState {
  /** Request ids of `test_slow` calls that started. */
  readonly slowStarted: Array<string | number>
  /** Request ids of `test_slow` calls the client cancelled. */
  readonly cancelled: Array<string | number>
  /** Every `logging/setLevel` level received, in order. */
  readonly levels: Array<LoggingLevel>
  /** Tools added by `test_add_tool`. */
  readonly extraTools: Array<Tool>
}

export const makeState = (): ConformanceState => ({
  slowStarted: [],
  cancelled: [],
  levels: [],
  extraTools: []
})

export interface ConformanceOptions {
  /** Page `tools/list`, `resources/list` and `prompts/list` with this many items per page (default: one page). */
  readonly pageSize?: number | undefined
  /** Called when the server closes (the host forgets the session). */
  readonly onClose?: (() => void) | undefined
  /** Called when the client cancels a `test_slow` call. */
  readonly onCancelled?: ((requestId: string | number) => void) | undefined
}

const object = (
  properties: Record<string, object> = {},
  required: Array<string> = []
): Tool["inputSchema"] => ({
  type: "object",
  properties,
  required
})

const text = (value: string): CallToolResult => ({ content: [{ type: "text", text: value }] })

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    })
  })

export const baseTools: ReadonlyArray<Tool> = [
  { name: "test_simple_text", description: "Returns simple text", inputSchema: object() },
  { name: "test_image_content", description: "Returns a PNG image", inputSchema: object() },
  { name: "test_audio_content", description: "Returns a WAV audio clip", inputSchema: object() },
  { name: "test_embedded_resource", description: "Returns an embedded resource", inputSchema: object() },
  {
    name: "test_multiple_content_types",
    description: "Returns text, an image and a resource",
    inputSchema: object()
  },
  { name: "test_tool_with_logging", description: "Logs three messages while it runs", inputSchema: object() },
  { name: "test_tool_with_progress", description: "Reports progress 0, 50 and 100", inputSchema: object() },
  { name: "test_error_handling", description: "Always reports an error", inputSchema: object() },
  {
    name: "test_reconnection",
    description: "Closes its response stream mid-call; the answer comes after the client resumes",
    inputSchema: object()
  },
  {
    name: "test_sampling",
    description: "Asks the client's model (sampling/createMessage)",
    inputSchema: object({ prompt: { type: "string", description: "The prompt" } }, ["prompt"])
  },
  {
    name: "test_elicitation",
    description: "Asks the user (elicitation/create)",
    inputSchema: object({ message: { type: "string", description: "What to ask" } }, ["message"])
  },
  {
    name: "test_elicitation_sep1034_defaults",
    description: "Elicits a form whose fields have defaults",
    inputSchema: object()
  },
  {
    name: "test_elicitation_sep1330_enums",
    description: "Elicits a form with every kind of enum",
    inputSchema: object()
  },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: {
        address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } }
      },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false
    }
  },
  {
    name: "test_slow",
    description: "Answers after `ms` milliseconds, unless cancelled",
    inputSchema: object({ ms: { type: "number" } })
  },
  {
    name: "test_notify_resource",
    description: "Tells subscribers that a resource changed",
    inputSchema: object({ uri: { type: "string" } }, ["uri"])
  },
  {
    name: "test_add_tool",
    description: "Adds a tool and sends tools/list_changed",
    inputSchema: object({ name: { type: "string" } }, ["name"])
  },
  { name: "test_roots", description: "Asks the client for its roots", inputSchema: object() }
]

export const resources: ReadonlyArray<Resource> = [
  {
    uri: "test://static-text",
    name: "static-text",
    description: "A static text resource",
    mimeType: "text/plain"
  },
  {
    uri: "test://static-binary",
    name: "static-binary",
    description: "A static binary resource (a PNG)",
    mimeType: "image/png"
  },
  {
    uri: "test://watched-resource",
    name: "watched-resource",
    description: "A resource that can be subscribed to",
    mimeType: "text/plain"
  }
]

export const prompts: ReadonlyArray<Prompt> = [
  { name: "test_simple_prompt", description: "A prompt without arguments" },
  {
    name: "test_prompt_with_arguments",
    description: "A prompt with two arguments",
    arguments: [
      { name: "arg1", description: "First argument", required: true },
      { name: "arg2", description: "Second argument", required: true }
    ]
  },
  {
    name: "test_prompt_with_embedded_resource",
    description: "A prompt that embeds a resource",
    arguments: [{ name: "resourceUri", description: "The resource to embed", required: true }]
  },
  { name: "test_prompt_with_image", description: "A prompt with an image" }
]

const levels: ReadonlyArray<LoggingLevel> = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency"
]

/** One page of `items` starting at `cursor` (an offset), with the next cursor when more remain. */
const page = <A>(items: ReadonlyArray<A>, cursor: string | undefined, size: number | undefined) => {
  if (size === undefined) return { items, nextCursor: undefined }
  const offset = Number(cursor ?? "0")
  const next = offset + size
  return { items: items.slice(offset, next), nextCursor: next < items.length ? String(next) : undefined }
}

const elicitationSchemas = {
  defaults: {
    type: "object",
    properties: {
      name: { type: "string", description: "User name", default: "John Doe" },
      age: { type: "integer", description: "User age", default: 30 },
      score: { type: "number", description: "User score", default: 95.5 },
      status: {
        type: "string",
        description: "User status",
        enum: ["active", "inactive", "pending"],
        default: "active"
      },
      verified: { type: "boolean", description: "Verification status", default: true }
    },
    required: []
  },
  enums: {
    type: "object",
    properties: {
      untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
      titledSingle: {
        type: "string",
        oneOf: [
          { const: "value1", title: "First Option" },
          { const: "value2", title: "Second Option" },
          { const: "value3", title: "Third Option" }
        ]
      },
      legacyEnum: {
        type: "string",
        enum: ["opt1", "opt2", "opt3"],
        enumNames: ["Option One", "Option Two", "Option Three"]
      },
      untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
      titledMulti: {
        type: "array",
        items: {
          anyOf: [
            { const: "value1", title: "First Choice" },
            { const: "value2", title: "Second Choice" },
            { const: "value3", title: "Third Choice" }
          ]
        }
      }
    },
    required: []
  }
} as const

/** A new server for one session. */
export const makeConformanceServer = (state: ConformanceState, options: ConformanceOptions = {}): Server => {
  const server = new SdkServer(
    { name: "mcpgate-conformance-server", title: "Conformance test server", version: "1.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {}
      },
      instructions: "A server for the MCP conformance suite and mcpgate's relay tests."
    }
  )
  let level: LoggingLevel = "debug"
  const subscriptions = new Set<string>()
  server.onclose = () => options.onClose?.()

  server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    level = request.params.level
    state.levels.push(level)
    return {}
  })
  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const { items, nextCursor } = page(
      [...baseTools, ...state.extraTools],
      request.params?.cursor,
      options.pageSize
    )
    return { tools: [...items], ...(nextCursor === undefined ? {} : { nextCursor }) }
  })
  server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    const { items, nextCursor } = page(resources, request.params?.cursor, options.pageSize)
    return { resources: [...items], ...(nextCursor === undefined ? {} : { nextCursor }) }
  })
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      {
        uriTemplate: "test://template/{id}/data",
        name: "template-data",
        description: "Data for an id",
        mimeType: "application/json"
      }
    ]
  }))
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const uri = request.params.uri
    if (uri === "test://static-text") {
      return {
        contents: [{ uri, mimeType: "text/plain", text: "This is the content of the static text resource." }]
      }
    }
    if (uri === "test://static-binary") return { contents: [{ uri, mimeType: "image/png", blob: pngBase64 }] }
    if (uri === "test://watched-resource") {
      return { contents: [{ uri, mimeType: "text/plain", text: "Watched resource content" }] }
    }
    const match = /^test:\/\/template\/([^/]+)\/data$/.exec(uri)
    if (match !== null) {
      const id = decodeURIComponent(match[1] ?? "")
      return {
        contents: [
          {
            uri,
            mimeType: "application/json",
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` })
          }
        ]
      }
    }
    // MCP 2025-11-25 "Resources › Error Handling": -32002 for a resource that does not exist.
    throw new McpError(-32002, "Resource not found", { uri })
  })
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri)
    return {}
  })
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri)
    return {}
  })
  server.setRequestHandler(ListPromptsRequestSchema, async (request) => {
    const { items, nextCursor } = page(prompts, request.params?.cursor, options.pageSize)
    return { prompts: [...items], ...(nextCursor === undefined ? {} : { nextCursor }) }
  })
  server.setRequestHandler(GetPromptRequestSchema, async (request) => {
    const args = request.params.arguments ?? {}
    switch (request.params.name) {
      case "test_simple_prompt":
        return {
          messages: [
            { role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }
          ]
        }
      case "test_prompt_with_arguments":
        return {
          messages: [
            {
              role: "user",
              content: {
                type: "text",
                text: `Prompt with arguments: arg1='${args.arg1 ?? ""}', arg2='${args.arg2 ?? ""}'`
              }
            }
          ]
        }
      case "test_prompt_with_embedded_resource":
        return {
          messages: [
            {
              role: "user",
              content: {
                type: "resource",
                resource: {
                  uri: args.resourceUri ?? "test://example-resource",
                  mimeType: "text/plain",
                  text: "Embedded resource content for testing."
                }
              }
            },
            { role: "user", content: { type: "text", text: "Please process the embedded resource above." } }
          ]
        }
      case "test_prompt_with_image":
        return {
          messages: [
            { role: "user", content: { type: "image", data: pngBase64, mimeType: "image/png" } },
            { role: "user", content: { type: "text", text: "Please analyze the image above." } }
          ]
        }
      default:
        throw new McpError(-32602, `no prompt named ${request.params.name}`)
    }
  })
  server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { ref, argument } = request.params
    const candidates =
      ref.type === "ref/prompt" && ref.name === "test_prompt_with_arguments"
        ? ["paris", "park", "party", "test-value"]
        : ref.type === "ref/resource"
          ? ["123", "456", "789"]
          : []
    const values = candidates.filter((value) => value.startsWith(argument.value))
    return { completion: { values, total: values.length, hasMore: false } }
  })

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const args = request.params.arguments ?? {}
    const log = (data: string) =>
      levels.indexOf("info") >= levels.indexOf(level)
        ? extra.sendNotification({ method: "notifications/message", params: { level: "info", data } })
        : Promise.resolve()
    const progress = (value: number) => {
      const token = request.params._meta?.progressToken
      return token === undefined
        ? Promise.resolve()
        : extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: value, total: 100, message: `step ${value} of 100` }
          })
    }
    switch (request.params.name) {
      case "test_simple_text":
        return text("This is a simple text response for testing.")
      case "test_image_content":
        return { content: [{ type: "image", data: pngBase64, mimeType: "image/png" }] }
      case "test_audio_content":
        return { content: [{ type: "audio", data: wavBase64, mimeType: "audio/wav" }] }
      case "test_embedded_resource":
        return {
          content: [
            {
              type: "resource",
              resource: {
                uri: "test://embedded-resource",
                mimeType: "text/plain",
                text: "This is an embedded resource content."
              }
            }
          ]
        }
      case "test_multiple_content_types":
        return {
          content: [
            { type: "text", text: "Multiple content types test:" },
            { type: "image", data: pngBase64, mimeType: "image/png" },
            {
              type: "resource",
              resource: {
                uri: "test://mixed-content-resource",
                mimeType: "application/json",
                text: JSON.stringify({ test: "data", value: 123 })
              }
            }
          ]
        }
      case "test_tool_with_logging":
        await log("Tool execution started")
        await sleep(50)
        await log("Tool processing data")
        await sleep(50)
        await log("Tool execution completed")
        return text("Tool with logging executed successfully")
      case "test_tool_with_progress":
        await progress(0)
        await sleep(50)
        await progress(50)
        await sleep(50)
        await progress(100)
        return text("Progress reported")
      case "test_error_handling":
        return {
          content: [{ type: "text", text: "This tool intentionally reports an error" }],
          isError: true
        }
      case "test_reconnection":
        // SEP-1699: the client resumes the stream with Last-Event-ID and reads the answer there.
        extra.closeSSEStream?.()
        await sleep(100)
        return text("Reconnection test completed successfully")
      case "test_sampling": {
        const answer = await extra.sendRequest(
          {
            method: "sampling/createMessage",
            params: {
              messages: [{ role: "user", content: { type: "text", text: String(args.prompt ?? "") } }],
              maxTokens: 100
            }
          },
          CreateMessageResultSchema
        )
        const content = answer.content
        return text(
          `LLM response: ${!Array.isArray(content) && content.type === "text" ? content.text : "(not text)"}`
        )
      }
      case "test_elicitation": {
        const answer = await extra.sendRequest(
          {
            method: "elicitation/create",
            params: {
              mode: "form",
              message: String(args.message ?? ""),
              requestedSchema: {
                type: "object",
                properties: {
                  username: { type: "string", description: "User's response" },
                  email: { type: "string", description: "User's email address" }
                },
                required: ["username", "email"]
              }
            }
          },
          ElicitResultSchema
        )
        return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`)
      }
      case "test_elicitation_sep1034_defaults":
      case "test_elicitation_sep1330_enums": {
        const schema =
          request.params.name === "test_elicitation_sep1034_defaults"
            ? elicitationSchemas.defaults
            : elicitationSchemas.enums
        const answer = await extra.sendRequest(
          {
            method: "elicitation/create",
            params: { mode: "form", message: "Please fill in the form", requestedSchema: schema }
          },
          ElicitResultSchema
        )
        return text(
          `Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`
        )
      }
      case "json_schema_2020_12_tool":
        return text(`received ${JSON.stringify(args)}`)
      case "test_slow": {
        const ms = Number(args.ms ?? 60_000)
        state.slowStarted.push(extra.requestId)
        await sleep(ms, extra.signal)
        if (extra.signal.aborted) {
          state.cancelled.push(extra.requestId)
          options.onCancelled?.(extra.requestId)
        }
        return text(`slept ${ms} ms`)
      }
      case "test_notify_resource": {
        const uri = String(args.uri)
        if (subscriptions.has(uri)) await server.sendResourceUpdated({ uri })
        return text(subscriptions.has(uri) ? `notified ${uri}` : `nobody subscribed to ${uri}`)
      }
      case "test_add_tool":
        state.extraTools.push({
          name: String(args.name),
          description: "added at runtime",
          inputSchema: object()
        })
        await server.sendToolListChanged()
        return text("added")
      case "test_roots": {
        const roots = await extra.sendRequest({ method: "roots/list" }, ListRootsResultSchema)
        return text(JSON.stringify(roots.roots))
      }
      default:
        return { content: [{ type: "text", text: `no tool named ${request.params.name}` }], isError: true }
    }
  })
  return server
}
