/**
 * Fuzzing discovery (RFC 9728 protected resource metadata, RFC 8414 / OpenID
 * authorization server metadata, the 401 challenge that points at them): a
 * local server answers every well-known URL with a generated document, status
 * and body. Whatever it serves, `Discovery.discover` ends with a result or a
 * typed `OAuthError`, never a defect or a hang; and what it accepts is sound
 * (the issuer as published, every endpoint a URL it would use).
 *
 * Every URL the documents hold points to 127.0.0.1 (or is not a usable URL):
 * nothing leaves the machine.
 *
 * Fixed seed and bounded runs in the normal suite; a longer run on demand:
 *   FUZZ_RUNS=20000 node_modules/.bin/vitest run --config vitest.workspace.ts packages/oauth/test/FuzzMetadata.test.ts
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { serverConfig } from "@mcpgate/testing/Harness"
import { Cause, Effect, Exit, References } from "effect"
import * as fc from "fast-check"
import { Discovery, make as makeDiscovery } from "../src/Discovery.ts"

const longRun = process.env.FUZZ_RUNS !== undefined
const params = (normal: number) => ({
  seed: Number(process.env.FUZZ_SEED ?? 20_260_702),
  numRuns: longRun ? Number(process.env.FUZZ_RUNS) : normal
})
const timeout = longRun ? 24 * 60 * 60_000 : 15_000

interface Answer {
  readonly status: number
  /** A JSON value (sent as JSON) or raw text. */
  readonly body: { readonly json: unknown } | { readonly text: string }
}

/** What the local server answers, by path (absent paths: 404). */
interface Site {
  readonly challenge: string | undefined
  readonly answers: Readonly<Record<string, Answer>>
}

const startSite = Effect.acquireRelease(
  Effect.promise(async () => {
    const state: { site: Site } = { site: { challenge: undefined, answers: {} } }
    const server = http.createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname
      if (req.method === "POST" && path === "/mcp") {
        const challenge = state.site.challenge
        res.writeHead(401, challenge === undefined ? {} : { "www-authenticate": challenge }).end()
        return
      }
      const answer = state.site.answers[path]
      if (answer === undefined) {
        res.writeHead(404).end()
        return
      }
      const body = "json" in answer.body ? (JSON.stringify(answer.body.json) ?? "null") : answer.body.text
      res.writeHead(answer.status, { "content-type": "application/json" }).end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return { server, state, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
  }),
  ({ server }) =>
    Effect.promise(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
    )
)

/** A site generator for a server at `origin` (its MCP endpoint is `<origin>/mcp`). */
const siteFor = (origin: string): fc.Arbitrary<Site> => {
  const mcpUrl = `${origin}/mcp`
  const prmPath = "/.well-known/oauth-protected-resource/mcp"
  // URLs that stay on this machine, plus things that are not usable URLs at all.
  const url = fc.oneof(
    fc.constantFrom(
      origin,
      `${origin}/`,
      `${origin}/as`,
      `${origin}/authorize`,
      `${origin}/token`,
      `${origin}/register`,
      mcpUrl,
      `${mcpUrl}/`,
      "https://127.0.0.1:1/closed",
      "http://10.0.0.1/private",
      "http://169.254.169.254/latest",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "/relative",
      "",
      "http://[::1",
      `${origin}#fragment`,
      `${origin}?query=1`
    ),
    fc.string({ maxLength: 10 })
  )
  const junk = fc.oneof(
    fc.string({ maxLength: 10 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 })
  )
  const field = <A>(good: fc.Arbitrary<A>) =>
    fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: junk })
  const list = <A>(item: fc.Arbitrary<A>) => fc.array(item, { maxLength: 4 })
  /** Mostly `likely` (so that documents get past the first checks), sometimes anything. */
  const mostly = <A>(likely: A) =>
    fc.oneof(
      { weight: 5, arbitrary: fc.constant(likely) },
      { weight: 1, arbitrary: url },
      { weight: 1, arbitrary: junk }
    )
  const prm = fc.record(
    {
      resource: field(fc.constantFrom(mcpUrl, mcpUrl, mcpUrl, `${mcpUrl}/`, origin, `${origin}/other`)),
      authorization_servers: fc.oneof(
        { weight: 4, arbitrary: fc.constant([origin]) },
        { weight: 1, arbitrary: fc.constant([`${origin}/as`]) },
        { weight: 2, arbitrary: list(url) },
        { weight: 1, arbitrary: junk }
      ),
      scopes_supported: field(list(fc.oneof(fc.constantFrom("read", "write", "offline_access"), junk))),
      bearer_methods_supported: field(list(fc.constantFrom("header", "body"))),
      dpop_bound_access_tokens_required: field(fc.boolean()),
      dpop_signing_alg_values_supported: field(list(fc.constantFrom("ES256", "RS256"))),
      resource_name: field(fc.string({ maxLength: 8 }))
    },
    { requiredKeys: [] }
  )
  const asMetadata = fc.record(
    {
      issuer: fc.oneof(
        { weight: 3, arbitrary: mostly(origin) },
        { weight: 1, arbitrary: mostly(`${origin}/as`) }
      ),
      authorization_endpoint: mostly(`${origin}/authorize`),
      token_endpoint: mostly(`${origin}/token`),
      registration_endpoint: mostly(`${origin}/register`),
      revocation_endpoint: field(url),
      device_authorization_endpoint: field(url),
      jwks_uri: field(url),
      response_types_supported: field(list(fc.constantFrom("code", "token"))),
      grant_types_supported: field(
        list(fc.constantFrom("authorization_code", "refresh_token", "client_credentials"))
      ),
      code_challenge_methods_supported: field(list(fc.constantFrom("S256", "plain"))),
      token_endpoint_auth_methods_supported: field(list(fc.constantFrom("none", "client_secret_basic"))),
      scopes_supported: field(list(fc.constantFrom("openid", "offline_access"))),
      client_id_metadata_document_supported: field(fc.boolean()),
      authorization_response_iss_parameter_supported: field(fc.boolean())
    },
    { requiredKeys: ["issuer"] }
  )
  const answer = (document: fc.Arbitrary<unknown>): fc.Arbitrary<Answer> =>
    fc.oneof(
      { weight: 6, arbitrary: document.map((json) => ({ status: 200, body: { json } })) },
      {
        weight: 1,
        arbitrary: fc.record({
          status: fc.constantFrom(200, 301, 404, 500, 503),
          body: fc.oneof(
            fc.string({ maxLength: 40 }).map((text) => ({ text })),
            fc.jsonValue().map((json) => ({ json }))
          )
        })
      }
    )
  const asPaths = fc.subarray(
    [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
      "/.well-known/oauth-authorization-server/as",
      "/as/.well-known/openid-configuration",
      "/.well-known/openid-configuration/as"
    ],
    { minLength: 0 }
  )
  return fc
    .record({
      challenge: fc.option(
        fc.oneof(
          fc.constant(`Bearer resource_metadata="${origin}${prmPath}"`),
          url.map((target) => `Bearer resource_metadata="${target}", scope="read"`),
          fc.string({ maxLength: 60 })
        ),
        { nil: undefined }
      ),
      prmAt: fc.subarray([prmPath, "/.well-known/oauth-protected-resource"]),
      prm: answer(prm),
      asAt: asPaths,
      as: fc.array(answer(asMetadata), { minLength: 5, maxLength: 5 })
    })
    .map(({ challenge, prmAt, prm: prmAnswer, asAt, as }) => ({
      challenge,
      answers: Object.fromEntries([
        ...prmAt.map((path) => [path, prmAnswer] as const),
        ...asAt.map((path, i) => [path, as[i % as.length] ?? prmAnswer] as const)
      ])
    }))
}

const usableEndpoint = (value: unknown): boolean => {
  if (value === undefined || value === null) return true
  if (typeof value !== "string") return false
  const parsed = URL.parse(value)
  return (
    parsed !== null &&
    (parsed.protocol === "https:" || (parsed.protocol === "http:" && parsed.hostname === "127.0.0.1"))
  )
}

describe("fuzzing discovery documents", () => {
  it.live(
    "any metadata, status or challenge: a result or an OAuthError, never a defect; accepted endpoints are usable",
    () =>
      Effect.gen(function* () {
        const site = yield* startSite
        let accepted = 0
        let fromMetadata = 0
        let refused = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(siteFor(site.origin), fc.boolean(), async (generated, probe) => {
              site.state.site = generated
              const discovery = Discovery.of(Effect.runSync(makeDiscovery))
              const server = serverConfig("fuzz", `${site.origin}/mcp`)
              const exit = await Effect.runPromiseExit(
                discovery
                  .discover(server, { probe })
                  .pipe(
                    Effect.timeout("5 seconds"),
                    Effect.provideService(References.MinimumLogLevel, "None")
                  )
              )
              if (Exit.isSuccess(exit)) {
                accepted++
                if (exit.value.authorizationServer.source === "metadata") fromMetadata++
                const info = exit.value.authorizationServer
                assert.isTrue(URL.canParse(info.issuer), `issuer ${info.issuer}`)
                for (const endpoint of [
                  info.metadata.authorization_endpoint,
                  info.metadata.token_endpoint,
                  info.metadata.registration_endpoint,
                  info.metadata.revocation_endpoint,
                  info.metadata.device_authorization_endpoint
                ]) {
                  assert.isTrue(usableEndpoint(endpoint), `endpoint ${String(endpoint)}`)
                }
                return
              }
              refused++
              assert.isFalse(Cause.hasDies(exit.cause), `a defect: ${Cause.pretty(exit.cause)}`)
              const error = Cause.findErrorOption(exit.cause)
              assert.isTrue(error._tag === "Some", Cause.pretty(exit.cause))
              if (error._tag === "Some") {
                assert.strictEqual(error.value._tag, "OAuthError", Cause.pretty(exit.cause))
                assert.isAbove(error.value.message.length, 0)
              }
            }),
            params(250)
          )
        )
        // Both outcomes were reached: the generator exercises the checks, not just the parser.
        assert.isAbove(accepted, 0)
        assert.isAbove(fromMetadata, 0, "some documents were accepted as authorization server metadata")
        assert.isAbove(refused, 0)
      }).pipe(Effect.scoped),
    timeout
  )
})
