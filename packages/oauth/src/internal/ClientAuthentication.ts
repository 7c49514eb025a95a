/**
 * Client authentication at the token endpoint (RFC 6749 §2.3,
 * docs/oauth.md#registration): `none`, `client_secret_basic`,
 * `client_secret_post`, or `private_key_jwt` (RFC 7523 §2.2) with
 * `auth.privateKey`, imported once per process (a `Cache`).
 */
import * as fs from "node:fs/promises"
import type { ServerConfig } from "@mcpgate/core/Config"
import type { ClientRegistration } from "@mcpgate/core/Credential"
import { Cache, Duration, Effect, Equal, Exit, Hash, Redacted } from "effect"
import * as jose from "jose"
import * as oauth from "oauth4webapi"
import { OAuthError } from "../Errors.ts"
import { authOf } from "./ServerAuth.ts"

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-urlencoded, then
 * Base64. oauth4webapi also percent-encodes characters such as `-`, which is
 * legal but trips servers that compare the decoded header byte for byte; the
 * WHATWG form encoding leaves them alone.
 */
export const clientSecretBasic =
  (secret: string): oauth.ClientAuth =>
  (_as, client, _body, headers) => {
    const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
    const credentials = Buffer.from(`${encode(client.client_id)}:${encode(secret)}`).toString("base64")
    headers.set("authorization", `Basic ${credentials}`)
  }

/**
 * `private_key_jwt` (RFC 7523 §2.2): iss = sub = client_id, and aud = both the
 * issuer and the token endpoint. RFC 7523 §3 names the token endpoint (Entra
 * ID and Okta require it), newer guidance and the MCP conformance suite the
 * issuer; a JWT audience may be a list, and servers accept any member.
 */
const privateKeyJwt =
  (key: oauth.CryptoKey): oauth.ClientAuth =>
  (as, client, body, headers) =>
    oauth.PrivateKeyJwt(key, {
      [oauth.modifyAssertion]: (_header, payload) => {
        const tokenEndpoint = as.token_endpoint
        payload.aud =
          tokenEndpoint === undefined || tokenEndpoint === as.issuer ? as.issuer : [as.issuer, tokenEndpoint]
      }
    })(as, client, body, headers)

/**
 * `privateKey` is PEM text, or the path of a PEM file. The value is never put
 * in an error: a key pasted without its PEM armour would be echoed.
 */
const readPrivateKey = (server: ServerConfig, value: string): Effect.Effect<string, OAuthError> =>
  value.includes("-----BEGIN")
    ? Effect.succeed(value)
    : Effect.tryPromise({
        try: () => fs.readFile(value, "utf8"),
        catch: (error) => {
          const code =
            typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
          return OAuthError.of(
            server.name,
            "configuration",
            `auth.privateKey is neither PEM text (-----BEGIN PRIVATE KEY-----) nor the path of a readable file${/^E[A-Z]+$/.test(code) ? ` (${code})` : ""}`
          )
        }
      })

/** A private key to import: equal for the same server, algorithm and `auth.privateKey`. */
export class PrivateKeyRequest implements Equal.Equal {
  readonly server: ServerConfig
  readonly algorithm: string
  readonly privateKey: string
  constructor(server: ServerConfig, algorithm: string, privateKey: string) {
    this.server = server
    this.algorithm = algorithm
    this.privateKey = privateKey
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return (
      that instanceof PrivateKeyRequest &&
      that.server.name === this.server.name &&
      that.algorithm === this.algorithm &&
      that.privateKey === this.privateKey
    )
  }
  [Hash.symbol](): number {
    return Hash.string(`${this.server.name}|${this.algorithm}|${this.privateKey}`)
  }
}

/** Imported `private_key_jwt` keys (`makePrivateKeys`). */
export type PrivateKeys = Cache.Cache<PrivateKeyRequest, oauth.CryptoKey, OAuthError>

/**
 * Reads and imports `auth.privateKey` (PKCS#8 PEM) for `auth.signingAlgorithm`.
 * Fails with reason "configuration", without quoting the key.
 */
const importPrivateKey = (request: PrivateKeyRequest): Effect.Effect<oauth.CryptoKey, OAuthError> =>
  Effect.gen(function* () {
    const { server, algorithm } = request
    const pem = yield* readPrivateKey(server, request.privateKey)
    return yield* Effect.tryPromise({
      try: () => jose.importPKCS8(pem, algorithm),
      catch: () =>
        OAuthError.of(
          server.name,
          "configuration",
          `auth.privateKey is not a PKCS#8 PEM private key usable with ${algorithm} (auth.signingAlgorithm)`
        )
    })
  })

/** Imported keys; a key that fails to import is tried again next time (the file may be fixed). */
export const makePrivateKeys: Effect.Effect<PrivateKeys> = Cache.makeWith(importPrivateKey, {
  capacity: 64,
  timeToLive: (exit) => (Exit.isSuccess(exit) ? Duration.infinity : Duration.zero)
})

/**
 * The oauth4webapi client and its authentication for `registration`. A
 * pre-registered client's secret is the config's (it may have been rotated
 * since the credential stored a copy); a dynamic client's is the one it was
 * registered with. Fails with reason "configuration" for a method without
 * its secret or key, or one mcpgate does not support.
 */
export const session = Effect.fn("Registration.session")(function* (
  keys: PrivateKeys,
  server: ServerConfig,
  registration: ClientRegistration
) {
  const auth = authOf(server)
  const client: oauth.Client = { client_id: registration.clientId }
  const method =
    registration.tokenEndpointAuthMethod ??
    (registration.clientSecret === undefined ? "none" : "client_secret_basic")
  // A pre-registered client's secret is the config's (it may have been rotated since
  // the credential stored a copy); a dynamic client's is the one it was registered with.
  const configured =
    registration.method === "pre-registered" && auth.clientId === registration.clientId
      ? auth.clientSecret
      : undefined
  const secret = configured ?? registration.clientSecret
  switch (method) {
    case "none":
      return { client, auth: oauth.None() }
    case "client_secret_basic":
    case "client_secret_post": {
      if (secret === undefined) {
        return yield* OAuthError.of(
          server.name,
          "configuration",
          `the client ${registration.clientId} authenticates with ${method} but has no secret; set auth.clientSecret`
        )
      }
      return {
        client,
        auth:
          method === "client_secret_basic"
            ? clientSecretBasic(Redacted.value(secret))
            : oauth.ClientSecretPost(Redacted.value(secret))
      }
    }
    case "private_key_jwt": {
      if (auth.privateKey === undefined) {
        return yield* OAuthError.of(
          server.name,
          "configuration",
          `the client ${registration.clientId} authenticates with private_key_jwt but auth.privateKey is not set`
        )
      }
      const key = yield* Cache.get(
        keys,
        new PrivateKeyRequest(server, auth.signingAlgorithm, Redacted.value(auth.privateKey))
      )
      return { client, auth: privateKeyJwt(key) }
    }
    default:
      return yield* OAuthError.of(
        server.name,
        "configuration",
        `the token endpoint authentication method ${method} is not supported (use none, client_secret_basic, client_secret_post or private_key_jwt)`
      )
  }
})
