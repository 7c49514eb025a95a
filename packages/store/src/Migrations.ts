/**
 * The store's schema (docs/store.md#schema), as numbered migrations run by
 * effect's `Migrator` at start. Concurrent starts are safe: the run holds an
 * advisory lock (and the migrator locks its table inside its transaction), so
 * the second replica waits and then finds nothing to do. A database migrated
 * by a newer mcpgate (a migration id above ours) is refused, never touched.
 *
 * Secrets are only ever in `sealed` columns (AES-256-GCM, core's Encryption);
 * the clear columns hold names, URLs, versions and times.
 */
import { Effect } from "effect"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"

export const migrationsTable = "mcpgate_migrations"

/** The LISTEN/NOTIFY channel of credential changes; the payload is `{"principal", "key"}` JSON. */
export const changeChannel = "mcpgate_credentials"

const m0001 = Effect.gen(function* () {
  const sql = yield* SqlClient
  // One sequence orders every change, so a change notice's version can be
  // compared with what a replica has cached, also across delete and insert.
  yield* sql`CREATE SEQUENCE mcpgate_change_seq`
  // `principal` is '' for the gateway's own (shared) identity; per-user
  // credentials will use the user's id there.
  yield* sql`
    CREATE TABLE mcpgate_credentials (
      principal text NOT NULL DEFAULT '',
      key text NOT NULL,
      server text NOT NULL,
      url text NOT NULL,
      sealed text NOT NULL,
      key_id text NOT NULL,
      version bigint NOT NULL,
      updated_at bigint NOT NULL,
      PRIMARY KEY (principal, key)
    )`
  // Short-lived documents found again by id: pending web logins now; UI
  // sessions, /mcp session records and stored responses are further kinds.
  yield* sql`
    CREATE TABLE mcpgate_records (
      kind text NOT NULL,
      id text NOT NULL,
      principal text NOT NULL DEFAULT '',
      sealed text NOT NULL,
      key_id text NOT NULL,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (kind, id)
    )`
  yield* sql`CREATE INDEX mcpgate_records_expires_at ON mcpgate_records (expires_at)`
  // Every change of a credential, by whichever replica or command, tells every
  // listening replica which entry to drop from its cache (docs/store.md#cache).
  yield* sql.unsafe(`
    CREATE FUNCTION mcpgate_credentials_changed() RETURNS trigger AS $$
    DECLARE
      changed mcpgate_credentials;
    BEGIN
      IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
      PERFORM pg_notify('${changeChannel}', json_build_object('principal', changed.principal, 'key', changed.key)::text);
      RETURN NULL;
    END
    $$ LANGUAGE plpgsql`)
  yield* sql`
    CREATE TRIGGER mcpgate_credentials_changed
    AFTER INSERT OR UPDATE OR DELETE ON mcpgate_credentials
    FOR EACH ROW EXECUTE FUNCTION mcpgate_credentials_changed()`
})

/** The LISTEN/NOTIFY channel of new config versions; the payload is the version number. */
export const configChannel = "mcpgate_config"

const m0002 = Effect.gen(function* () {
  const sql = yield* SqlClient
  // Names, outcomes, addresses and config paths only: an event never holds a secret,
  // so the entry is clear JSON (docs/store.md#audit-log).
  yield* sql`
    CREATE TABLE mcpgate_audit (
      id bigserial PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT now(),
      kind text NOT NULL,
      entry jsonb NOT NULL
    )`
  yield* sql`CREATE INDEX mcpgate_audit_at ON mcpgate_audit (at)`
  // Each config saved through the admin API, newest = highest version. The text is
  // the file's (its ${env:…} references unresolved), sealed whole: it may hold literal secrets.
  yield* sql`
    CREATE TABLE mcpgate_config_versions (
      version bigserial PRIMARY KEY,
      sealed text NOT NULL,
      key_id text NOT NULL,
      actor text NOT NULL,
      paths jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql.unsafe(`
    CREATE FUNCTION mcpgate_config_saved() RETURNS trigger AS $$
    BEGIN
      PERFORM pg_notify('${configChannel}', NEW.version::text);
      RETURN NULL;
    END
    $$ LANGUAGE plpgsql`)
  yield* sql`
    CREATE TRIGGER mcpgate_config_saved
    AFTER INSERT ON mcpgate_config_versions
    FOR EACH ROW EXECUTE FUNCTION mcpgate_config_saved()`
})

const m0003 = Effect.gen(function* () {
  const sql = yield* SqlClient
  // The events of resumable /mcp streams (docs/store.md#mcp-sessions): one row per
  // message sent on an event stream, its id the event id a client resumes from.
  // Messages can hold tool results, so they are sealed too.
  yield* sql`
    CREATE TABLE mcpgate_mcp_events (
      id bigserial PRIMARY KEY,
      session text NOT NULL,
      stream text NOT NULL,
      sealed text NOT NULL,
      key_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX mcpgate_mcp_events_session ON mcpgate_mcp_events (session, stream, id)`
  yield* sql`CREATE INDEX mcpgate_mcp_events_created_at ON mcpgate_mcp_events (created_at)`
})

/** Every migration, by `<id>_<name>`; append only. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient>> = {
  "0001_credentials_and_records": m0001,
  "0002_audit_and_config": m0002,
  "0003_mcp_events": m0003
}

/** The newest schema this build knows. */
export const latestKnown = Math.max(...Object.keys(migrations).map((name) => Number(name.split("_")[0])))

export const loader = Migrator.fromRecord(migrations)

/** Runs the pending migrations; the ids and names it ran. */
export const run = Migrator.make({})({ loader, table: migrationsTable })
