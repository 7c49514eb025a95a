/**
 * DPoP (RFC 9449) keys and the proofs for requests to the MCP server. Token
 * requests get their proofs from oauth4webapi's handle; resource requests need
 * them per request (a fresh `jti`, the request's `htm`/`htu`, `ath` = the hash
 * of the access token, and the server's nonce when it gave one).
 *
 * Keys live in the memory of this process only (the private key is not
 * extractable). A DPoP-bound token found in the store after a restart is
 * therefore refreshed with a new key (RFC 9449 §5: refresh tokens of public
 * clients are bound too, in which case the user logs in again).
 */
import { createHash, randomUUID } from "node:crypto"
import { Effect } from "effect"
import * as jose from "jose"
import * as oauth from "oauth4webapi"

export interface DpopKey {
  readonly alg: string
  readonly keyPair: oauth.CryptoKeyPair
  readonly publicJwk: jose.JWK
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

export const generate = (supported: ReadonlyArray<string> | undefined): Effect.Effect<DpopKey> =>
  Effect.promise(async () => {
    const alg = chooseAlgorithm(supported)
    const keyPair = await oauth.generateKeyPair(alg)
    const { kty, crv, x, y, e, n } = await jose.exportJWK(keyPair.publicKey)
    const publicJwk: jose.JWK = Object.fromEntries(
      Object.entries({ kty, crv, x, y, e, n }).filter(([, value]) => value !== undefined)
    )
    return { alg, keyPair, publicJwk, handle: oauth.DPoP({}, keyPair) }
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
