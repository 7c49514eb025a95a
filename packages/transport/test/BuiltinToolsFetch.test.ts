import { readFileSync } from "node:fs"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as tls from "node:tls"
import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import type { BuiltinsConfig } from "@mcpgate/core/Config"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { Effect } from "effect"
import { BuiltinTools, type BuiltinToolsOptions, HostNotFound, type Resolver } from "../src/BuiltinTools.ts"
import { localServer } from "./fixtures/LocalServer.ts"

const config = (
  allowPrivateNetwork: boolean,
  enabled = { fetch: true, webSearch: true }
): BuiltinsConfig => ({
  fetch: { enabled: enabled.fetch, allowPrivateNetwork },
  webSearch: { enabled: enabled.webSearch, provider: "duckduckgo" }
})

const textOf = (result: CallToolResult): string =>
  result.content.map((block) => (block.type === "text" ? block.text : "")).join("")

const callFetch = (
  allowPrivateNetwork: boolean,
  args: Record<string, unknown>,
  options: BuiltinToolsOptions = {}
) =>
  Effect.gen(function* () {
    const tools = yield* BuiltinTools.make(config(allowPrivateNetwork), options)
    return yield* tools.callTool("fetch", args)
  })

const ok = (result: CallToolResult): string => {
  assert.notStrictEqual(result.isError, true, textOf(result))
  return textOf(result)
}
const failed = (result: CallToolResult): string => {
  assert.strictEqual(result.isError, true, textOf(result))
  return textOf(result)
}

const staticResolver =
  (table: Readonly<Record<string, ReadonlyArray<string>>>, calls: Array<string> = []): Resolver =>
  (hostname) => {
    calls.push(hostname)
    const addresses = table[hostname]
    return addresses === undefined
      ? Effect.fail(new HostNotFound({ host: hostname, message: `could not resolve ${hostname}` }))
      : Effect.succeed(
          addresses.map((address) => ({
            address,
            family: address.includes(":") ? (6 as const) : (4 as const)
          }))
        )
  }

const page = `<!doctype html>
<html><head><title>Gateway notes</title><style>body { color: red }</style>
<script>document.write("tracking")</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Gateway notes</h1>
<p>Read <a href="/docs/oauth">the OAuth guide</a> or <a href="https://example.com/x">an outside page</a>.</p>
<h2>Steps</h2>
<ul><li>Install</li><li>Configure</li></ul>
<script>console.log("more tracking")</script>
</body></html>`

describe("builtin fetch: content", () => {
  it.live("turns HTML into Markdown: title, headings, absolute links, lists; no scripts, styles or nav", () =>
    Effect.gen(function* () {
      const server = yield* localServer((_, res) => {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" })
        res.end(page)
      })
      const text = ok(yield* callFetch(true, { url: `${server.origin}/notes` }))
      assert.strictEqual(
        text,
        `# Gateway notes\n\nSource: ${server.origin}/notes\n\n` +
          `Read [the OAuth guide](${server.origin}/docs/oauth) or [an outside page](https://example.com/x).\n\n` +
          "## Steps\n\n- Install\n- Configure"
      )
      assert.notInclude(text, "tracking")
      assert.notInclude(text, "color")
      assert.notInclude(text, "About")
      assert.strictEqual(server.requests[0]?.headers["accept-encoding"], "gzip, deflate, br")
    })
  )

  it.live("decodes the charset named in Content-Type (windows-1252)", () =>
    Effect.gen(function* () {
      const body = Buffer.concat([
        Buffer.from("<html><head><title>Menu</title></head><body><p>"),
        Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x96, 0x20, 0x6e, 0x61, 0xef, 0x76, 0x65, 0x20, 0x80]),
        Buffer.from("</p></body></html>")
      ])
      const server = yield* localServer((_, res) => {
        res.writeHead(200, { "content-type": "text/html; charset=windows-1252" })
        res.end(body)
      })
      assert.include(ok(yield* callFetch(true, { url: server.origin })), "café – naïve €")
    })
  )

  it.live("decodes the charset a page declares in <meta> (shift_jis) and in http-equiv (iso-8859-15)", () =>
    Effect.gen(function* () {
      const japanese = Buffer.concat([
        Buffer.from('<html><head><meta charset="Shift_JIS"><title>JP</title></head><body><p>'),
        Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea, 0x82, 0xcc, 0x83, 0x79, 0x81, 0x5b, 0x83, 0x57]),
        Buffer.from("</p></body></html>")
      ])
      const euro = Buffer.concat([
        Buffer.from(
          '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15"></head><body><p>'
        ),
        Buffer.from([0xa4, 0x20, 0x35]),
        Buffer.from("</p></body></html>")
      ])
      const server = yield* localServer((req, res) => {
        res.writeHead(200, { "content-type": "text/html" })
        res.end(req.url === "/jp" ? japanese : euro)
      })
      assert.include(ok(yield* callFetch(true, { url: `${server.origin}/jp` })), "日本語のページ")
      assert.include(ok(yield* callFetch(true, { url: `${server.origin}/euro` })), "€ 5")
    })
  )

  it.live("pretty-prints JSON, returns text/plain as is and XML as text", () =>
    Effect.gen(function* () {
      const server = yield* localServer((req, res) => {
        if (req.url === "/json") {
          res.writeHead(200, { "content-type": "application/vnd.api+json" })
          res.end('{"name":"mcpgate","tags":["a","b"]}')
        } else if (req.url === "/xml") {
          res.writeHead(200, { "content-type": "application/rss+xml" })
          res.end('<?xml version="1.0"?><rss><channel><title>Feed</title></channel></rss>')
        } else {
          res.writeHead(200, { "content-type": "text/plain; charset=utf-8" })
          res.end("line one\n  line *two* <b>not html</b>\n")
        }
      })
      assert.strictEqual(
        ok(yield* callFetch(true, { url: `${server.origin}/json` })),
        `Source: ${server.origin}/json\n\n\`\`\`json\n{\n  "name": "mcpgate",\n  "tags": [\n    "a",\n    "b"\n  ]\n}\n\`\`\``
      )
      assert.strictEqual(
        ok(yield* callFetch(true, { url: `${server.origin}/text` })),
        `Source: ${server.origin}/text\n\nline one\n  line *two* <b>not html</b>\n`
      )
      assert.include(
        ok(yield* callFetch(true, { url: `${server.origin}/xml` })),
        '```xml\n<?xml version="1.0"?><rss><channel><title>Feed</title></channel></rss>\n```'
      )
    })
  )

  it.live("refuses images, PDFs and untyped binary data, naming what it got", () =>
    Effect.gen(function* () {
      const server = yield* localServer((req, res) => {
        if (req.url === "/png") {
          res.writeHead(200, { "content-type": "image/png" })
          res.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
        } else if (req.url === "/pdf") {
          res.writeHead(200, { "content-type": "application/pdf" })
          res.end("%PDF-1.7\n")
        } else {
          res.writeHead(200)
          res.end(Buffer.from([0x00, 0x01, 0x02, 0xff]))
        }
      })
      assert.match(
        failed(yield* callFetch(true, { url: `${server.origin}/png` })),
        /^unsupported content type image\/png at http:\/\/127\.0\.0\.1:\d+\/png: fetch returns web pages and text/
      )
      assert.match(
        failed(yield* callFetch(true, { url: `${server.origin}/pdf` })),
        /unsupported content type application\/pdf/
      )
      assert.match(
        failed(yield* callFetch(true, { url: `${server.origin}/bin` })),
        /unsupported content type \(binary data without a Content-Type\)/
      )
    })
  )

  it.live("decompresses gzip and brotli bodies", () =>
    Effect.gen(function* () {
      const server = yield* localServer((req, res) => {
        const encoding = req.url === "/br" ? "br" : "gzip"
        const body = Buffer.from("compressed hello\n")
        res.writeHead(200, { "content-type": "text/plain", "content-encoding": encoding })
        res.end(encoding === "br" ? zlib.brotliCompressSync(body) : zlib.gzipSync(body))
      })
      assert.include(ok(yield* callFetch(true, { url: `${server.origin}/gz` })), "compressed hello")
      assert.include(ok(yield* callFetch(true, { url: `${server.origin}/br` })), "compressed hello")
    })
  )

  it.live("stops reading at the size cap, after decompression, and says so", () =>
    Effect.gen(function* () {
      const big = "a".repeat(200_000)
      const server = yield* localServer((req, res) => {
        if (req.url === "/gzip-bomb") {
          res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip" })
          res.end(zlib.gzipSync(Buffer.from(big)))
        } else {
          res.writeHead(200, { "content-type": "text/plain" })
          res.end(big)
        }
      })
      for (const path of ["/plain", "/gzip-bomb"]) {
        const text = ok(
          yield* callFetch(true, { url: `${server.origin}${path}`, maxChars: 1_000_000 }, { maxBytes: 4096 })
        )
        assert.include(
          text,
          `\n\n${"a".repeat(4096)}\n\n[truncated: the response is larger than 4 KB; only the first 4 KB were read]`
        )
        assert.notInclude(text, "a".repeat(4097))
      }
      // Exactly at the cap is complete, not truncated.
      const exact = yield* localServer((_, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end("b".repeat(4096))
      })
      assert.notInclude(ok(yield* callFetch(true, { url: exact.origin }, { maxBytes: 4096 })), "truncated")
    })
  )

  it.live("cuts the converted text at maxChars and tells the model how to get more", () =>
    Effect.gen(function* () {
      const server = yield* localServer((_, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end("x".repeat(500))
      })
      const text = ok(yield* callFetch(true, { url: server.origin, maxChars: 100 }))
      const header = `Source: ${server.origin}/\n\n`
      assert.strictEqual(
        text,
        `${header}${"x".repeat(100 - header.length)}\n\n[truncated: showing the first 100 of ${header.length + 500} ` +
          "characters; call fetch again with a larger maxChars to read more]"
      )
      // Default: 20,000 characters.
      const long = yield* localServer((_, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end("y".repeat(30_000))
      })
      assert.match(
        ok(yield* callFetch(true, { url: long.origin })),
        /showing the first 20000 of 300\d\d characters/
      )
    })
  )

  it.live("times out on a server that never answers", () =>
    Effect.gen(function* () {
      const server = yield* localServer(() => {
        // Never respond.
      })
      const started = Date.now()
      const text = failed(yield* callFetch(true, { url: `${server.origin}/hang` }, { fetchTimeoutMs: 150 }))
      assert.strictEqual(text, `timed out after 0.15 s fetching ${server.origin}/hang`)
      assert.isBelow(Date.now() - started, 5_000)
      // A call's own timeout wins over the default.
      const tools = yield* BuiltinTools.make(config(true))
      const perCall = yield* tools.callTool("fetch", { url: `${server.origin}/hang` }, { timeoutMs: 100 })
      assert.strictEqual(textOf(perCall), `timed out after 0.1 s fetching ${server.origin}/hang`)
    })
  )

  it.live("follows redirects (relative and absolute) and reports where it landed", () =>
    Effect.gen(function* () {
      const server = yield* localServer((req, res) => {
        if (req.url === "/start") {
          res.writeHead(301, { location: "/middle" })
          res.end("moved")
        } else if (req.url === "/middle") {
          res.writeHead(307, { location: `http://localhost.test:${port()}/final?x=1` })
          res.end()
        } else if (req.url?.startsWith("/loop")) {
          res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || "0") + 1}` })
          res.end()
        } else {
          res.writeHead(200, { "content-type": "text/plain" })
          res.end(`landed on ${req.url} for ${req.headers.host}`)
        }
      })
      const port = () => server.port
      const calls: Array<string> = []
      const resolver = staticResolver({ "localhost.test": ["127.0.0.1"] }, calls)
      const text = ok(yield* callFetch(true, { url: `${server.origin}/start` }, { resolver }))
      assert.strictEqual(
        text,
        `Source: http://localhost.test:${server.port}/final?x=1\n\nlanded on /final?x=1 for localhost.test:${server.port}`
      )
      // One resolution for the one named hop: the connection used it (no second lookup).
      assert.deepStrictEqual(calls, ["localhost.test"])

      assert.strictEqual(
        failed(yield* callFetch(true, { url: `${server.origin}/loop` })),
        `too many redirects (more than 5) starting at ${server.origin}/loop`
      )
      assert.deepStrictEqual(
        server.requests.filter((r) => r.url.startsWith("/loop")).map((r) => r.url),
        ["/loop", "/loop1", "/loop2", "/loop3", "/loop4", "/loop5"]
      )
    })
  )

  it.live("reports HTTP errors with the status and a short excerpt of the page", () =>
    Effect.gen(function* () {
      const server = yield* localServer((_, res) => {
        res.writeHead(404, { "content-type": "text/html" })
        res.end("<html><body><h1>No such page</h1></body></html>")
      })
      assert.strictEqual(
        failed(yield* callFetch(true, { url: `${server.origin}/missing` })),
        `HTTP 404 Not Found from ${server.origin}/missing\n\nSource: ${server.origin}/missing\n\n# No such page`
      )
    })
  )

  it.live("reports network failures as results, not errors", () =>
    Effect.gen(function* () {
      // A port that was just listened on and closed again: nothing answers there.
      const refusedPort = yield* Effect.scoped(
        localServer((_, res) => res.end()).pipe(Effect.map((s) => s.port))
      )
      assert.match(
        failed(yield* callFetch(true, { url: `http://127.0.0.1:${refusedPort}/` })),
        new RegExp(`^connection refused by 127\\.0\\.0\\.1:${refusedPort}$`)
      )
      assert.strictEqual(
        failed(yield* callFetch(true, { url: "http://unknown.test/" }, { resolver: staticResolver({}) })),
        "could not resolve unknown.test"
      )
    })
  )
})

describe("builtin fetch: HTTPS", () => {
  const key = readFileSync(new URL("./fixtures/tls/secure.test.key.pem", import.meta.url))
  const cert = readFileSync(new URL("./fixtures/tls/secure.test.cert.pem", import.meta.url))

  it.live("connects to the vetted address, sends the host name as SNI and verifies the certificate", () =>
    Effect.gen(function* () {
      const serverNames: Array<string> = []
      const context = tls.createSecureContext({ key, cert })
      const port = yield* Effect.acquireRelease(
        Effect.callback<https.Server>((resume) => {
          const server = https.createServer(
            {
              key,
              cert,
              SNICallback: (name, done) => {
                serverNames.push(name)
                done(null, context)
              }
            },
            (_, res) => res.end("never reached: the self-signed certificate is not trusted")
          )
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      ).pipe(Effect.map((server) => (server.address() as AddressInfo).port))

      const resolver = staticResolver({ "secure.test": ["127.0.0.1"] })
      const text = failed(yield* callFetch(true, { url: `https://secure.test:${port}/` }, { resolver }))
      assert.match(
        text,
        new RegExp(`^TLS certificate problem with secure\\.test:${port}: self[- ]signed certificate`)
      )
      assert.deepStrictEqual(serverNames, ["secure.test"])
    })
  )
})

describe("builtin fetch: arguments and tool listing", () => {
  it.effect("lists only the enabled tools, with JSON Schemas", () =>
    Effect.gen(function* () {
      const both = yield* (yield* BuiltinTools.make(config(false))).listTools
      assert.deepStrictEqual(
        both.map((tool) => tool.name),
        ["fetch", "web_search"]
      )
      const fetchTool = both[0]
      assert.deepStrictEqual(fetchTool?.inputSchema.required, ["url"])
      assert.strictEqual(
        (fetchTool?.inputSchema.properties?.maxChars as { type?: string } | undefined)?.type,
        "integer"
      )
      const onlySearch = yield* BuiltinTools.make(config(false, { fetch: false, webSearch: true }))
      assert.deepStrictEqual(
        (yield* onlySearch.listTools).map((tool) => tool.name),
        ["web_search"]
      )
      const error = yield* onlySearch.callTool("fetch", { url: "https://example.com" }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "ToolCallError")
      assert.strictEqual(error.reason, "unknown_tool")
      assert.strictEqual(error.message, "the builtin tool fetch is disabled in the configuration")
      const none = yield* BuiltinTools.make(config(false, { fetch: false, webSearch: false }))
      assert.deepStrictEqual(yield* none.listTools, [])
      assert.strictEqual(none.name, "builtin")
    })
  )

  it.effect("answers an unknown tool with ToolCallError", () =>
    Effect.gen(function* () {
      const tools = yield* BuiltinTools.make(config(false))
      const error = yield* tools.callTool("rm_rf", {}).pipe(Effect.flip)
      assert.strictEqual(error.reason, "unknown_tool")
      assert.strictEqual(error.server, "builtin")
      assert.strictEqual(error.message, "builtin has no tool named rm_rf")
    })
  )

  it.effect("answers bad arguments with an isError result", () =>
    Effect.gen(function* () {
      assert.match(
        failed(yield* callFetch(false, {})),
        /^invalid arguments for fetch: Missing key\n {2}at \["url"\]/
      )
      assert.match(failed(yield* callFetch(false, { url: "https://example.com", maxChars: 0 })), /maxChars/)
      assert.match(failed(yield* callFetch(false, { url: "https://example.com", maxChars: 1.5 })), /integer/)
      assert.strictEqual(
        failed(yield* callFetch(false, { url: "not a url" })),
        'invalid URL "not a url": give an absolute http(s) URL'
      )
    })
  )

  it.effect("is a service with a layer", () =>
    Effect.gen(function* () {
      const tools = yield* BuiltinTools
      assert.strictEqual(tools.name, "builtin")
      assert.strictEqual((yield* tools.listTools).length, 2)
    }).pipe(Effect.provide(BuiltinTools.layer(config(false))))
  )
})

describe("builtin fetch: the SSRF guard", () => {
  const refusedLiterals: ReadonlyArray<readonly [string, RegExp]> = [
    [
      "http://127.0.0.1:{port}/",
      /^refused: 127\.0\.0\.1 is a loopback address; builtin fetch only reaches public addresses/
    ],
    ["http://10.0.0.1/", /^refused: 10\.0\.0\.1 is a private address \(RFC 1918\)/],
    ["http://172.16.0.1/", /^refused: 172\.16\.0\.1 is a private address \(RFC 1918\)/],
    ["http://192.168.1.1/", /^refused: 192\.168\.1\.1 is a private address \(RFC 1918\)/],
    [
      "http://169.254.169.254/latest/meta-data/",
      /^refused: 169\.254\.169\.254 is the cloud metadata address/
    ],
    ["http://100.64.0.1/", /^refused: 100\.64\.0\.1 is a carrier-grade NAT address/],
    ["http://0.0.0.0:{port}/", /^refused: 0\.0\.0\.0 is the unspecified address/],
    ["http://[::1]:{port}/", /^refused: ::1 is a loopback address/],
    ["http://[::]:{port}/", /^refused: :: is the unspecified address/],
    [
      "http://[::ffff:127.0.0.1]:{port}/",
      /^refused: ::ffff:7f00:1 is an IPv4-mapped IPv6 address embedding 127\.0\.0\.1, a loopback/
    ],
    ["http://[fe80::1]/", /^refused: fe80::1 is a link-local address/],
    ["http://[fc00::1]/", /^refused: fc00::1 is a unique local address/],
    ["http://[fd00:ec2::254]/", /^refused: fd00:ec2::254 is the cloud metadata address \(AWS\)/],
    [
      "http://[64:ff9b::a00:1]/",
      /^refused: 64:ff9b::a00:1 is a NAT64 address \(RFC 6052\) embedding 10\.0\.0\.1/
    ],
    ["http://2130706433:{port}/", /^refused: 127\.0\.0\.1 is a loopback address/],
    ["http://0177.0.0.1:{port}/", /^refused: 127\.0\.0\.1 is a loopback address/],
    ["http://0x7f000001:{port}/", /^refused: 127\.0\.0\.1 is a loopback address/],
    ["http://0x7f.1:{port}/", /^refused: 127\.0\.0\.1 is a loopback address/],
    ["http://127.1:{port}/", /^refused: 127\.0\.0\.1 is a loopback address/],
    ["file:///etc/passwd", /^refused: only http and https URLs can be fetched, not file:$/],
    ["ftp://ftp.example.com/pub/file.txt", /^refused: only http and https URLs can be fetched, not ftp:$/],
    ["data:text/plain,hello", /not data:$/]
  ]

  it.live("refuses private, local and special targets in every spelling, without connecting", () =>
    Effect.gen(function* () {
      const server = yield* localServer((_, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end("secret")
      })
      const tools = yield* BuiltinTools.make(config(false))
      for (const [template, expected] of refusedLiterals) {
        const url = template.replace("{port}", String(server.port))
        const text = failed(yield* tools.callTool("fetch", { url }))
        assert.match(text, expected, url)
      }
      assert.deepStrictEqual(server.requests, [], "no refused target was contacted")
    })
  )

  it.live("refuses host names that resolve to private addresses, even one among public ones", () =>
    Effect.gen(function* () {
      const server = yield* localServer((_, res) => res.end("secret"))
      const resolver = staticResolver({
        "intranet.test": ["127.0.0.1"],
        "mixed.test": ["93.184.216.34", "192.168.0.10"],
        "v6.test": ["::1"]
      })
      const tools = yield* BuiltinTools.make(config(false), { resolver })
      assert.match(
        failed(yield* tools.callTool("fetch", { url: `http://intranet.test:${server.port}/` })),
        /^refused: intranet\.test resolves to 127\.0\.0\.1, a loopback address; builtin fetch only reaches public/
      )
      assert.match(
        failed(yield* tools.callTool("fetch", { url: "https://mixed.test/" })),
        /^refused: mixed\.test resolves to 192\.168\.0\.10, a private address \(RFC 1918\)/
      )
      assert.match(
        failed(yield* tools.callTool("fetch", { url: "http://v6.test/" })),
        /resolves to ::1, a loopback/
      )
      assert.deepStrictEqual(server.requests, [])
    })
  )

  // The per-hop check, end to end: a test can only serve from 127.0.0.1, so the guard
  // stays on but trusts exactly that address (the narrow `testOnlyTrustedAddresses`
  // hook); the first hop is allowed and every redirect target is vetted on its own.
  it.live("vets every redirect hop", () =>
    Effect.gen(function* () {
      const server = yield* localServer((req, res) => {
        const targets: Record<string, string> = {
          "/to-private-name": `http://internal.test:${port()}/secret`,
          "/to-loopback-alias": `http://127.0.0.2:${port()}/secret`,
          "/to-metadata": "http://169.254.169.254/latest/meta-data/",
          "/to-file": "file:///etc/passwd",
          "/to-self": "/ok"
        }
        const target = req.url === undefined ? undefined : targets[req.url]
        if (target !== undefined) {
          res.writeHead(302, { location: target })
          res.end()
        } else {
          res.writeHead(200, { "content-type": "text/plain" })
          res.end(`reached ${req.url}`)
        }
      })
      const port = () => server.port
      const tools = yield* BuiltinTools.make(config(false), {
        resolver: staticResolver({ "internal.test": ["10.0.0.5"] }),
        testOnlyTrustedAddresses: ["127.0.0.1"]
      })
      const fetchPath = (path: string) => tools.callTool("fetch", { url: `${server.origin}${path}` })

      assert.match(
        failed(yield* fetchPath("/to-private-name")),
        /^refused: internal\.test resolves to 10\.0\.0\.5, a private address/
      )
      assert.match(
        failed(yield* fetchPath("/to-loopback-alias")),
        /^refused: 127\.0\.0\.2 is a loopback address/
      )
      assert.match(
        failed(yield* fetchPath("/to-metadata")),
        /^refused: 169\.254\.169\.254 is the cloud metadata address/
      )
      assert.match(
        failed(yield* fetchPath("/to-file")),
        /^refused: only http and https URLs can be fetched, not file:/
      )
      // Control: the hook trusts 127.0.0.1 and nothing else, so a redirect back to it works.
      assert.include(ok(yield* fetchPath("/to-self")), "reached /ok")
      assert.deepStrictEqual(
        server.requests.map((r) => r.url),
        ["/to-private-name", "/to-loopback-alias", "/to-metadata", "/to-file", "/to-self", "/ok"]
      )
    })
  )

  it.live("connects to the address it vetted, not to a fresh DNS answer", () =>
    Effect.gen(function* () {
      const server = yield* localServer((req, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end(`host ${req.headers.host}`)
      })
      // First answer vetted (trusted loopback), any later answer would be private: only one lookup happens.
      let answers = 0
      const rebinding: Resolver = () =>
        Effect.sync(() => {
          answers++
          return answers === 1
            ? [{ address: "127.0.0.1", family: 4 as const }]
            : [{ address: "10.9.9.9", family: 4 as const }]
        })
      const tools = yield* BuiltinTools.make(config(false), {
        resolver: rebinding,
        testOnlyTrustedAddresses: ["127.0.0.1"]
      })
      const text = ok(yield* tools.callTool("fetch", { url: `http://rebind.test:${server.port}/` }))
      assert.include(text, `host rebind.test:${server.port}`)
      assert.strictEqual(answers, 1)
    })
  )
})
