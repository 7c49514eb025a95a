/**
 * Short-lived documents found again by id, as a shared store keeps them
 * (docs/store.md#schema): pending logins, UI sessions, `/mcp` session records,
 * stored responses. The store seals each document; the services that use one
 * take the operations they need (`Pick<RecordStorage, "put" | "take">`, …), so a
 * memory implementation and the Postgres one (`@mcpgate/store/StoreRecords`)
 * stand behind the same shape.
 */
import type { Effect, Option } from "effect"

/** What a storage failure says (the store's error, a database out of reach). */
export interface RecordStorageError {
  readonly message: string
}

export interface RecordStorage {
  /** Keeps `document` under `id` until `expiresAt` (epoch ms); replaces one with the same id. */
  readonly put: (id: string, document: string, expiresAt: number) => Effect.Effect<void, RecordStorageError>
  /** Removes and returns the document; none when unknown or expired (so two readers never both get it). */
  readonly take: (id: string) => Effect.Effect<Option.Option<string>, RecordStorageError>
  /** The document, left in place; none when unknown or expired. */
  readonly get: (id: string) => Effect.Effect<Option.Option<string>, RecordStorageError>
  /** Forgets `id` (nothing when it is unknown). */
  readonly remove: (id: string) => Effect.Effect<void, RecordStorageError>
  /** Moves a live record's expiry; false when it is unknown or already expired. */
  readonly refresh: (id: string, expiresAt: number) => Effect.Effect<boolean, RecordStorageError>
}
