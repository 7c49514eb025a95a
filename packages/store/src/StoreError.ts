/**
 * The errors of `@mcpgate/store`. Messages name the database by host, port and
 * name only (never the password of its URL) and never quote a stored value.
 */
import { Schema } from "effect"
import type { SqlError } from "effect/sql/SqlError"

export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  reason: Schema.Literals([
    /** The database cannot be reached now (down, restarting, refusing connections); a retry may work. */
    "unavailable",
    /** The database holds a schema newer than this mcpgate knows; it is left untouched. */
    "schema-newer",
    /** `MCPGATE_ENCRYPTION_KEY` is missing or wrong, or a stored value was sealed with a key we lack. */
    "encryption",
    /** A stored value is damaged (does not decrypt, or does not decode). */
    "corrupt",
    /** A lock was not obtained within the lock timeout. */
    "locked",
    /** The database refused a statement for another reason. */
    "database"
  ]),
  message: Schema.String
}) {
  /** True when a later attempt may work (the gateway answers 503 for these). */
  get retryable(): boolean {
    return this.reason === "unavailable" || this.reason === "locked"
  }
}

/** A database's name for messages: `host:port/database`, without user or password. */
export const describeDatabase = (url: string): string => {
  if (!URL.canParse(url)) return "the database"
  const parsed = new URL(url)
  return `${parsed.hostname}:${parsed.port === "" ? "5432" : parsed.port}${parsed.pathname}`
}

// SQLSTATE classes of an unreachable or stopping server: 08 (connection
// exception), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now),
// 53300 (too many connections).
const unavailableStates = /^(08|57P0[1-3]|53300)/

const sqlState = (cause: unknown): string | undefined => {
  if (typeof cause !== "object" || cause === null || !("code" in cause)) return undefined
  return typeof cause.code === "string" ? cause.code : undefined
}

/** Whether a SQL failure means the database is out of reach (not that the statement was wrong). */
export const isUnavailable = (error: SqlError): boolean => {
  const reason = error.reason
  if (reason._tag === "ConnectionError") return true
  const state = sqlState(reason.cause)
  return state !== undefined && unavailableStates.test(state)
}

/**
 * A SQL failure as a `StoreError`: "unavailable" when the server is out of
 * reach, "locked" on a lock timeout, else "database". `what` says what was
 * being done; the message drops anything that looks like a password.
 */
export const fromSqlError =
  (database: string, what: string) =>
  (error: SqlError): StoreError => {
    const detail = error.message.replace(/\/\/[^@/\s]*@/g, "//")
    if (isUnavailable(error)) {
      return new StoreError({
        reason: "unavailable",
        message: `the database ${database} is unavailable (${detail}); ${what} will work again once it is back`
      })
    }
    if (error.reason._tag === "LockTimeoutError") {
      return new StoreError({ reason: "locked", message: `${what}: timed out waiting for a lock` })
    }
    return new StoreError({ reason: "database", message: `${what} failed in ${database}: ${detail}` })
  }
