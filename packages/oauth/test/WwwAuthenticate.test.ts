import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { type Challenge, format, parse, resourceChallenge, splitScopes } from "../src/WwwAuthenticate.ts"

describe("WWW-Authenticate parsing", () => {
  const table: ReadonlyArray<readonly [string, ReadonlyArray<Challenge>]> = [
    ["", []],
    [
      'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"',
      [
        {
          scheme: "bearer",
          params: { resource_metadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" }
        }
      ]
    ],
    [
      'Bearer realm="example", error="invalid_token", error_description="The access token expired"',
      [
        {
          scheme: "bearer",
          params: { realm: "example", error: "invalid_token", error_description: "The access token expired" }
        }
      ]
    ],
    // RFC 9110 §11.6.1's example: two challenges, a token value, an escaped quote.
    [
      'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
      [
        { scheme: "newauth", params: { realm: "apps", type: "1", title: 'Login to "apps"' } },
        { scheme: "basic", params: { realm: "simple" } }
      ]
    ],
    [
      "Basic dXNlcjpwYXNz==, Bearer error=insufficient_scope",
      [
        { scheme: "basic", params: {}, token68: "dXNlcjpwYXNz==" },
        { scheme: "bearer", params: { error: "insufficient_scope" } }
      ]
    ],
    ["Negotiate abc/def+", [{ scheme: "negotiate", params: {}, token68: "abc/def+" }]],
    ['BEARER Scope="a b"', [{ scheme: "bearer", params: { scope: "a b" } }]],
    ['Bearer error="a,b",scope="c"', [{ scheme: "bearer", params: { error: "a,b", scope: "c" } }]],
    ['Bearer scope="first", scope="second"', [{ scheme: "bearer", params: { scope: "first" } }]],
    [',, Bearer ,, realm = "spaced" ,', [{ scheme: "bearer", params: { realm: "spaced" } }]],
    ['"junk", Bearer scope=x', [{ scheme: "bearer", params: { scope: "x" } }]],
    ['Bearer realm="never closed', [{ scheme: "bearer", params: { realm: "never closed" } }]],
    ["=oops, Bearer", [{ scheme: "bearer", params: {} }]]
  ]
  for (const [header, expected] of table) {
    it(`parses ${JSON.stringify(header)}`, () => {
      assert.deepStrictEqual(parse(header), expected)
    })
  }

  it("reads what an MCP client needs, Bearer before DPoP", () => {
    assert.deepStrictEqual(
      resourceChallenge(
        'DPoP algs="ES256", error="use_dpop_nonce", Bearer scope="mcp:read mcp:write", resource_metadata="https://r/.well-known/oauth-protected-resource", error="insufficient_scope"'
      ),
      {
        scheme: "bearer",
        error: "insufficient_scope",
        scope: "mcp:read mcp:write",
        resourceMetadata: "https://r/.well-known/oauth-protected-resource",
        dpop: true
      }
    )
    assert.isUndefined(resourceChallenge('Basic realm="x"'))
    assert.isUndefined(resourceChallenge(null))
    assert.deepStrictEqual(splitScopes("  a  b a\tc "), ["a", "b", "c"])
  })

  // Fixed seed: the same cases on every run.
  const seed = 20_251_125

  it("never throws, whatever the header", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (header) => {
        const challenges = parse(header)
        for (const challenge of challenges) assert.match(challenge.scheme, /^[!#$%&'*+\-.^_`|~0-9a-z]+$/)
      }),
      { seed, numRuns: 2000 }
    )
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("Bearer", " ", ",", "=", '"', "\\", "a", "scope", "==", "\t", "x=y"), {
          maxLength: 30
        }),
        (pieces) => {
          parse(pieces.join(""))
        }
      ),
      { seed, numRuns: 2000 }
    )
  })

  it("reads back every well-formed challenge list it formats", () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9_\-.]{0,11}$/)
    // quoted-string content: tab, space, visible ASCII (incl. `"` and `\`, escaped), obs-text.
    const text = fc.string({
      unit: fc.constantFrom(..."\t !#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~\"".split(""), "é", "ÿ"),
      maxLength: 24
    })
    const challenge = fc.oneof(
      fc.record({
        scheme: token,
        params: fc.dictionary(token, text, { maxKeys: 4 }).map((params) => ({ ...params }))
      }),
      fc.record({
        scheme: token,
        params: fc.constant({}),
        token68: fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,16}={0,2}$/)
      })
    )
    fc.assert(
      fc.property(fc.array(challenge, { maxLength: 4 }), (challenges) => {
        assert.deepStrictEqual(parse(format(challenges)), challenges)
      }),
      { seed, numRuns: 1000 }
    )
  })
})
