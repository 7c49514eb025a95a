/**
 * Secrets at rest in a shared store (docs/store.md#encryption): AES-256-GCM
 * (NIST SP 800-38D) under the keys of `MCPGATE_ENCRYPTION_KEY`, one or more
 * base64 32-byte keys separated by commas. The first key encrypts; every key
 * decrypts, so a new key is put first and the old ones stay until
 * `mcpgate store rotate-key` has re-encrypted everything.
 *
 * A sealed value is one line of text, `mge1.<key id>.<nonce>.<ciphertext+tag>`
 * (base64url parts): the key id (the first 8 bytes of SHA-256 of the key, in
 * hex) says which key opens it without revealing the key. Each value is bound
 * to where it is stored by its associated data (e.g. the credential's key),
 * so a ciphertext moved to another row does not open.
 */
import { Config, Effect, Option, Redacted, Schema } from "effect"
import { nodeCrypto } from "./internal/NodeCrypto.ts"

export const encryptionKeyVariable = "MCPGATE_ENCRYPTION_KEY"

/** Why sealing or opening failed. Messages name key ids, never a key or a plaintext. */
export class EncryptionError extends Schema.TaggedError<EncryptionError>()("EncryptionError", {
  reason: Schema.Literals([
    /** `MCPGATE_ENCRYPTION_KEY` is not set. */
    "missing-key",
    /** A key is not base64 of 32 bytes. */
    "invalid-key",
    /** The value was sealed with a key that is not among ours. */
    "unknown-key",
    /** The value is damaged, or bound to other associated data. */
    "corrupt"
  ]),
  message: Schema.String
}) {}

/** One AES-256 key with its id. */
export interface EncryptionKey {
  readonly id: string
  readonly key: Redacted.Redacted<Uint8Array>
}

/** The keys, the first of which encrypts. */
export interface Keyring {
  readonly current: EncryptionKey
  readonly all: ReadonlyArray<EncryptionKey>
}

const prefix = "mge1"

/** `hex(SHA-256(key))[0..16]`. */
export const keyId = (key: Uint8Array): string =>
  nodeCrypto().createHash("sha256").update(key).digest("hex").slice(0, 16)

/**
 * Parses `MCPGATE_ENCRYPTION_KEY`'s value: base64 (standard or url-safe) keys
 * of exactly 32 bytes, comma-separated, blanks ignored; at least one.
 */
export const parseKeys = (text: string): Effect.Effect<Keyring, EncryptionError> =>
  Effect.gen(function* () {
    const parts = text
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "")
    if (parts.length === 0) {
      return yield* new EncryptionError({
        reason: "missing-key",
        message: `${encryptionKeyVariable} holds no key (one or more base64 32-byte keys, comma-separated)`
      })
    }
    const keys: Array<EncryptionKey> = []
    for (const [index, part] of parts.entries()) {
      const bytes = /^[A-Za-z0-9+/_-]+={0,2}$/.test(part) ? Buffer.from(part, "base64") : Buffer.alloc(0)
      if (bytes.length !== 32) {
        return yield* new EncryptionError({
          reason: "invalid-key",
          message: `${encryptionKeyVariable}: key ${index + 1} is not a base64 32-byte key (make one with \`openssl rand -base64 32\`)`
        })
      }
      const key = new Uint8Array(bytes)
      keys.push({ id: keyId(key), key: Redacted.make(key) })
    }
    return { current: keys[0] as EncryptionKey, all: keys }
  })

/** The keyring from `MCPGATE_ENCRYPTION_KEY` (read through `Config`); "missing-key" when it is not set. */
export const keyringFromConfig: Effect.Effect<Keyring, EncryptionError> = Effect.gen(function* () {
  const value = yield* Config.option(Config.Redacted(encryptionKeyVariable)).pipe(
    Effect.orElseSucceed(() => Option.none())
  )
  if (Option.isNone(value) || Redacted.value(value.value).trim() === "") {
    return yield* new EncryptionError({
      reason: "missing-key",
      message: `${encryptionKeyVariable} is not set: a shared store keeps secrets encrypted and needs a key (make one with \`openssl rand -base64 32\`)`
    })
  }
  return yield* parseKeys(Redacted.value(value.value))
})

/** A new random key, base64 (what `openssl rand -base64 32` prints). */
export const generateKey = (): string => nodeCrypto().randomBytes(32).toString("base64")

/** Seals `plaintext` with the current key, bound to `associatedData`. */
export const seal = (keyring: Keyring, plaintext: string, associatedData: string): string => {
  const nonce = nodeCrypto().randomBytes(12)
  const cipher = nodeCrypto().createCipheriv("aes-256-gcm", Redacted.value(keyring.current.key), nonce)
  cipher.setAAD(Buffer.from(associatedData, "utf8"))
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
  return [prefix, keyring.current.id, nonce.toString("base64url"), body.toString("base64url")].join(".")
}

/** The id of the key that sealed `sealed`, or undefined when it is not a sealed value. */
export const sealedKeyId = (sealed: string): string | undefined => {
  const parts = sealed.split(".")
  return parts.length === 4 && parts[0] === prefix ? parts[1] : undefined
}

/** Opens a value `seal` made with any of the keyring's keys and the same associated data. */
export const open = (
  keyring: Keyring,
  sealed: string,
  associatedData: string
): Effect.Effect<string, EncryptionError> =>
  Effect.suspend(() => {
    const parts = sealed.split(".")
    if (parts.length !== 4 || parts[0] !== prefix) {
      return Effect.fail(
        new EncryptionError({ reason: "corrupt", message: "the stored value is not sealed" })
      )
    }
    const [, id, nonceText, bodyText] = parts as [string, string, string, string]
    const key = keyring.all.find((candidate) => candidate.id === id)
    if (key === undefined) {
      return Effect.fail(
        new EncryptionError({
          reason: "unknown-key",
          message: `the stored value was encrypted with key ${id}, which is not in ${encryptionKeyVariable} (keys there: ${keyring.all.map((k) => k.id).join(", ")}); add that key after the current one`
        })
      )
    }
    const nonce = Buffer.from(nonceText, "base64url")
    const body = Buffer.from(bodyText, "base64url")
    if (nonce.length !== 12 || body.length < 16) {
      return Effect.fail(new EncryptionError({ reason: "corrupt", message: "the stored value is damaged" }))
    }
    return Effect.try({
      try: () => {
        const decipher = nodeCrypto().createDecipheriv("aes-256-gcm", Redacted.value(key.key), nonce)
        decipher.setAAD(Buffer.from(associatedData, "utf8"))
        decipher.setAuthTag(body.subarray(body.length - 16))
        return Buffer.concat([
          decipher.update(body.subarray(0, body.length - 16)),
          decipher.final()
        ]).toString("utf8")
      },
      // GCM's "unable to authenticate data" quotes nothing, but say it in our words.
      catch: () =>
        new EncryptionError({
          reason: "corrupt",
          message: `the stored value does not open with key ${id}: it is damaged or belongs to another record`
        })
    })
  })
