/**
 * `mcpgate login <server>`, `mcpgate logout <server>` and `mcpgate connect <url>`
 * (docs/oauth.md#cli-redirect; docs/cli.md#login, #logout, #connect): the interactive
 * side of `OAuthManager`.
 *
 * - `login` runs the configured flow (PKCE through the browser, `$BROWSER` when
 *   set; `--no-browser` prints the URL and reads the pasted redirect URL; the
 *   device flow prints its code plainly) and stores the credential.
 * - `logout` revokes what the authorization server can revoke, then deletes
 *   the credential.
 * - `connect` needs no config file: it connects to the URL, logs in when the
 *   server asks for it (with the server's own challenge), lists the tools.
 *
 * Progress goes to stderr (a spinner only on a TTY); results and what the user
 * must act on (a URL to open, a device code) go to stdout. No token is printed.
 */
import { createInterface } from "node:readline"
import type { AuthConfig, OAuthFlow, ServerConfig } from "@mcpgate/core/Config"
import { ConfigFile } from "@mcpgate/core/ConfigFile"
import type { DeviceCodeInfo } from "@mcpgate/oauth/AuthorizationFlow"
import type { LoginOptions, LoginResult } from "@mcpgate/oauth/OAuthManager"
import { Clock, Effect, Layer, Logger, Option, type Redacted, Ref, Schedule } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { InvalidArguments, UnknownServer } from "../Errors.ts"
import { configFileLayer, credentialStoreLayer } from "../Layers.ts"
import * as Output from "../Output.ts"

// ---------------------------------------------------------------------------
// Flags shared by `login` and `connect`
// ---------------------------------------------------------------------------

const interactionFlags = {
  flow: Flag.Literals("flow", ["pkce", "device"]).pipe(
    Flag.withDescription("pkce: sign in with the browser (default); device: enter a code on another device"),
    Flag.optional
  ),
  browser: Flag.Boolean("browser").pipe(
    Flag.withDescription(
      "Open the browser ($BROWSER when set); --no-browser prints the URL and reads the address you were sent back to"
    ),
    Flag.withDefault(true)
  ),
  callbackPort: Flag.Int("callback-port").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("The loopback port of the redirect URI (default: fixed per server)"),
    Flag.optional
  ),
  scope: Flag.String("scope").pipe(
    Flag.withMetavar("S"),
    Flag.withDescription("Ask for this scope (repeat for more); replaces the discovered ones"),
    Flag.atLeast(0)
  )
}

interface InteractionFlags {
  readonly flow: Option.Option<"pkce" | "device">
  readonly browser: boolean
  readonly callbackPort: Option.Option<number>
  readonly scope: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------
// Talking to the user
// ---------------------------------------------------------------------------

const spinnerFrames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

interface Progress {
  /** Prints a line (clearing the spinner first). */
  readonly say: (text: string, stream?: "stdout" | "stderr") => Effect.Effect<void>
  /** What the spinner says it waits for. */
  readonly waitingFor: (text: string) => Effect.Effect<void>
}

/**
 * A spinner on stderr while `use` runs, when stderr is a TTY and nothing is
 * typed on this terminal meanwhile (`--no-browser` reads a pasted URL).
 */
const withProgress = <A, E, R>(
  enabled: boolean,
  use: (progress: Progress) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.scoped(
    Effect.gen(function* () {
      const spinning = enabled && process.stderr.isTTY === true
      const label = yield* Ref.make("")
      const clear = () => {
        if (spinning) process.stderr.write("\r\u001b[2K")
      }
      if (spinning) {
        let frame = 0
        yield* Ref.get(label).pipe(
          Effect.tap((text) =>
            Effect.sync(() => {
              if (text === "") return
              frame = (frame + 1) % spinnerFrames.length
              process.stderr.write(`\r\u001b[2K${Output.cyan(spinnerFrames[frame] ?? "")} ${text}`)
            })
          ),
          Effect.repeat(Schedule.spaced("80 millis")),
          Effect.forkScoped
        )
        yield* Effect.addFinalizer(() => Effect.sync(clear))
      }
      return yield* use({
        say: (text, stream = "stderr") =>
          Effect.sync(() => {
            clear()
            ;(stream === "stdout" ? process.stdout : process.stderr).write(`${text}\n`)
          }),
        waitingFor: (text) => Ref.set(label, text)
      })
    })
  )

/** One line from stdin (the pasted redirect URL); empty when stdin ends first. */
const readLine = (prompt: string): Effect.Effect<string> =>
  Effect.callback<string>((resume) => {
    const lines = createInterface({ input: process.stdin, terminal: false })
    const finish = (line: string) => {
      lines.removeAllListeners()
      lines.close()
      // Nothing more is read: stdin must not keep the process alive (a pipe stays open).
      process.stdin.unref()
      resume(Effect.succeed(line))
    }
    process.stderr.write(prompt)
    lines.once("line", finish)
    lines.once("close", () => finish(""))
    return Effect.sync(() => {
      lines.removeAllListeners()
      lines.close()
    })
  })

const describeDeviceCode = (server: string, info: DeviceCodeInfo): ReadonlyArray<string> => [
  `To sign in to ${server}, open ${info.verificationUri} and enter the code:`,
  "",
  `    ${info.userCode}`,
  "",
  ...(info.verificationUriComplete === undefined
    ? []
    : [`(or open ${info.verificationUriComplete}, which has the code in it)`]),
  `The code expires in ${Math.round(info.expiresIn / 60)} min.`
]

/** What `OAuthManager.login` needs to reach the user, from the flags. */
const loginOptionsFor = (server: string, flags: InteractionFlags, progress: Progress): LoginOptions => ({
  ...Option.match(flags.flow, { onNone: () => ({}), onSome: (flow) => ({ flow }) }),
  ...(flags.scope.length === 0 ? {} : { scopes: flags.scope }),
  ...Option.match(flags.callbackPort, { onNone: () => ({}), onSome: (callbackPort) => ({ callbackPort }) }),
  noBrowser: !flags.browser,
  onAuthorizationUrl: (url) =>
    flags.browser
      ? Effect.andThen(
          progress.say(`Opening the browser to sign in to ${server}. If it does not open, visit:\n  ${url}`),
          progress.waitingFor(`waiting for the sign-in to ${server} in the browser…`)
        )
      : progress.say(
          `Open this address in a browser to sign in to ${server}:\n\n  ${url}\n\nAfterwards the browser is sent to a page on 127.0.0.1 that may not load here; copy that page's whole address.`,
          "stdout"
        ),
  readRedirectUrl: readLine("Paste the address here: "),
  onDeviceCode: (info) =>
    Effect.andThen(
      progress.say(describeDeviceCode(server, info).join("\n"), "stdout"),
      progress.waitingFor(`waiting for the code to be entered (${info.userCode})…`)
    )
})

const formatIn = (millis: number): string =>
  millis < 90_000 ? `${Math.max(0, Math.round(millis / 1000))} s` : `${Math.round(millis / 60_000)} min`

const describeLogin = (result: LoginResult, now: number): string => {
  const details = [
    `issuer ${result.issuer}`,
    `registration ${result.registrationMethod}`,
    result.scopes.length === 0 ? "no scope" : `scopes ${result.scopes.join(" ")}`,
    result.expiresAt === undefined ? "no expiry" : `expires in ${formatIn(result.expiresAt - now)}`,
    result.refreshable ? "refreshable" : "not refreshable"
  ]
  return `${Output.green("logged in")} to ${result.server} (${details.join(", ")})`
}

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/** Progress logs (registered a client, logging in at …) go with the other progress, to stderr. */
const logsToStderr = Effect.provideService(Logger.LogToStderr, true)

// OAuth and MCP client code is loaded when a command runs: the other commands start without it.
const oauthManager = Effect.gen(function* () {
  const { OAuthManager } = yield* Effect.promise(() => import("@mcpgate/oauth/OAuthManager"))
  return yield* OAuthManager
})

/** An interactive `OAuthManager` (a 403 step-up may ask the user) over the configured store. */
const interactiveOAuth = Layer.unwrap(
  Effect.promise(async () => {
    const [{ OAuthManager }, { Browser }] = await Promise.all([
      import("@mcpgate/oauth/OAuthManager"),
      import("@mcpgate/oauth/Browser")
    ])
    return OAuthManager.layer({ interactive: true }).pipe(
      Layer.provide([credentialStoreLayer, Browser.layer])
    )
  })
)

/** The configured server called `name`; only remote servers have something to log in to. */
const remoteServer = (name: string) =>
  Effect.gen(function* () {
    const file = yield* ConfigFile
    const { config, path } = yield* file.load
    const server = config.mcpServers[name]
    if (server === undefined) {
      const known = Object.keys(config.mcpServers)
      return yield* new UnknownServer({
        server: name,
        message: `no server named ${name} in ${path}${known.length === 0 ? "" : ` (servers: ${known.join(", ")})`}`
      })
    }
    if (server.url === undefined) {
      return yield* new InvalidArguments({
        message: `${name} is a stdio server (started as a command): it has no login`
      })
    }
    return server
  })

// ---------------------------------------------------------------------------
// login / logout
// ---------------------------------------------------------------------------

export const login = Command.make(
  "login",
  {
    server: Argument.String("server").pipe(Argument.withDescription("The server's name in the config")),
    ...interactionFlags
  },
  Effect.fn(
    function* (flags) {
      const server = yield* remoteServer(flags.server)
      const oauth = yield* oauthManager
      const result = yield* withProgress(flags.browser, (progress) =>
        Effect.gen(function* () {
          yield* progress.waitingFor(`discovering how ${server.name} signs in…`)
          return yield* oauth.login(server, loginOptionsFor(server.name, flags, progress))
        })
      )
      yield* Output.line(describeLogin(result, yield* Clock.currentTimeMillis))
      if (server.auth === undefined) {
        yield* Output.errorLine(
          `${Output.yellow("note")} ${server.name} has no "auth" in the config; add "auth": {"type": "oauth2"} so that its requests carry the token`
        )
      }
    },
    Effect.provide(Layer.mergeAll(configFileLayer, interactiveOAuth)),
    logsToStderr
  )
).pipe(
  Command.withDescription("Sign in to a server (OAuth 2.1: discovery, registration, PKCE or device code)")
)

export const logout = Command.make(
  "logout",
  {
    server: Argument.String("server").pipe(Argument.withDescription("The server's name in the config"))
  },
  Effect.fn(
    function* ({ server: name }) {
      const server = yield* remoteServer(name)
      const oauth = yield* oauthManager
      const result = yield* oauth.logout(server)
      yield* Output.line(
        !result.removed
          ? `${name}: no stored credential; nothing to do`
          : result.revoked
            ? `${Output.green("logged out")} of ${name}: revoked at the authorization server, credential deleted`
            : `${Output.green("logged out")} of ${name}: the credential is deleted (the authorization server did not revoke the tokens)`
      )
    },
    Effect.provide(Layer.mergeAll(configFileLayer, interactiveOAuth)),
    logsToStderr
  )
).pipe(Command.withDescription("Revoke a server's tokens where possible and delete its credential"))

// ---------------------------------------------------------------------------
// connect
// ---------------------------------------------------------------------------

/** A server entry for a bare URL, as `{ "url": …, "auth": { "type": "oauth2" } }` would give. */
export const serverForUrl = (
  url: string,
  options: {
    readonly clientId?: string
    readonly clientSecret?: Redacted.Redacted<string>
    readonly flow?: OAuthFlow
    readonly scopes?: ReadonlyArray<string>
    readonly callbackPort?: number
  }
): ServerConfig => {
  const auth: AuthConfig = {
    type: "oauth2",
    resource: "auto",
    flow: options.flow ?? "pkce",
    signingAlgorithm: "RS256",
    allowHttp: false,
    ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
    ...(options.clientSecret === undefined ? {} : { clientSecret: options.clientSecret }),
    ...(options.scopes === undefined || options.scopes.length === 0 ? {} : { scopes: options.scopes }),
    ...(options.callbackPort === undefined ? {} : { callbackPort: options.callbackPort })
  }
  return {
    name: new URL(url).hostname,
    transport: "auto",
    args: [],
    env: {},
    url,
    headers: {},
    enabled: true,
    auth
  }
}

const parseUrl = (text: string) =>
  Effect.suspend(() => {
    const url = URL.parse(text)
    return url !== null && (url.protocol === "http:" || url.protocol === "https:")
      ? Effect.succeed(url.href)
      : Effect.fail(new InvalidArguments({ message: `not an http(s) URL: ${text}` }))
  })

export const connect = Command.make(
  "connect",
  {
    url: Argument.String("url").pipe(Argument.withDescription("The MCP server's URL")),
    clientId: Flag.String("client-id").pipe(
      Flag.withDescription("A client registered beforehand at the authorization server"),
      Flag.optional
    ),
    clientSecret: Flag.Redacted("client-secret").pipe(
      Flag.withDescription("That client's secret (confidential clients)"),
      Flag.optional
    ),
    ...interactionFlags,
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print machine-readable JSON"),
      Flag.withDefault(false)
    )
  },
  Effect.fn(
    function* (flags) {
      const url = yield* parseUrl(flags.url)
      const server = serverForUrl(url, {
        ...Option.match(flags.clientId, { onNone: () => ({}), onSome: (clientId) => ({ clientId }) }),
        ...Option.match(flags.clientSecret, {
          onNone: () => ({}),
          onSome: (clientSecret) => ({ clientSecret })
        }),
        ...Option.match(flags.flow, { onNone: () => ({}), onSome: (flow) => ({ flow }) }),
        scopes: flags.scope,
        ...Option.match(flags.callbackPort, {
          onNone: () => ({}),
          onSome: (callbackPort) => ({ callbackPort })
        })
      })
      const [AuthorizedFetch, McpConnection] = yield* Effect.promise(() =>
        Promise.all([
          import("@mcpgate/transport/AuthorizedFetch"),
          import("@mcpgate/transport/McpConnection")
        ])
      )
      const { connection, tools } = yield* withProgress(flags.browser, (progress) =>
        Effect.gen(function* () {
          yield* progress.waitingFor(`connecting to ${url}…`)
          // Logs in on demand: the first 401 carries the server's challenge (metadata, scope).
          const fetchLayer = AuthorizedFetch.layerOAuthWith({
            login: loginOptionsFor(server.name, flags, progress)
          }).pipe(Layer.provide(interactiveOAuth))
          const connection = yield* McpConnection.make(server, {
            timeoutMs: 30_000,
            healthCheckIntervalMs: 0,
            negotiateProtocol: true
          }).pipe(Effect.provide(fetchLayer))
          yield* progress.waitingFor("listing the tools…")
          return { connection, tools: yield* connection.listTools }
        })
      )
      if (flags.json) {
        return yield* Output.json({
          url,
          transport: connection.transport,
          ...(connection.serverInfo === undefined ? {} : { serverInfo: connection.serverInfo }),
          tools: tools.map((tool) => ({
            name: tool.name,
            description: tool.description,
            inputSchema: tool.inputSchema
          }))
        })
      }
      const info = connection.serverInfo
      yield* Output.line(
        `${Output.green("connected")} to ${url} (${connection.transport}${info === undefined ? "" : `, ${info.name} ${info.version}`}): ${tools.length} tool${tools.length === 1 ? "" : "s"}`
      )
      if (tools.length === 0) return
      yield* Output.line(
        Output.table([
          ["TOOL", "DESCRIPTION"].map(Output.dim),
          ...tools.map((tool) => [Output.bold(tool.name), (tool.description ?? "").split("\n")[0] ?? ""])
        ])
      )
    },
    Effect.scoped,
    logsToStderr
  )
).pipe(
  Command.withDescription(
    "Connect to an MCP server by URL without a config file: sign in if it asks, list its tools"
  )
)
