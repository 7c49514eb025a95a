/**
 * Keychain entries of any size. Windows Credential Manager holds at most 2,560
 * bytes per entry (CRED_MAX_CREDENTIAL_BLOB_SIZE, stored as UTF-16), less than
 * a credential with a JWT access token. A text that fits is one entry; a larger
 * one is split, on code point boundaries, into chunk entries
 * `<account>|chunk-<slot>-<n>` plus a head entry at the account:
 * `{"version":2,"chunks":{"slot":0,"count":3,"sha256":"…"}}`. Version 2 makes an
 * older mcpgate report "written by a newer mcpgate" and leave it alone.
 *
 * A write puts the new chunks in the slot the current head does not use, then
 * replaces the head (one atomic keychain write), then removes the other slot's
 * chunks (the highest first, so a slot never has a gap). Stopped anywhere, the
 * head names complete chunks of one version: the previous credential or the new
 * one, never a mix; the next write removes what was left. Writers of one account must be serialised by the caller; a reader
 * that meets a half-removed slot re-reads the head and tries again.
 */
import { Context, Data, type Duration, Effect, Option, Schema } from "effect"
import * as Keychain from "./Keychain.ts"
import { nodeCrypto } from "./NodeCrypto.ts"

/** Windows Credential Manager's limit; macOS Keychain and Secret Service hold far larger items. */
export const defaultMaxEntryBytes = (platform: NodeJS.Platform): number | undefined =>
  platform === "win32" ? 2560 : undefined

/** The bytes the platform stores for a text: UTF-16 on Windows, UTF-8 elsewhere. */
export const entryBytes = (text: string, platform: NodeJS.Platform): number =>
  platform === "win32" ? text.length * 2 : Buffer.byteLength(text, "utf8")

/** The smallest limit accepted: a head entry must fit with room to spare. */
export const minimumEntryBytes = 256

export interface Entries {
  readonly service: string
  readonly timeout: Duration.Input
  /** None: no limit, every text is one entry. */
  readonly maxEntryBytes: number | undefined
  readonly platform: NodeJS.Platform
}

/** A head whose chunks are missing or do not add up, and stay so when read again. */
export class ChunkError extends Data.TaggedError("ChunkError")<{
  readonly message: string
  /** The head, to move aside with its chunks. */
  readonly raw: string
}> {}

export type WriteStep = "head" | "cleanup"

/** Test hook: runs before each step of a split write (the crash tests stop a writer there). */
export const BeforeStep = Context.Reference<(step: WriteStep) => Effect.Effect<void>>(
  "@mcpgate/core/internal/KeychainEntries/BeforeStep",
  { defaultValue: () => () => Effect.void }
)

export const chunkAccount = (account: string, slot: number, index: number): string =>
  `${account}|chunk-${slot}-${index}`

const Head = Schema.Struct({
  version: Schema.Literal(2),
  chunks: Schema.Struct({
    slot: Schema.Literals([0, 1]),
    count: Schema.Int.check(Schema.isGreaterThan(0)),
    sha256: Schema.String
  })
})
type Head = typeof Head.Type

const headPrefix = '{"version":2,"chunks":'

const decodeHead = Schema.decodeUnknownOption(Schema.fromJsonString(Head))

const parseHead = (raw: string): Option.Option<Head> =>
  raw.startsWith(headPrefix) ? decodeHead(raw) : Option.none()

const sha256 = (text: string): string => nodeCrypto().createHash("sha256").update(text).digest("hex")

/** Splits on code point boundaries (a lone surrogate cannot be stored) into parts of at most `limit` bytes. */
const split = (text: string, limit: number, platform: NodeJS.Platform): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  let size = 0
  for (const char of text) {
    const bytes = entryBytes(char, platform)
    if (size + bytes > limit) {
      parts.push(current)
      current = ""
      size = 0
    }
    current += char
    size += bytes
  }
  if (current !== "") parts.push(current)
  return parts
}

const get = (entries: Entries, account: string) =>
  Keychain.getPassword(entries.service, account, entries.timeout)

const set = (entries: Entries, account: string, text: string) =>
  Keychain.setPassword(entries.service, account, text, entries.timeout)

const remove = (entries: Entries, account: string) =>
  Keychain.deletePassword(entries.service, account, entries.timeout)

/**
 * Deletes a slot's chunks from `from` to its end, the highest first: a slot's
 * chunks are then always numbered 0…n-1 without a gap, even after a stop part-way,
 * so its end is the first missing number. `count` is the end when already known.
 */
const sweep = (entries: Entries, account: string, slot: number, from: number, count = from) =>
  Effect.gen(function* () {
    let end = Math.max(from, count)
    while (Option.isSome(yield* get(entries, chunkAccount(account, slot, end)))) end++
    for (let index = end - 1; index >= from; index--)
      yield* remove(entries, chunkAccount(account, slot, index))
  })

/** The chunks a head names, joined, when all are there and add up. */
const assemble = (entries: Entries, account: string, head: Head) =>
  Effect.gen(function* () {
    let text = ""
    for (let index = 0; index < head.chunks.count; index++) {
      const chunk = yield* get(entries, chunkAccount(account, head.chunks.slot, index))
      if (Option.isNone(chunk)) return Option.none<string>()
      text += chunk.value
    }
    return sha256(text) === head.chunks.sha256 ? Option.some(text) : Option.none<string>()
  })

export interface Read {
  /** The stored text (joined when split). */
  readonly text: string
  /** What the entry at the account holds: the text itself, or the head. */
  readonly raw: string
}

/** The text stored at `account`, or none. */
export const read = (
  entries: Entries,
  account: string
): Effect.Effect<Option.Option<Read>, Keychain.KeychainError | ChunkError> =>
  Effect.gen(function* () {
    let raw = yield* get(entries, account)
    // A concurrent writer may be removing the chunks a head just read named: read again.
    for (let attempt = 0; ; attempt++) {
      if (Option.isNone(raw)) return Option.none()
      const head = parseHead(raw.value)
      if (Option.isNone(head)) return Option.some({ text: raw.value, raw: raw.value })
      const text = yield* assemble(entries, account, head.value)
      if (Option.isSome(text)) return Option.some({ text: text.value, raw: raw.value })
      const again = yield* get(entries, account)
      if (attempt >= 4 || Option.getOrUndefined(again) === raw.value) {
        return yield* new ChunkError({
          message: "names chunk entries that are missing or do not add up to what was written",
          raw: raw.value
        })
      }
      raw = again
    }
  })

/** Stores `text` at `account`, split when it is larger than the limit (see the module comment). */
export const write = (
  entries: Entries,
  account: string,
  text: string
): Effect.Effect<void, Keychain.KeychainError> =>
  Effect.gen(function* () {
    const previous = Option.flatMap(yield* get(entries, account), parseHead)
    const limit = entries.maxEntryBytes
    if (limit === undefined || entryBytes(text, entries.platform) <= limit) {
      yield* set(entries, account, text)
      if (Option.isSome(previous)) yield* sweepBoth(entries, account)
      return
    }
    const parts = split(text, limit, entries.platform)
    const slot = Option.match(previous, { onNone: () => 0, onSome: (head) => 1 - head.chunks.slot })
    for (const [index, part] of parts.entries()) yield* set(entries, chunkAccount(account, slot, index), part)
    const step = yield* BeforeStep
    yield* step("head")
    const head: Head = {
      version: 2,
      chunks: { slot: slot === 0 ? 0 : 1, count: parts.length, sha256: sha256(text) }
    }
    yield* set(entries, account, JSON.stringify(head))
    yield* step("cleanup")
    yield* sweep(
      entries,
      account,
      1 - slot,
      0,
      Option.match(previous, { onNone: () => 0, onSome: (head) => head.chunks.count })
    )
    // Left over from a longer write to this slot that was stopped before its head.
    yield* sweep(entries, account, slot, parts.length)
  })

const sweepBoth = (entries: Entries, account: string) =>
  Effect.andThen(sweep(entries, account, 0, 0), sweep(entries, account, 1, 0))

/** Removes the entry and its chunks; succeeds with whether the entry was there. */
export const erase = (entries: Entries, account: string): Effect.Effect<boolean, Keychain.KeychainError> =>
  Effect.gen(function* () {
    const existed = yield* remove(entries, account)
    // Also what a split write stopped before its head left.
    if (existed || entries.maxEntryBytes !== undefined) yield* sweepBoth(entries, account)
    return existed
  })

/**
 * Moves what is stored at `account` (its head and chunks, or the one entry) to
 * `target`, as it is: a corrupt entry is kept for inspection, never dropped.
 */
export const rename = (
  entries: Entries,
  account: string,
  raw: string,
  target: string
): Effect.Effect<void, Keychain.KeychainError> =>
  Effect.gen(function* () {
    const head = parseHead(raw)
    if (Option.isSome(head)) {
      const { slot, count } = head.value.chunks
      for (let index = 0; index < count; index++) {
        const chunk = yield* get(entries, chunkAccount(account, slot, index))
        if (Option.isSome(chunk)) yield* set(entries, chunkAccount(target, slot, index), chunk.value)
      }
    }
    yield* set(entries, target, raw)
    yield* erase(entries, account)
  })
