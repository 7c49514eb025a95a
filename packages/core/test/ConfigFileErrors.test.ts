// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts hold ${env:VAR} references, not templates
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Env, parse } from "../src/ConfigFile.ts"

interface Row {
  readonly title: string
  readonly text: string
  readonly env?: Env
  /** The JSON path of the first problem. */
  readonly path: string
  /** Words the one-line message must contain. */
  readonly says: string
  /** 1-based line and column of the first problem, where asserted. */
  readonly at?: readonly [number, number]
}

const lines = (...text: ReadonlyArray<string>) => text.join("\n")
/** A config with one server entry. */
const server = (entry: string) => `{ "mcpServers": { "a": ${entry} } }`
/** A config with one HTTP server and the given auth block. */
const auth = (block: string) => server(`{ "url": "https://mcp.example.com/mcp", "auth": ${block} }`)

const rows: ReadonlyArray<Row> = [
  // Syntax: JSONC, with line and column.
  {
    title: "missing comma between entries",
    text: lines("{", '  "mcpServers": {}', '  "maxToolCalls": 3', "}"),
    path: "maxToolCalls",
    says: 'syntax error: expected "," between entries',
    at: [3, 3]
  },
  {
    title: "unterminated string",
    text: lines("{", '  "mcpServers": {', '    "a": { "command": "npx }', "  }", "}"),
    path: "mcpServers.a.command",
    says: "syntax error: unterminated string",
    at: [3, 23]
  },
  {
    title: "trailing garbage after the object",
    text: lines("{ }", "}"),
    path: "$",
    says: "syntax error: unexpected content after the end of the JSON value",
    at: [2, 1]
  },
  {
    title: "trailing word after the object",
    text: lines('{ "maxToolCalls": 3 }', "", "oops"),
    path: "$",
    says: 'syntax error: unexpected "o…"',
    at: [3, 1]
  },
  {
    title: "single-quoted key",
    text: lines("{", "  'mcpServers': {}", "}"),
    path: "$",
    says: "(JSON strings use double quotes)",
    at: [2, 3]
  },
  {
    title: "unclosed object",
    text: lines("{", '  "mcpServers": {', '    "a": { "command": "npx" }', ""),
    path: "mcpServers.a",
    says: 'syntax error: expected "}"',
    at: [4, 1]
  },
  {
    title: "unterminated block comment",
    text: lines("{", "  /* servers go here", '  "mcpServers": {}', "}"),
    path: "$",
    says: "syntax error: unterminated comment",
    at: [2, 3]
  },
  {
    title: "raw tab inside a string",
    text: '{ "mcpServers": { "a": { "command": "a\tb" } } }',
    path: "mcpServers.a.command",
    says: "control characters must be escaped",
    at: [1, 37]
  },
  { title: "empty file", text: "", path: "$", says: "the file is empty", at: [1, 1] },
  { title: "only comments", text: "// nothing yet\n/* really */\n", path: "$", says: "the file is empty" },

  // The root.
  {
    title: "root is an array",
    text: "[]",
    path: "$",
    says: "must be a JSON object, got an array",
    at: [1, 1]
  },
  { title: "root is a string", text: '"mcpServers"', path: "$", says: "must be a JSON object, got a string" },
  { title: "root is null", text: "null", path: "$", says: "must be a JSON object, got null" },

  // Unknown keys, with the nearest known key.
  {
    title: "unknown root key close to mcpServers",
    text: lines("{", '  "mcpServer": {}', "}"),
    path: "mcpServer",
    says: 'unknown key (did you mean "mcpServers"?)',
    at: [2, 3]
  },
  {
    title: "root key in the wrong case",
    text: '{ "MaxToolCalls": 3 }',
    path: "MaxToolCalls",
    says: 'unknown key (did you mean "maxToolCalls"?)'
  },
  {
    title: "root key with no close match lists the valid keys",
    text: '{ "frobnicate": 1 }',
    path: "frobnicate",
    says: "unknown key (expected one of: mcpServers, maxToolCalls, maxToolResultChars, maxTools, toolSearch, defaultTimeout, builtins, server, store)"
  },
  {
    title: "store postgres without url",
    text: '{ "store": { "type": "postgres" } }',
    path: "store",
    says: 'store "postgres" needs "url"'
  },
  {
    title: "store url that is not a PostgreSQL URL",
    text: '{ "store": { "type": "postgres", "url": "mysql://db/x" } }',
    path: "store.url",
    says: "a PostgreSQL URL"
  },
  {
    title: "store url with the local store",
    text: '{ "store": { "url": "postgres://db/x" } }',
    path: "store.url",
    says: '"url" only applies to store "postgres"'
  },
  {
    title: "store type misspelt",
    text: '{ "store": { "type": "postgre" } }',
    path: "store.type",
    says: '"local" or "postgres"'
  },
  {
    title: "server entry at the top level",
    text: '{ "notion": { "url": "https://mcp.notion.com/mcp" } }',
    path: "notion",
    says: 'unknown key (server entries go under "mcpServers")'
  },
  {
    title: "misspelt command (reported before the missing command)",
    text: lines("{", '  "mcpServers": {', '    "a": { "comand": "npx" }', "  }", "}"),
    path: "mcpServers.a.comand",
    says: 'unknown key (did you mean "command"?)',
    at: [3, 12]
  },
  {
    title: "auth key placed on the server entry",
    text: server('{ "url": "https://mcp.example.com/mcp", "clientId": "x" }'),
    path: "mcpServers.a.clientId",
    says: 'unknown key (it belongs inside "auth")'
  },
  {
    title: "tools key placed on the server entry",
    text: server('{ "command": "npx", "allow": ["*"] }'),
    path: "mcpServers.a.allow",
    says: 'unknown key (it belongs inside "tools")'
  },
  {
    title: "auth key in the wrong case",
    text: lines(
      "{",
      '  "mcpServers": {',
      '    "notion": {',
      '      "url": "https://mcp.notion.com/mcp",',
      '      "auth": { "type": "oauth2", "clientID": "x" }',
      "    }",
      "  }",
      "}"
    ),
    path: "mcpServers.notion.auth.clientID",
    says: 'unknown key (did you mean "clientId"?)',
    at: [5, 35]
  },
  {
    title: "auth key in snake case",
    text: auth('{ "type": "oauth2", "client_secret": "s" }'),
    path: "mcpServers.a.auth.client_secret",
    says: 'unknown key (did you mean "clientSecret"?)'
  },
  {
    title: "misspelt builtins key",
    text: '{ "builtins": { "webserch": { "enabled": false } } }',
    path: "builtins.webserch",
    says: 'unknown key (did you mean "webSearch"?)'
  },
  {
    title: "misspelt fetch key",
    text: '{ "builtins": { "fetch": { "allowPrivateNetworks": true } } }',
    path: "builtins.fetch.allowPrivateNetworks",
    says: 'unknown key (did you mean "allowPrivateNetwork"?)'
  },
  {
    title: "misspelt webSearch key",
    text: '{ "builtins": { "webSearch": { "endPoint": "http://127.0.0.1:8888", "provider": "searxng" } } }',
    path: "builtins.webSearch.endPoint",
    says: 'unknown key (did you mean "endpoint"?)'
  },
  {
    title: "misspelt upstream key (reported before the missing baseUrl)",
    text: '{ "server": { "upstream": { "baseURL": "http://127.0.0.1:11434/v1" } } }',
    path: "server.upstream.baseURL",
    says: 'unknown key (did you mean "baseUrl"?)',
    at: [1, 29]
  },
  {
    title: "misspelt server key",
    text: '{ "server": { "apikeys": ["k"] } }',
    path: "server.apikeys",
    says: 'unknown key (did you mean "apiKeys"?)'
  },
  {
    title: "misspelt tools key",
    text: server('{ "command": "npx", "tools": { "alow": ["*"] } }'),
    path: "mcpServers.a.tools.alow",
    says: 'unknown key (did you mean "allow"?)'
  },

  // Wrong types and values, at several depths.
  {
    title: "maxToolCalls as a string",
    text: '{ "maxToolCalls": "10" }',
    path: "maxToolCalls",
    says: "expected a number, got a string",
    at: [1, 19]
  },
  {
    title: "non-integer maxToolCalls",
    text: '{ "maxToolCalls": 2.5 }',
    path: "maxToolCalls",
    says: "expected a positive integer, got 2.5"
  },
  {
    title: "zero maxToolCalls",
    text: '{ "max_tool_calls": 0 }',
    path: "max_tool_calls",
    says: "expected a positive integer, got 0"
  },
  {
    title: "negative defaultTimeout",
    text: '{ "defaultTimeout": -5 }',
    path: "defaultTimeout",
    says: "expected a positive number of seconds, got -5"
  },
  {
    title: "negative server timeout",
    text: server('{ "command": "npx", "timeout": -1 }'),
    path: "mcpServers.a.timeout",
    says: "expected a positive number of seconds, got -1"
  },
  {
    title: "mcpServers as an array",
    text: '{ "mcpServers": [{ "command": "npx" }] }',
    path: "mcpServers",
    says: "expected an object of server entries by name, got an array"
  },
  {
    title: "server entry as a string",
    text: server('"npx -y server"'),
    path: "mcpServers.a",
    says: "expected an object, got a string"
  },
  {
    title: "args as a string",
    text: server('{ "command": "npx", "args": "-y server" }'),
    path: "mcpServers.a.args",
    says: "expected an array, got a string"
  },
  {
    title: "a number inside args",
    text: lines("{", '  "mcpServers": {', '    "a": { "command": "npx", "args": ["-y", 42] }', "  }", "}"),
    path: "mcpServers.a.args[1]",
    says: "expected a string, got a number",
    at: [3, 45]
  },
  {
    title: "a number as an env value",
    text: server('{ "command": "npx", "env": { "DEBUG": 1 } }'),
    path: "mcpServers.a.env.DEBUG",
    says: "expected a string, got a number"
  },
  {
    title: "headers as an array",
    text: server('{ "url": "https://mcp.example.com/mcp", "headers": ["Authorization: x"] }'),
    path: "mcpServers.a.headers",
    says: "expected an object, got an array"
  },
  {
    title: "enabled as a string",
    text: server('{ "command": "npx", "enabled": "yes" }'),
    path: "mcpServers.a.enabled",
    says: "expected true or false, got a string"
  },
  {
    title: "builtins.fetch as a boolean",
    text: '{ "builtins": { "fetch": true } }',
    path: "builtins.fetch",
    says: "expected an object, got a boolean"
  },
  {
    title: "server.port as a string",
    text: '{ "server": { "port": "8080" } }',
    path: "server.port",
    says: "expected a number, got a string"
  },
  {
    title: "server.port out of range",
    text: '{ "server": { "port": 70000 } }',
    path: "server.port",
    says: "expected a port number from 0 to 65535, got 70000"
  },
  {
    title: "an empty API key",
    text: '{ "server": { "apiKeys": ["ok", ""] } }',
    path: "server.apiKeys[1]",
    says: "expected a non-empty string"
  },
  {
    title: "publicUrl without a scheme",
    text: '{ "server": { "publicUrl": "gateway.example.com" } }',
    path: "server.publicUrl",
    says: "expected an absolute http(s) URL"
  },
  {
    title: "server.upstream without baseUrl",
    text: '{ "server": { "upstream": { "apiKey": "k" } } }',
    path: "server.upstream",
    says: 'missing "baseUrl"'
  },

  // Server entries: stdio or HTTP.
  {
    title: "neither command nor url",
    text: server('{ "args": ["-y"] }'),
    path: "mcpServers.a",
    says: 'missing "command" (a stdio server) or "url" (an HTTP server)'
  },
  {
    title: "both command and url",
    text: server('{ "command": "npx", "url": "https://mcp.example.com/mcp" }'),
    path: "mcpServers.a.url",
    says: 'a server has either "command" (stdio) or "url" (HTTP), not both'
  },
  {
    title: "unknown transport",
    text: server('{ "transport": "websocket", "url": "https://mcp.example.com/mcp" }'),
    path: "mcpServers.a.transport",
    says: 'expected one of "stdio", "sse", "streamable-http" or "http"'
  },
  {
    title: "transport stdio with a url",
    text: server('{ "transport": "stdio", "url": "https://mcp.example.com/mcp" }'),
    path: "mcpServers.a.transport",
    says: 'transport "stdio" needs "command", but this server has "url"'
  },
  {
    title: "VS Code type sse with a command",
    text: server('{ "type": "sse", "command": "npx" }'),
    path: "mcpServers.a.type",
    says: 'transport "sse" needs "url", but this server has "command"'
  },
  {
    title: "url without a scheme",
    text: server('{ "url": "mcp.notion.com/mcp" }'),
    path: "mcpServers.a.url",
    says: "expected an absolute http(s) URL"
  },
  {
    title: "url with another scheme",
    text: server('{ "url": "ftp://mcp.example.com/mcp" }'),
    path: "mcpServers.a.url",
    says: "expected an absolute http(s) URL"
  },
  {
    title: "headers on a stdio server",
    text: server('{ "command": "npx", "headers": { "X": "y" } }'),
    path: "mcpServers.a.headers",
    says: '"headers" only applies to HTTP servers'
  },
  {
    title: "args on an HTTP server",
    text: server('{ "url": "https://mcp.example.com/mcp", "args": ["x"] }'),
    path: "mcpServers.a.args",
    says: '"args" only applies to stdio servers'
  },
  {
    title: "auth on a stdio server",
    text: server('{ "command": "npx", "auth": { "type": "oauth2" } }'),
    path: "mcpServers.a.auth",
    says: '"auth" only applies to HTTP servers'
  },
  {
    title: "invalid header name",
    text: server('{ "url": "https://mcp.example.com/mcp", "headers": { "Bad Header": "x" } }'),
    path: 'mcpServers.a.headers["Bad Header"]',
    says: "expected a valid HTTP header name as the key"
  },
  {
    title: "empty server name",
    text: '{ "mcpServers": { "": { "command": "npx" } } }',
    path: 'mcpServers[""]',
    says: "a server name must not be empty"
  },
  {
    title: "duplicate server name",
    text: lines(
      "{",
      '  "mcpServers": {',
      '    "a": { "command": "x" },',
      '    "a": { "command": "y" }',
      "  }",
      "}"
    ),
    path: "mcpServers.a",
    says: "duplicate server name",
    at: [4, 5]
  },
  {
    title: "duplicate key",
    text: '{ "maxToolCalls": 3, "maxToolCalls": 4 }',
    path: "maxToolCalls",
    says: "duplicate key",
    at: [1, 22]
  },

  // Environment references.
  {
    title: "missing environment variable in a header",
    text: lines(
      "{",
      '  "mcpServers": {',
      '    "a": { "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${env:TOKEN}" } }',
      "  }",
      "}"
    ),
    path: "mcpServers.a.headers.Authorization",
    says: "environment variable TOKEN is not set",
    at: [3, 80]
  },
  {
    title: "missing ${VAR} in args",
    text: server('{ "command": "npx", "args": ["${WORKDIR}/x"] }'),
    env: { HOME: "/h" },
    path: "mcpServers.a.args[0]",
    says: "environment variable WORKDIR is not set"
  },
  {
    title: "unsupported reference kind",
    text: server('{ "url": "https://mcp.example.com/mcp", "headers": { "X": "${input:token}" } }'),
    path: "mcpServers.a.headers.X",
    says: 'unsupported reference "${input:token}"'
  },
  {
    title: "unterminated reference",
    text: '{ "server": { "adminToken": "abc${env:TOKEN" } }',
    path: "server.adminToken",
    says: 'unterminated "${" (write "$${" for a literal "${")'
  },

  // The auth block.
  {
    title: "auth type is not oauth2",
    text: auth('{ "type": "bearer" }'),
    path: "mcpServers.a.auth.type",
    says: 'expected "oauth2"'
  },
  {
    title: "auth without type",
    text: auth('{ "clientId": "x" }'),
    path: "mcpServers.a.auth",
    says: 'missing "type" (for example "type": "oauth2")'
  },
  {
    title: "unknown flow",
    text: auth('{ "type": "oauth2", "flow": "implicit" }'),
    path: "mcpServers.a.auth.flow",
    says: 'expected one of "pkce", "device" or "client_credentials"'
  },
  {
    title: "callbackPort out of range",
    text: auth('{ "type": "oauth2", "callbackPort": 70000 }'),
    path: "mcpServers.a.auth.callbackPort",
    says: "expected a port number from 1 to 65535, got 70000"
  },
  {
    title: "callbackPort not an integer",
    text: auth('{ "type": "oauth2", "callbackPort": 8080.5 }'),
    path: "mcpServers.a.auth.callbackPort",
    says: "expected a port number from 1 to 65535, got 8080.5"
  },
  {
    title: "resource that is not a URI",
    text: auth('{ "type": "oauth2", "resource": "my server" }'),
    path: "mcpServers.a.auth.resource",
    says: 'expected "auto", "omit" or an absolute URI without a fragment'
  },
  {
    title: "resource with a fragment (RFC 8707)",
    text: auth('{ "type": "oauth2", "resource": "https://mcp.example.com/mcp#x" }'),
    path: "mcpServers.a.auth.resource",
    says: "without a fragment"
  },
  {
    title: "tokenUrl that is not http(s)",
    text: auth('{ "type": "oauth2", "token_url": "ftp://auth.example.com/token" }'),
    path: "mcpServers.a.auth.token_url",
    says: "expected an absolute http(s) URL"
  },
  {
    title: "scopes as one string",
    text: auth('{ "type": "oauth2", "scopes": "read write" }'),
    path: "mcpServers.a.auth.scopes",
    says: "expected an array, got a string"
  },
  {
    title: "a scope with a space",
    text: auth('{ "type": "oauth2", "scopes": ["read write"] }'),
    path: "mcpServers.a.auth.scopes[0]",
    says: "list each scope separately"
  },
  {
    title: "unknown signing algorithm",
    text: auth('{ "type": "oauth2", "privateKey": "k.pem", "signingAlgorithm": "HS256" }'),
    path: "mcpServers.a.auth.signingAlgorithm",
    says: 'expected one of "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512" or "EdDSA"'
  },

  // An alias and its canonical key together.
  {
    title: "transport and type together",
    text: server('{ "transport": "sse", "type": "sse", "url": "https://mcp.example.com/sse" }'),
    path: "mcpServers.a.type",
    says: '"transport" and "type" are the same setting; keep one'
  },
  {
    title: "clientId and client_id together",
    text: auth('{ "type": "oauth2", "client_id": "a", "clientId": "b" }'),
    path: "mcpServers.a.auth.clientId",
    says: '"client_id" and "clientId" are the same setting; keep one'
  },
  {
    title: "both servers and mcpServers",
    text: lines("{", '  "mcpServers": {},', '  "servers": {}', "}"),
    path: "servers",
    says: '"mcpServers" and "servers" are the same setting; keep one',
    at: [3, 3]
  },
  {
    title: "maxToolCalls and max_tool_calls together",
    text: '{ "max_tool_calls": 3, "maxToolCalls": 3 }',
    path: "maxToolCalls",
    says: '"max_tool_calls" and "maxToolCalls" are the same setting; keep one'
  },

  // Builtins.
  {
    title: "searxng without endpoint",
    text: '{ "builtins": { "webSearch": { "provider": "searxng" } } }',
    path: "builtins.webSearch",
    says: 'provider "searxng" needs "endpoint"'
  },
  {
    title: "unknown search provider",
    text: '{ "builtins": { "webSearch": { "provider": "google" } } }',
    path: "builtins.webSearch.provider",
    says: 'expected one of "duckduckgo" or "searxng"'
  }
]

describe("ConfigFile malformed configs", () => {
  it("has plenty of rows", () => {
    assert.isAtLeast(rows.length, 30)
  })

  it.effect.each(rows)("$title", (row) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parse(row.text, "mcpgate.json", row.env ?? {}))
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(error.path, row.path)
      assert.include(error.message, row.says)
      // One line: `file:line:column path: problem` (no path for the root).
      assert.notInclude(error.message, "\n")
      const [line, column] = row.at ?? [error.line, error.column]
      const prefix = `mcpgate.json:${line}:${column} ${row.path === "$" ? "" : `${row.path}: `}`
      assert.isTrue(error.message.startsWith(prefix), `${error.message} should start with ${prefix}`)
      assert.deepStrictEqual([error.line, error.column], [line, column])
      // The first issue is the headline.
      assert.strictEqual(error.issues[0]?.path, row.path)
      assert.include(error.issues[0]?.message ?? "", row.says)
    })
  )
})

describe("ConfigFile error reporting", () => {
  it.effect("the first problem in document order is the headline; all are listed in order", () =>
    Effect.gen(function* () {
      // Validated in a different order (maxToolCalls before server) than written.
      const text = lines(
        "{",
        '  "server": { "port": "8808" },',
        '  "mcpServers": { "a": { "comand": "x" } },',
        '  "maxToolCalls": 0',
        "}"
      )
      const error = yield* Effect.flip(parse(text, "mcpgate.json"))
      assert.strictEqual(error.message, "mcpgate.json:2:23 server.port: expected a number, got a string")
      assert.deepStrictEqual(error.issues, [
        { path: "server.port", message: "expected a number, got a string", line: 2, column: 23 },
        {
          path: "mcpServers.a.comand",
          message: 'unknown key (did you mean "command"?)',
          line: 3,
          column: 26
        },
        {
          path: "mcpServers.a",
          message: 'missing "command" (a stdio server) or "url" (an HTTP server)',
          line: 3,
          column: 40
        },
        { path: "maxToolCalls", message: "expected a positive integer, got 0", line: 4, column: 19 }
      ])
    })
  )

  it.effect("values that came from the environment are not echoed in messages", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        parse(server('{ "url": "${env:URL}" }'), "mcpgate.json", { URL: "not-a-url-s3cr3t" })
      )
      assert.strictEqual(error.path, "mcpServers.a.url")
      assert.notInclude(error.message, "s3cr3t")
      const long = yield* Effect.flip(
        parse(auth('{ "type": "oauth2", "flow": "${env:FLOW}" }'), "mcpgate.json", {
          FLOW: "a-very-long-value-that-might-be-a-secret-token-0123456789"
        })
      )
      assert.notInclude(long.message, "secret-token")
    })
  )

  it.effect(
    "a secret-looking value is never echoed, whether written in the file or from the environment",
    () =>
      Effect.gen(function* () {
        const secret = "sk-live-5ecre7"
        const env = { SECRET: secret }
        // Every kind of Schema issue a value can cause: literals, unions, filters, patterns, types.
        const texts = [
          auth(`{ "type": "${secret}" }`),
          auth('{ "type": "${env:SECRET}" }'),
          auth(`{ "type": "oauth2", "flow": "${secret}" }`),
          auth('{ "type": "oauth2", "signingAlgorithm": "${env:SECRET}" }'),
          auth(`{ "type": "oauth2", "resource": "${secret} x" }`),
          auth(`{ "type": "oauth2", "scopes": ["${secret} x"] }`),
          auth(`{ "type": "oauth2", "tokenUrl": "${secret}" }`),
          server(`{ "transport": "${secret}", "url": "https://mcp.example.com/mcp" }`),
          server(`{ "url": "https://mcp.example.com/mcp", "headers": { "X": "${secret}\\n" } }`),
          server(`{ "url": "${secret}" }`),
          `{ "server": { "publicUrl": "\${env:SECRET}" } }`,
          `{ "builtins": { "webSearch": { "provider": "${secret}" } } }`,
          `{ "server": { "apiKeys": "${secret}" } }`,
          // Forgotten quotes: a syntax error, which must not quote the text either.
          `{ "server": { "adminToken": ${secret} } }`
        ]
        for (const text of texts) {
          const error = yield* Effect.flip(parse(text, "mcpgate.json", env))
          assert.strictEqual(error._tag, "ConfigError", text)
          for (const shown of [error.message, JSON.stringify(error.issues), String(error)]) {
            assert.notInclude(shown, "5ecre7", `${text} → ${shown}`)
          }
        }
      })
  )

  it.effect("paths quote keys that are not plain words", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(parse(server('{ "command": "npx", "env": { "A.B": 1 } }'), "f.json"))
      assert.strictEqual(error.path, 'mcpServers.a.env["A.B"]')
      const named = yield* Effect.flip(
        parse('{ "mcpServers": { "my server": { "comand": "x" } } }', "f.json")
      )
      assert.strictEqual(named.path, 'mcpServers["my server"].comand')
    })
  )
})
