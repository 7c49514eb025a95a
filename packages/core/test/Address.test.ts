import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { classify, classifyAddress, isLoopbackHost, isLoopbackUrl, parseHost } from "../src/Address.ts"

/** What a URL parser makes of `host`: its dotted quad, or undefined for a name or an invalid host. */
const urlIPv4 = (host: string): string | undefined => {
  const hostname = URL.parse(`http://${host}/`)?.hostname
  return hostname !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(hostname) ? hostname : undefined
}

describe("parseHost", () => {
  it("reads every numeric IPv4 form as the URL Standard does", () => {
    const forms: ReadonlyArray<readonly [string, string | undefined]> = [
      ["127.0.0.1", "127.0.0.1"],
      ["127.1", "127.0.0.1"],
      ["127.0.1", "127.0.0.1"],
      ["2130706433", "127.0.0.1"],
      ["0x7f000001", "127.0.0.1"],
      ["0X7F.1", "127.0.0.1"],
      ["0177.0.0.1", "127.0.0.1"],
      ["017700000001", "127.0.0.1"],
      ["127.0.0.1.", "127.0.0.1"],
      ["0", "0.0.0.0"],
      ["0x", "0.0.0.0"],
      ["4294967295", "255.255.255.255"],
      ["4294967296", undefined],
      ["127.0.0.256", undefined],
      ["256.0.0.1", undefined],
      ["1.2.3.4.5", undefined],
      ["09.0.0.1", undefined],
      ["0xg.0.0.1", undefined],
      ["127.0.0.1..", undefined],
      ["example.com", undefined],
      ["127.0.0.1.example.com", undefined],
      ["", undefined],
      [".", undefined]
    ]
    for (const [host, expected] of forms) {
      assert.strictEqual(parseHost(host)?.toString(), expected, host)
    }
  })

  it("agrees with the URL parser on generated numeric hosts", () => {
    const part = fc.oneof(
      fc.nat({ max: 300 }).map(String),
      fc.nat().map((n) => `0x${n.toString(16)}`),
      fc.nat().map((n) => `0${n.toString(8)}`),
      fc.nat({ max: 2 ** 32 + 5 }).map(String),
      fc.constantFrom("0x", "08", "0xz", "")
    )
    const host = fc
      .tuple(fc.array(part, { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([parts, dot]) => `${parts.join(".")}${dot ? "." : ""}`)
    fc.assert(
      fc.property(host, (text) => {
        assert.strictEqual(parseHost(text)?.toString(), urlIPv4(text), text)
      }),
      { numRuns: 2000 }
    )
  })

  it("reads IPv6 with or without brackets, in any case and with a zone", () => {
    assert.strictEqual(parseHost("[0:0:0:0:0:0:0:1]")?.toString(), "::1")
    assert.strictEqual(parseHost("::FFFF:127.0.0.1")?.toString(), "::ffff:7f00:1")
    assert.strictEqual(parseHost("fe80::1%eth0")?.toString(), "fe80::1%eth0")
    // A trailing dotted quad is two groups, as in a URL: `::127.0.0.1` is IPv4-compatible, not mapped.
    for (const host of ["::127.0.0.1", "::ffff:0:10.0.0.1", "64:ff9b::10.0.0.1", "1:2:3:4:5:6:1.2.3.4"]) {
      assert.strictEqual(`[${parseHost(host)?.toString()}]`, URL.parse(`http://[${host}]/`)?.hostname, host)
    }
    assert.isUndefined(parseHost("::ffff:127.0.0.256"))
    assert.isUndefined(parseHost("[::1]:8080"))
    assert.isUndefined(parseHost("127.0.0.1:8080"))
  })

  it("classifies what it reads like an address literal", () => {
    assert.strictEqual(classify(parseHost("0x7f.1") ?? assert.fail("no address")).kind, "loopback")
    assert.strictEqual(classify(parseHost("0xa9fea9fe") ?? assert.fail("no address")).kind, "metadata")
    // Address literals keep their one spelling: the others are names until a URL parser has run.
    assert.isUndefined(classifyAddress("0x7f.1"))
    assert.strictEqual(classifyAddress("127.0.0.1")?.kind, "loopback")
  })
})

describe("isLoopbackHost", () => {
  it("knows localhost names and loopback addresses in every spelling", () => {
    for (const host of [
      "127.0.0.1",
      "127.5.6.7",
      "127.255.255.255",
      " 127.0.0.1 ",
      "127.0.0.1.",
      "127.1",
      "0x7f.0.0.1",
      "2130706433",
      "localhost",
      "LOCALHOST",
      "localhost.",
      "app.localhost",
      "app.localhost.",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "[0000::0001]",
      "::0:1",
      "::ffff:127.0.0.1",
      "[::FFFF:127.0.0.1]",
      "[::ffff:7f00:1]",
      "::ffff:7f01:203"
    ]) {
      assert.isTrue(isLoopbackHost(host), host)
    }
  })

  it("refuses other hosts, addresses that only embed 127/8, and text that is not a host", () => {
    for (const host of [
      "128.0.0.1",
      "126.255.255.255",
      "127.0.0.256",
      "10.0.0.1",
      "0.0.0.0",
      "::",
      "::2",
      "example.com",
      "localhost.example.com",
      "notlocalhost",
      "localhost..",
      "127.0.0.1.example.com",
      "::ffff:10.0.0.1",
      // These route elsewhere: a NAT64 gateway, a 6to4 relay, nothing (deprecated).
      "64:ff9b::7f00:1",
      "2002:7f00:1::1",
      "::127.0.0.1",
      "::ffff:0:7f00:1",
      "evil.example@127.0.0.1",
      "127.0.0.1:8080",
      "127.0.0.1/",
      "",
      "[]"
    ]) {
      assert.isFalse(isLoopbackHost(host), host)
    }
  })
})

describe("isLoopbackUrl", () => {
  it("judges the URL's host", () => {
    for (const url of [
      "http://127.0.0.1:8080/callback",
      "http://[::1]/",
      "http://localhost./",
      "http://0x7f.1/",
      "http://user@127.0.0.1/",
      "https://[::ffff:127.0.0.1]:443/x"
    ]) {
      assert.isTrue(isLoopbackUrl(url), url)
    }
    for (const url of ["http://127.0.0.1.example.com/", "http://127.0.0.1@example.com/", "not a url", ""]) {
      assert.isFalse(isLoopbackUrl(url), url)
    }
    assert.isTrue(isLoopbackUrl(new URL("http://localhost:1234")))
  })
})
