/**
 * Tokens and keys as the gateway compares them: SHA-256 digests compared in
 * constant time, so neither length nor content leaks through timing; the
 * plain values are never kept.
 */
import { createHash, timingSafeEqual } from "node:crypto"
import type { HttpServerRequest } from "effect/http"

export type Digest = Buffer

export const digest = (value: string): Digest => createHash("sha256").update(value, "utf8").digest()

/** Constant-time: both sides are hashed to 32 bytes. */
export const matches = (candidate: Digest, secret: Digest): boolean => timingSafeEqual(candidate, secret)

/** Compares against every key, without stopping at the first match. */
export const matchesAny = (candidate: Digest, secrets: ReadonlyArray<Digest>): boolean => {
  let found = false
  for (const secret of secrets) found = matches(candidate, secret) || found
  return found
}

/** The token of `Authorization: Bearer <token>` (RFC 6750 §2.1); `null` for another scheme. */
export const bearerToken = (request: HttpServerRequest.HttpServerRequest): string | null | undefined => {
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const match = /^Bearer +([^\s]+) *$/i.exec(header)
  return match?.[1] ?? null
}
