/**
 * What the client does in each scenario. Most scenarios need nothing but a
 * well-behaved MCP client: connect (authorizing on demand), list the tools,
 * call them, disconnect. A few hand the client what the product takes from its
 * config (a pre-registered client, a private key, a Client ID Metadata
 * Document URL) or from its environment (a workload's assertion, an enterprise
 * IdP's ID token): `ScenarioContext` reads them and `authFor` maps them onto the
 * server's `auth` block, exactly as a user would write it in `mcpgate.json`.
 */
import * as net from "node:net"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import type { AuthConfig, ServerConfig } from "../../packages/core/src/Config.ts"
import { CredentialStore } from "../../packages/core/src/CredentialStore.ts"
import { AuthorizationFlow } from "../../packages/oauth/src/AuthorizationFlow.ts"
import { Browser } from "../../packages/oauth/src/Browser.ts"
import { Discovery } from "../../packages/oauth/src/Discovery.ts"
import { OAuthManager } from "../../packages/oauth/src/OAuthManager.ts"
import * as AuthorizedFetch from "../../packages/transport/src/AuthorizedFetch.ts"
import * as McpConnection from "../../packages/transport/src/McpConnection.ts"

export interface ScenarioInput {
  readonly url: string
  readonly scenario: string
  /** `MCP_CONFORMANCE_CONTEXT` (JSON), when the scenario has one. */
  readonly context: string | undefined
}

/** The fields of `MCP_CONFORMANCE_CONTEXT` this client uses (all scenarios together). */
const ScenarioContext = Schema.Struct({
  client_id: Schema.optionalKey(Schema.String),
  client_secret: Schema.optionalKey(Schema.String),
  private_key_pem: Schema.optionalKey(Schema.String),
  signing_algorithm: Schema.optionalKey(Schema.String),
  client_metadata_url: Schema.optionalKey(Schema.String),
  /** Workload identity federation: the workload's JWT (RFC 7523). */
  valid_jwt: Schema.optionalKey(Schema.String),
  /** Enterprise-managed authorization (SEP-990): the IdP and the user's ID token there. */
  idp_client_id: Schema.optionalKey(Schema.String),
  idp_id_token: Schema.optionalKey(Schema.String),
  idp_issuer: Schema.optionalKey(Schema.String),
  idp_token_endpoint: Schema.optionalKey(Schema.String),
  /** The calls the scenario wants made (name and arguments), instead of one call per tool. */
  toolCalls: Schema.optionalKey(
    Schema.Array(
      Schema.Struct({ name: Schema.String, arguments: Schema.Record(Schema.String, Schema.Unknown) })
    )
  )
})
type ScenarioContext = typeof ScenarioContext.Type

const decodeContext = (text: string | undefined) =>
  text === undefined || text === ""
    ? Effect.succeed<ScenarioContext>({})
    : Schema.decodeUnknownEffect(Schema.fromJsonString(ScenarioContext))(text)

/**
 * The suite's Client ID Metadata Document URL: the mock authorization server
 * accepts it as a `client_id` without fetching it (it is not resolvable).
 */
const suiteClientMetadataUrl = "https://conformance-test.local/client-metadata.json"

/**
 * A loopback port free right now, for the redirect URI. The product's default
 * (a port derived from the server's name and URL, so that a registration stays
 * valid across runs) buys nothing here, where every run registers anew, and the
 * suite's fifty clients at once make a busy port likely.
 */
const freePort = Effect.callback<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    probe.close(() => resume(Effect.succeed(port)))
  })
})

const authFor = (scenario: string, context: ScenarioContext, callbackPort: number): AuthConfig => ({
  type: "oauth2",
  callbackPort,
  resource: "auto",
  flow: scenario.startsWith("auth/client-credentials") ? "client_credentials" : "pkce",
  signingAlgorithm: context.signing_algorithm ?? "RS256",
  allowHttp: false,
  clientMetadataUrl: context.client_metadata_url ?? suiteClientMetadataUrl,
  ...(context.client_id === undefined ? {} : { clientId: context.client_id }),
  ...(context.client_secret === undefined ? {} : { clientSecret: Redacted.make(context.client_secret) }),
  ...(context.private_key_pem === undefined ? {} : { privateKey: Redacted.make(context.private_key_pem) })
})

const serverFor = (input: ScenarioInput, context: ScenarioContext, callbackPort: number): ServerConfig => ({
  name: "conformance",
  transport: "streamable-http",
  args: [],
  env: {},
  url: input.url,
  headers: {},
  enabled: true,
  ...(input.scenario.startsWith("auth/") ? { auth: authFor(input.scenario, context, callbackPort) } : {})
})

/**
 * Enterprise-managed authorization (SEP-990): the user's ID token at the IdP is
 * exchanged for an ID-JAG naming this authorization server and resource
 * (RFC 8693), which the authorization server redeems (RFC 7523).
 */
const enterpriseAssertion = (server: ServerConfig, context: ScenarioContext) =>
  Effect.gen(function* () {
    const discovery = yield* Discovery
    const flows = yield* AuthorizationFlow
    const discovered = yield* discovery.discover(server)
    const exchanged = yield* flows.tokenExchange({
      server: server.name,
      tokenEndpoint: context.idp_token_endpoint ?? "",
      ...(context.idp_issuer === undefined ? {} : { issuer: context.idp_issuer }),
      clientId: context.idp_client_id ?? "",
      subjectToken: Redacted.make(context.idp_id_token ?? ""),
      subjectTokenType: "urn:ietf:params:oauth:token-type:id_token",
      requestedTokenType: "urn:ietf:params:oauth:token-type:id-jag",
      audience: discovered.authorizationServer.issuer,
      ...(discovered.resource === undefined ? {} : { resource: discovered.resource })
    })
    return exchanged.token
  })

/** A login with an assertion before connecting, for the scenarios whose user is a workload or an IdP. */
const assertionFor = (server: ServerConfig, context: ScenarioContext) =>
  context.idp_id_token !== undefined
    ? Effect.map(enterpriseAssertion(server, context), Option.some)
    : Effect.succeed(Option.map(Option.fromUndefinedOr(context.valid_jwt), Redacted.make))

/**
 * Arguments for a tool the scenario does not describe otherwise: a plain value
 * of the right type for each required property (what a model would fill in).
 */
export const sampleArguments = (inputSchema: unknown): Record<string, unknown> => {
  const schema = inputSchema as { properties?: Record<string, { type?: unknown }>; required?: unknown }
  const required = Array.isArray(schema.required)
    ? schema.required.filter((name) => typeof name === "string")
    : []
  const sample = (type: unknown): unknown => {
    switch (type) {
      case "number":
      case "integer":
        return 1
      case "boolean":
        return true
      case "array":
        return []
      case "object":
        return {}
      default:
        return "test"
    }
  }
  return Object.fromEntries(required.map((name) => [name, sample(schema.properties?.[name]?.type)]))
}

/** The user accepts every elicitation without typing anything: the schema's defaults apply (SEP-1034). */
const acceptDefaults = () => Effect.succeed({ action: "accept" as const, content: {} })

const oauthLayers = Layer.mergeAll(
  AuthorizedFetch.layerOAuthWith({ login: {} }).pipe(
    Layer.provideMerge(OAuthManager.layer({ interactive: true }))
  ),
  Discovery.layer,
  AuthorizationFlow.layer
).pipe(Layer.provide([CredentialStore.layerMemory, Browser.layerFollowRedirects]))

export const runScenario = (input: ScenarioInput) =>
  Effect.gen(function* () {
    const context = yield* decodeContext(input.context)
    const server = serverFor(input, context, yield* freePort)
    const assertion = yield* assertionFor(server, context)
    if (Option.isSome(assertion)) {
      const oauth = yield* OAuthManager
      yield* oauth.login(server, { assertion: assertion.value })
    }
    const connection = yield* McpConnection.make(server, {
      timeoutMs: 20_000,
      healthCheckIntervalMs: 0,
      clientInfo: { name: "mcpgate-conformance", version: "0.1.0" },
      onElicitation: acceptDefaults,
      negotiateProtocol: true
    })
    const tools = yield* connection.listTools
    yield* Effect.logInfo(`tools: ${tools.map((tool) => tool.name).join(", ") || "(none)"}`)
    const calls =
      context.toolCalls ??
      tools.map((tool) => {
        // json-schema-2020-12-preservation: hand the other tool's inputSchema back as we hold it.
        const focal = tools.find((other) => other.name !== tool.name)
        return {
          name: tool.name,
          arguments:
            tool.name === "json_schema_echo" && focal !== undefined
              ? { schema: focal.inputSchema }
              : sampleArguments(tool.inputSchema)
        }
      })
    for (const call of calls) {
      const result = yield* connection.callTool(call.name, call.arguments)
      yield* Effect.logInfo(`${call.name}: ${result.isError === true ? "error" : "ok"}`)
    }
  }).pipe(Effect.scoped, Effect.provide(oauthLayers))
