/**
 * `mcpgate login`, `logout` and `connect` as users run them: the bundled
 * binary in a child process, a real authorization server (oidc-provider) in
 * front of a real protected MCP server, and a `$BROWSER` that follows the
 * authorization server's redirects back to the CLI's loopback callback.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  allIssuedTokens,
  allOutput,
  approveDevice,
  browserCommand,
  freePort,
  mcpgate,
  redirectFor,
  startServers,
  writeConfig
} from "./support/AuthCli.ts"
import { sandbox } from "./support/Cli.ts"

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

afterAll(() => {
  // Tokens were issued in this file, and no run of the CLI ever printed one.
  assert.isAbove(allIssuedTokens.size, 0)
  assert.isAbove(allOutput.length, 0)
  for (const token of allIssuedTokens) {
    for (const output of allOutput) assert.notInclude(output, token, "a token appeared in the CLI's output")
  }
})

interface StatusJson {
  readonly servers: ReadonlyArray<{
    readonly name: string
    readonly auth: string
    readonly connection?: { readonly state: string; readonly toolCount: number }
    readonly credential?: {
      readonly registrationMethod?: string
      readonly scope?: string
      readonly expiresAt?: number
      readonly hasRefreshToken: boolean
    }
  }>
}

const notesStatus = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const run = yield* mcpgate(["status", "--json"], { env })
    assert.strictEqual(run.code, 0, run.stderr)
    const notes = (JSON.parse(run.stdout) as StatusJson).servers.find((server) => server.name === "notes")
    if (notes === undefined) throw new Error(`no notes in ${run.stdout}`)
    return notes
  })

describe("mcpgate login / logout", () => {
  it.live(
    "login through the browser; status, tools and call use the token; logout revokes it",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers
        const { env, home } = sandbox()
        writeConfig(home, mcp.url)
        env.BROWSER = browserCommand

        // Before any login: the server needs one, and a call says how to get it (exit 3).
        const locked = yield* mcpgate(["call", "notes__whoami"], { env })
        assert.strictEqual(locked.code, 3, locked.stderr)
        assert.include(locked.stderr, "mcpgate login notes")
        const before = yield* notesStatus(env)
        assert.strictEqual(before.auth, "needs login")
        assert.strictEqual(before.connection?.state, "needs_auth")

        const port = yield* freePort
        const login = yield* mcpgate(["login", "notes", "--callback-port", String(port)], { env })
        assert.strictEqual(login.code, 0, login.stderr)
        assert.include(login.stdout, "logged in to notes")
        assert.include(login.stdout, "registration dcr")
        assert.include(login.stderr, "Opening the browser")
        assert.strictEqual(as.countGrants("authorization_code"), 1)

        const after = yield* notesStatus(env)
        assert.strictEqual(after.auth, "authenticated")
        assert.strictEqual(after.connection?.state, "connected")
        assert.strictEqual(after.credential?.registrationMethod, "dcr")
        assert.include(after.credential?.scope ?? "", "mcp:read")
        assert.isTrue(after.credential?.hasRefreshToken)
        assert.isAbove(after.credential?.expiresAt ?? 0, Date.now())
        const human = yield* mcpgate(["status"], { env })
        assert.match(
          human.stdout,
          /notes\s+auto\s+connected, 2 tools\s+authenticated, expires in \d+m\s+dcr\s+mcp:read/
        )

        const tools = yield* mcpgate(["tools", "--json"], { env })
        assert.strictEqual(tools.code, 0, tools.stderr)
        const names = (JSON.parse(tools.stdout) as ReadonlyArray<{ name: string }>).map((tool) => tool.name)
        assert.includeMembers(names, ["notes__whoami", "notes__admin"])

        const call = yield* mcpgate(["call", "notes__whoami"], { env })
        assert.strictEqual(call.code, 0, call.stderr)
        assert.strictEqual(call.stdout.trim(), "hello test-user")

        const revocationsBefore = as.revocations.length
        const logout = yield* mcpgate(["logout", "notes"], { env })
        assert.strictEqual(logout.code, 0, logout.stderr)
        assert.include(logout.stdout, "logged out of notes")
        assert.isTrue(
          as.revocations.slice(revocationsBefore).some((revocation) => revocation.status === 200),
          "the authorization server saw a successful revocation"
        )
        const loggedOut = yield* notesStatus(env)
        assert.strictEqual(loggedOut.auth, "needs login")
        assert.isUndefined(loggedOut.credential)

        const again = yield* mcpgate(["logout", "notes"], { env })
        assert.strictEqual(again.code, 0)
        assert.include(again.stdout, "nothing to do")
      }),
    60_000
  )

  it.live(
    "login --flow device prints the code plainly and finishes once it is approved",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers
        const { env, home } = sandbox()
        writeConfig(home, mcp.url)
        let approving = false
        const login = yield* mcpgate(["login", "notes", "--flow", "device"], {
          env,
          interact: (output) => {
            const page = /\(or open (\S+), which has the code in it\)/.exec(output)?.[1]
            if (page === undefined || approving) return Effect.succeed(undefined)
            approving = true
            // The person on the other device.
            return Effect.as(approveDevice(page), undefined)
          }
        })
        assert.strictEqual(login.code, 0, login.stderr)
        const code = /enter the code:\n\n {4}(\S+)\n/.exec(login.stdout)?.[1]
        assert.isDefined(code, login.stdout)
        assert.match(login.stdout, /open http:\/\/127\.0\.0\.1:\d+\/\S+ and enter the code/)
        assert.include(login.stdout, "logged in to notes")
        assert.isAtLeast(as.countGrants(deviceGrant), 1)
        assert.strictEqual(as.countGrants("authorization_code"), 0)
        assert.strictEqual((yield* notesStatus(env)).auth, "authenticated")
      }),
    60_000
  )

  it.live(
    "login --no-browser prints the URL and takes the pasted redirect address",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers
        const { env, home } = sandbox()
        writeConfig(home, mcp.url)
        env.BROWSER = "false" // must not be used
        const port = yield* freePort
        let pasted = false
        const login = yield* mcpgate(["login", "notes", "--no-browser", "--callback-port", String(port)], {
          env,
          interact: (output) => {
            const authorizationUrl = /^ {2}(http\S+\/auth\?\S+)$/m.exec(output)?.[1]
            if (authorizationUrl === undefined || pasted) return Effect.succeed(undefined)
            pasted = true
            const redirectUri = new URL(authorizationUrl).searchParams.get("redirect_uri") ?? ""
            return redirectFor(authorizationUrl, redirectUri)
          }
        })
        assert.strictEqual(login.code, 0, login.stderr)
        assert.include(login.stdout, "Open this address in a browser")
        assert.include(
          login.stdout,
          `redirect_uri=${encodeURIComponent(`http://127.0.0.1:${port}/callback`)}`
        )
        assert.include(login.stderr, "Paste the address")
        assert.include(login.stdout, "logged in to notes")
        assert.strictEqual(as.countGrants("authorization_code"), 1)
        assert.strictEqual((yield* notesStatus(env)).auth, "authenticated")
      }),
    60_000
  )

  it.live(
    "login after the authorization server forgot the client registers anew and finishes",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers
        const { env, home } = sandbox()
        writeConfig(home, mcp.url)
        env.BROWSER = browserCommand
        const port = yield* freePort
        const first = yield* mcpgate(["login", "notes", "--callback-port", String(port)], { env })
        assert.strictEqual(first.code, 0, first.stderr)

        // The server's database was reset: the stored client is unknown there now.
        as.forgetClients()
        const again = yield* mcpgate(["login", "notes", "--callback-port", String(port)], { env })
        assert.strictEqual(again.code, 0, again.stderr)
        assert.include(again.stdout, "logged in to notes")
        assert.strictEqual(as.registrations.length, 2)
        const call = yield* mcpgate(["call", "notes__whoami"], { env })
        assert.strictEqual(call.code, 0, call.stderr)
        assert.strictEqual(call.stdout.trim(), "hello test-user")
      }),
    90_000
  )

  it.live("login and logout refuse servers that are not in the config or have no URL (exit 2)", () =>
    Effect.gen(function* () {
      const { env, home } = sandbox()
      writeConfig(home, "http://127.0.0.1:9/mcp")
      const unknown = yield* mcpgate(["login", "nope"], { env })
      assert.strictEqual(unknown.code, 2)
      assert.include(unknown.stderr, "no server named nope")
      const badUrl = yield* mcpgate(["connect", "ftp://example.test/mcp"], { env })
      assert.strictEqual(badUrl.code, 2)
    })
  )
})

describe("mcpgate connect", () => {
  it.live(
    "connects to a URL without any config file: discovers, registers, signs in, lists the tools",
    () =>
      Effect.gen(function* () {
        const { as, mcp } = yield* startServers
        const { env } = sandbox()
        env.BROWSER = browserCommand
        const port = yield* freePort
        const first = yield* mcpgate(["connect", mcp.url, "--callback-port", String(port)], { env })
        assert.strictEqual(first.code, 0, first.stderr)
        assert.include(first.stdout, `connected to ${mcp.url}`)
        assert.match(first.stdout, /whoami\s+Says who the token belongs to/)
        assert.include(first.stdout, "admin")
        assert.strictEqual(as.registrations.length, 1)
        assert.strictEqual(as.countGrants("authorization_code"), 1)

        // The login is kept (keyed by the URL): the next connect needs no browser.
        env.BROWSER = "false"
        const second = yield* mcpgate(["connect", mcp.url, "--json"], { env })
        assert.strictEqual(second.code, 0, second.stderr)
        const listed = JSON.parse(second.stdout) as {
          transport: string
          tools: ReadonlyArray<{ name: string }>
        }
        assert.strictEqual(listed.transport, "streamable-http")
        assert.sameMembers(
          listed.tools.map((tool) => tool.name),
          ["whoami", "admin"]
        )
        assert.strictEqual(as.countGrants("authorization_code"), 1)
      }),
    60_000
  )
})
