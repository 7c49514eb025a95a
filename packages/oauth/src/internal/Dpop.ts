/**
 * DPoP (RFC 9449) keys and the proofs for requests to the MCP server. Token
 * requests get their proofs from oauth4webapi's handle; resource requests need
 * them per request (a fresh `jti`, the request's `htm`/`htu`, `ath` = the hash
 * of the access token, and the server's nonce when it gave one).
 *
 * A key is stored with the tokens it binds (`TokenSet.dpopKey`, a private JWK
 * with its `alg`), so every process that shares the credential can present
 * and refresh them: refresh tokens of public clients are bound too (RFC 9449
 * §5), and a refresh with another key is refused.
 */
import { createHash, randomUUID } from "node:crypto"
import { Effect, Equal, Hash, Redacted, Schema } from "effect"
import * as jose from "jose"
import * as oauth from "oauth4webapi"

/** A DPoP key pair (RFC 9449 §2) with what presenting and storing it needs. */
export interface DpopKey {
  readonly alg: string
  readonly keyPair: oauth.CryptoKeyPair
  readonly publicJwk: jose.JWK
  /** The private key as a JWK with its `alg`: what is stored beside the tokens. */
  readonly privateJwk: Redacted.Redacted<Record<string, string>>
  /** oauth4webapi's handle (keeps the authorization server's nonce). */
  readonly handle: oauth.DPoPHandle
}

/** Algorithms we can sign with, in order of preference. */
const preferred = ["ES256", "EdDSA", "Ed25519", "ES384", "PS256", "RS256"] as const

/** The first algorithm of ours the server accepts; ES256 when it lists none. */
export const chooseAlgorithm = (supported: ReadonlyArray<string> | undefined): string => {
  if (supported === undefined || supported.length === 0) return "ES256"
  return preferred.find((alg) => supported.includes(alg)) ?? "ES256"
}

/** RFC 7638: the members that make a public key's thumbprint, by key type. */
const thumbprintMembers: Readonly<Record<string, ReadonlyArray<string>>> = {
  EC: ["crv", "kty", "x", "y"],
  RSA: ["e", "kty", "n"],
  OKP: ["crv", "kty", "x"]
}

const publicPart = (jwk: Readonly<Record<string, string>>): jose.JWK =>
  Object.fromEntries(
    (thumbprintMembers[jwk.kty ?? ""] ?? []).flatMap((member) => {
      const value = jwk[member]
      return value === undefined ? [] : [[member, value]]
    })
  )

/** RFC 7638 thumbprint (members in lexicographic order, SHA-256, base64url). */
export const thumbprint = (jwk: Readonly<Record<string, string>>): string =>
  createHash("sha256")
    .update(JSON.stringify(publicPart(jwk)))
    .digest("base64url")

const fromKeyPair = async (
  alg: string,
  keyPair: oauth.CryptoKeyPair,
  privateJwk: Record<string, string>
) => ({
  alg,
  keyPair,
  publicJwk: publicPart(privateJwk),
  privateJwk: Redacted.make(privateJwk),
  handle: oauth.DPoP({}, keyPair)
})

/** A new key pair for `supported` algorithms; its private half is extractable, to be stored. */
export const generate = (supported: ReadonlyArray<string> | undefined): Effect.Effect<DpopKey> =>
  Effect.promise(async () => {
    const alg = chooseAlgorithm(supported)
    const keyPair = await oauth.generateKeyPair(alg, { extractable: true })
    const exported = await jose.exportJWK(keyPair.privateKey)
    const privateJwk: Record<string, string> = { alg }
    for (const [member, value] of Object.entries(exported)) {
      if (typeof value === "string") privateJwk[member] = value
    }
    return fromKeyPair(alg, keyPair, privateJwk)
  })

/**
 * A stored key, as the key of a cache of imported keys: equal by thumbprint,
 * so each key is imported once per process and keeps its handle's nonces.
 */
export class StoredKey implements Equal.Equal {
  readonly thumbprint: string
  readonly jwk: Redacted.Redacted<Record<string, string>>
  constructor(jwk: Redacted.Redacted<Record<string, string>>) {
    this.jwk = jwk
    this.thumbprint = thumbprint(Redacted.value(jwk))
  }
  [Equal.symbol](that: Equal.Equal): boolean {
    return that instanceof StoredKey && that.thumbprint === this.thumbprint
  }
  [Hash.symbol](): number {
    return Hash.string(this.thumbprint)
  }
}

/** A stored DPoP key that does not import; the message never quotes it. */
export class StoredKeyError extends Schema.TaggedError<StoredKeyError>()("StoredKeyError", {
  message: Schema.String
}) {}

/** Imports a stored key; fails (without quoting it) when it is not a usable private JWK. */
export const fromStored = (stored: StoredKey): Effect.Effect<DpopKey, StoredKeyError> =>
  Effect.tryPromise({
    try: async () => {
      const jwk = Redacted.value(stored.jwk)
      const alg = jwk.alg ?? "ES256"
      const privateKey = await jose.importJWK({ ...jwk, ext: false }, alg)
      const publicKey = await jose.importJWK({ ...publicPart(jwk), ext: true }, alg)
      if (!(privateKey instanceof CryptoKey) || !(publicKey instanceof CryptoKey)) {
        throw new Error("not an asymmetric key")
      }
      return fromKeyPair(alg, { privateKey, publicKey }, jwk)
    },
    catch: () => new StoredKeyError({ message: "the stored DPoP key is not a usable private key" })
  })

/** RFC 9449 §4.2: `htu` is the target URI without query and fragment. */
export const htu = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}`
}

/** A proof for one request to the resource (RFC 9449 §4.2, §7.1). */
export const proof = (
  key: DpopKey,
  request: { readonly method: string; readonly url: string },
  accessToken: string,
  nowMillis: number,
  nonce: string | undefined
): Effect.Effect<string> =>
  Effect.promise(() =>
    new jose.SignJWT({
      htm: request.method.toUpperCase(),
      htu: htu(request.url),
      iat: Math.floor(nowMillis / 1000),
      jti: randomUUID(),
      ath: createHash("sha256").update(accessToken, "ascii").digest("base64url"),
      ...(nonce === undefined ? {} : { nonce })
    })
      .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk })
      .sign(key.keyPair.privateKey)
  )
