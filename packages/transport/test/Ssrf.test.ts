import { assert, describe, it } from "@effect/vitest"
import { classifyAddress } from "@mcpgate/core/Address"
import { Effect } from "effect"
import {
  HostNotFound,
  pinnedLookup,
  type ResolvedAddress,
  type Resolver,
  vetTarget
} from "../src/internal/Ssrf.ts"

describe("classifyAddress", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    // IPv4
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["93.184.216.34", "public"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "reserved"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["100.128.0.1", "public"],
    ["169.254.169.254", "metadata"],
    ["169.254.1.1", "link-local"],
    ["100.100.100.200", "metadata"],
    ["168.63.129.16", "metadata"],
    ["192.0.0.192", "metadata"],
    ["192.0.0.8", "reserved"],
    ["192.0.2.10", "documentation"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.9", "documentation"],
    ["198.18.0.1", "benchmarking"],
    ["192.88.99.1", "reserved"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "broadcast"],
    // IPv6
    ["2606:4700:4700::1111", "public"],
    ["2001:4860:4860::8888", "public"],
    ["::", "unspecified"],
    ["[::]", "unspecified"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf::1", "link-local"],
    ["fec0::1", "reserved"],
    ["fc00::1", "unique local"],
    ["fd12:3456::1", "unique local"],
    ["fd00:ec2::254", "metadata"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "documentation"],
    ["3fff::1", "documentation"],
    ["2001:2::1", "benchmarking"],
    ["2001:10::1", "reserved"],
    ["100::1", "reserved"],
    ["4000::1", "reserved"],
    // IPv4-mapped, every spelling
    ["::ffff:127.0.0.1", "loopback"],
    ["[::ffff:7f00:1]", "loopback"],
    ["0:0:0:0:0:ffff:7f00:1", "loopback"],
    ["::ffff:10.1.2.3", "private"],
    ["::ffff:169.254.169.254", "metadata"],
    ["::ffff:8.8.8.8", "public"],
    // IPv4-translated (RFC 6145)
    ["::ffff:0:7f00:1", "loopback"],
    // IPv4-compatible (deprecated): never public
    ["::127.0.0.1", "loopback"],
    ["::7f00:1", "loopback"],
    ["::808:808", "reserved"],
    // NAT64 (RFC 6052) and local-use NAT64 (RFC 8215)
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b::10.0.0.1", "private"],
    ["64:ff9b::a9fe:a9fe", "metadata"],
    ["64:ff9b::808:808", "public"],
    ["64:ff9b:1::808:808", "reserved"],
    // 6to4 (RFC 3056): the IPv4 address sits in bits 16–47
    ["2002:7f00:1::1", "loopback"],
    ["2002:c0a8:101::1", "private"],
    ["2002:808:808::1", "public"],
    // Teredo (RFC 4380): client IPv4 inverted in the last 32 bits
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation"],
    ["2001:0:808:808::80ff:fffe", "loopback"],
    ["2001:0:808:808::f7f7:f7f7", "public"]
  ]

  for (const [address, kind] of cases) {
    it(`${address} is ${kind}`, () => {
      assert.strictEqual(classifyAddress(address)?.kind, kind)
    })
  }

  it("explains what an embedding address hides", () => {
    assert.strictEqual(
      classifyAddress("::ffff:7f00:1")?.description,
      "an IPv4-mapped IPv6 address embedding 127.0.0.1, a loopback address"
    )
    assert.strictEqual(classifyAddress("[::ffff:127.0.0.1]")?.address, "::ffff:7f00:1")
  })

  it("is not fooled by non-addresses and leaves other IPv4 spellings to URL parsing", () => {
    for (const text of [
      "example.com",
      "localhost",
      "127.1",
      "0x7f.0.0.1",
      "2130706433",
      "",
      "[]",
      "1.2.3.4.5"
    ]) {
      assert.isUndefined(classifyAddress(text), text)
    }
  })
})

describe("URL parsing normalises numeric hosts before the guard sees them", () => {
  // WHATWG URL host parsing (IPv4 parser): every form below becomes a dotted quad.
  const forms: ReadonlyArray<readonly [string, string]> = [
    ["http://2130706433/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://017700000001/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://127.0.0.1./", "127.0.0.1"],
    ["http://0/", "0.0.0.0"],
    ["http://%31%32%37.0.0.1/", "127.0.0.1"],
    ["http://①②⑦.0.0.1/", "127.0.0.1"],
    ["http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
    ["http://[0:0:0:0:0:0:0:1]/", "[::1]"]
  ]
  for (const [input, hostname] of forms) {
    it(`${input} → ${hostname}, refused`, () => {
      const url = new URL(input)
      assert.strictEqual(url.hostname, hostname)
      assert.notStrictEqual(classifyAddress(url.hostname)?.kind, "public")
    })
  }
})

const staticResolver =
  (table: Readonly<Record<string, ReadonlyArray<string>>>): Resolver =>
  (hostname) => {
    const addresses = table[hostname]
    return addresses === undefined
      ? Effect.fail(new HostNotFound({ host: hostname, message: `could not resolve ${hostname}` }))
      : Effect.succeed(
          addresses.map((address): ResolvedAddress => ({ address, family: address.includes(":") ? 6 : 4 }))
        )
  }

const policy = (allowPrivateNetwork = false, trusted: ReadonlyArray<string> = []) => ({
  resolver: staticResolver({
    "public.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "loopback.test": ["127.0.0.1"],
    "mixed.test": ["93.184.216.34", "10.0.0.7"],
    "mapped.test": ["::ffff:169.254.169.254"],
    "garbage.test": ["not-an-ip"],
    "empty.test": []
  }),
  allowPrivateNetwork,
  testOnlyTrustedAddresses: new Set(trusted)
})

const refusal = (url: string, allowPrivate = false) =>
  vetTarget(new URL(url), policy(allowPrivate)).pipe(
    Effect.flip,
    Effect.map((error) => error.message)
  )

describe("vetTarget", () => {
  it.effect("passes every public address of a host on, for the connection to use", () =>
    Effect.gen(function* () {
      const addresses = yield* vetTarget(new URL("https://public.test/page"), policy())
      assert.deepStrictEqual(
        addresses.map((entry) => entry.address),
        ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
      )
      const literal = yield* vetTarget(new URL("http://[2606:4700::1111]:8080/"), policy())
      assert.deepStrictEqual(literal, [{ address: "2606:4700::1111", family: 6 }])
    })
  )

  it.effect("refuses a host when any one of its addresses is private", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        yield* refusal("http://mixed.test/"),
        "refused: mixed.test resolves to 10.0.0.7, a private address (RFC 1918); builtin fetch only reaches " +
          "public addresses (builtins.fetch.allowPrivateNetwork lifts this)"
      )
      assert.match(
        yield* refusal("http://loopback.test/"),
        /^refused: loopback\.test resolves to 127\.0\.0\.1, a loopback/
      )
      assert.match(
        yield* refusal("http://mapped.test/"),
        /embedding 169\.254\.169\.254, the cloud metadata address/
      )
      assert.match(yield* refusal("http://garbage.test/"), /not an IP address/)
    })
  )

  it.effect("names the address and why for literals", () =>
    Effect.gen(function* () {
      assert.match(yield* refusal("http://0x7f000001/"), /^refused: 127\.0\.0\.1 is a loopback address;/)
      assert.match(yield* refusal("http://[::]/"), /^refused: :: is the unspecified address;/)
      assert.match(yield* refusal("http://[fe80::1]/"), /^refused: fe80::1 is a link-local address;/)
      assert.match(
        yield* refusal("file:///etc/passwd"),
        /^refused: only http and https URLs can be fetched, not file:/
      )
      assert.match(yield* refusal("ftp://ftp.example.com/x"), /not ftp:/)
    })
  )

  it.effect("reports unresolvable hosts", () =>
    Effect.gen(function* () {
      assert.match(yield* refusal("http://nowhere.test/"), /could not resolve nowhere\.test/)
      assert.match(yield* refusal("http://empty.test/"), /could not resolve empty\.test: no addresses/)
    })
  )

  it.effect("lets everything through with allowPrivateNetwork, and trusted test addresses only exactly", () =>
    Effect.gen(function* () {
      const open = yield* vetTarget(new URL("http://loopback.test/"), policy(true))
      assert.deepStrictEqual(open, [{ address: "127.0.0.1", family: 4 }])
      const trusted = yield* vetTarget(new URL("http://127.0.0.1:9/"), policy(false, ["127.0.0.1"]))
      assert.deepStrictEqual(trusted, [{ address: "127.0.0.1", family: 4 }])
      const other = yield* vetTarget(new URL("http://127.0.0.2:9/"), policy(false, ["127.0.0.1"])).pipe(
        Effect.flip
      )
      assert.match(other.message, /127\.0\.0\.2 is a loopback address/)
      // The non-http check is not lifted by the switch.
      assert.match(yield* refusal("file:///etc/passwd", true), /only http and https/)
    })
  )
})

describe("pinnedLookup", () => {
  const addresses: ReadonlyArray<ResolvedAddress> = [
    { address: "93.184.216.34", family: 4 },
    { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 }
  ]
  const call = (options: { family?: number; all?: boolean }) =>
    new Promise<readonly [unknown, unknown, unknown]>((resolve) =>
      pinnedLookup(addresses)("anything.example", options, (error, address, family) =>
        resolve([error, address, family])
      )
    )

  it("answers only with the vetted addresses, whatever host is asked for", async () => {
    assert.deepStrictEqual(await call({ all: true }), [
      null,
      [
        { address: "93.184.216.34", family: 4 },
        { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 }
      ],
      undefined
    ])
    assert.deepStrictEqual(await call({}), [null, "93.184.216.34", 4])
    assert.deepStrictEqual(await call({ family: 6 }), [null, "2606:2800:220:1:248:1893:25c8:1946", 6])
  })

  it("fails rather than falling back to DNS when no vetted address fits", async () => {
    const [error] = await new Promise<readonly [unknown]>((resolve) =>
      pinnedLookup([{ address: "93.184.216.34", family: 4 }])("x", { family: 6 }, (e) => resolve([e]))
    )
    assert.instanceOf(error, Error)
    assert.strictEqual((error as NodeJS.ErrnoException).code, "ENOTFOUND")
  })
})
