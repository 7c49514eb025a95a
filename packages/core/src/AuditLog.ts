/**
 * The audit log (docs/store.md#audit-log): who logged in to which server, who
 * logged out, which refreshes failed, who signed in to the admin UI from
 * where, which config paths changed. An event holds names, outcomes and paths,
 * never a value of the config or any secret.
 *
 * Locally it is a JSON-lines file in the state directory, rotated at a size
 * (one older file is kept); with a Postgres store it is a table
 * (`@mcpgate/store/PostgresAuditLog`), so every replica writes to one log.
 * Recording never fails the action it records: a log that cannot be written
 * is reported as a warning.
 */
import * as NodeFs from "node:fs/promises"
import * as NodePath from "node:path"
import { Clock, Context, Effect, Layer, Option, Ref, Schema, Semaphore } from "effect"
import {
  AuditEntry,
  type AuditEvent,
  type AuditPage,
  type AuditQuery,
  defaultLimit,
  pageOf
} from "./AuditEvent.ts"

export * from "./AuditEvent.ts"

export class AuditLogError extends Schema.TaggedError<AuditLogError>()("AuditLogError", {
  /** "unavailable" when the store is out of reach (the admin API answers 503). */
  reason: Schema.Literals(["unavailable", "failed"]),
  message: Schema.String
}) {}

export interface AuditLogShape {
  /** Appends an event; never fails (a failure is logged as a warning). */
  readonly record: (event: AuditEvent) => Effect.Effect<void>
  readonly list: (query: AuditQuery) => Effect.Effect<AuditPage, AuditLogError>
}

const warnUnwritten = (error: { readonly message: string }) =>
  Effect.logWarning(`the audit log could not be written: ${error.message}`)

/** Keeps entries in memory (tests, and a gateway without a state directory). */
export const makeMemory: Effect.Effect<AuditLogShape> = Effect.map(
  Ref.make<ReadonlyArray<AuditEntry>>([]),
  (entries) => ({
    record: (event) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Ref.update(entries, (all) => [...all, { ...event, id: all.length + 1, at }])
      ),
    list: (query) =>
      Effect.map(Ref.get(entries), (all) =>
        pageOf(
          all.filter((entry) => query.before === undefined || entry.id < query.before).toReversed(),
          query.limit ?? defaultLimit
        )
      )
  })
)

const EntryLine = Schema.fromJsonString(AuditEntry)
const encodeLine = Schema.encodeSync(EntryLine)
const decodeLine = Schema.decodeUnknownOption(EntryLine)

export interface FileOptions {
  /** The state directory; the log is `audit.jsonl` in it, the older one `audit.1.jsonl`. */
  readonly directory: string
  /** Rotate when the file would grow past this (default 4 MiB). */
  readonly maxBytes?: number | undefined
}

const readLines = (path: string) =>
  Effect.promise(() => NodeFs.readFile(path, "utf8").catch(() => "")).pipe(
    Effect.map((text) =>
      text.split("\n").flatMap((line) => Option.toArray(line === "" ? Option.none() : decodeLine(line)))
    )
  )

const failed = (what: string) => (cause: unknown) =>
  new AuditLogError({
    reason: "failed",
    message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`
  })

/** The JSON-lines log in the state directory: appended, rotated at `maxBytes`, two files at most. */
export const makeFile = (options: FileOptions): Effect.Effect<AuditLogShape> =>
  Effect.gen(function* () {
    const current = NodePath.join(options.directory, "audit.jsonl")
    const older = NodePath.join(options.directory, "audit.1.jsonl")
    const maxBytes = options.maxBytes ?? 4 * 1024 * 1024
    const lock = yield* Semaphore.make(1)
    const lastId = yield* Ref.make<number | undefined>(undefined)
    const all = Effect.map(
      Effect.all([readLines(older), readLines(current)]),
      ([old, recent]) => [...old, ...recent] as ReadonlyArray<AuditEntry>
    )
    const append = (event: AuditEvent) =>
      Effect.gen(function* () {
        const known = yield* Ref.get(lastId)
        const previous = known ?? (yield* Effect.map(all, (entries) => entries.at(-1)?.id ?? 0))
        const entry: AuditEntry = { ...event, id: previous + 1, at: yield* Clock.currentTimeMillis }
        const line = `${encodeLine(entry)}\n`
        yield* Effect.tryPromise({
          try: async () => {
            await NodeFs.mkdir(options.directory, { recursive: true, mode: 0o700 })
            const size = await NodeFs.stat(current).then(
              (stat) => stat.size,
              () => 0
            )
            if (size > 0 && size + Buffer.byteLength(line) > maxBytes) await NodeFs.rename(current, older)
            await NodeFs.appendFile(current, line, { mode: 0o600 })
          },
          catch: failed(`appending to ${current}`)
        })
        yield* Ref.set(lastId, entry.id)
      })
    return {
      record: (event) => lock.withPermits(1)(append(event)).pipe(Effect.catch(warnUnwritten)),
      list: (query) =>
        Effect.map(all, (entries) =>
          pageOf(
            entries.filter((entry) => query.before === undefined || entry.id < query.before).toReversed(),
            query.limit ?? defaultLimit
          )
        )
    } satisfies AuditLogShape
  })

export class AuditLog extends Context.Service<AuditLog, AuditLogShape>()("@mcpgate/core/AuditLog") {
  static readonly layerMemory: Layer.Layer<AuditLog> = Layer.effect(AuditLog, makeMemory)
  static readonly layerFile = (options: FileOptions): Layer.Layer<AuditLog> =>
    Layer.effect(AuditLog, makeFile(options))
}

/** Records through the `AuditLog` in context, if there is one. */
export const recordWith =
  (audit: Option.Option<AuditLogShape>) =>
  (event: AuditEvent): Effect.Effect<void> =>
    Option.isSome(audit) ? audit.value.record(event) : Effect.void
