/**
 * `@mcpgate/store`: the shared store for several gateway replicas on
 * PostgreSQL (docs/store.md). Kept apart from `@mcpgate/core` so that the
 * local default carries no database driver.
 */
export * as Migrations from "./Migrations.ts"
export * as PostgresAuditLog from "./PostgresAuditLog.ts"
export * as PostgresConfigVersions from "./PostgresConfigVersions.ts"
export * as PostgresCredentialStore from "./PostgresCredentialStore.ts"
export * as StoreAdmin from "./StoreAdmin.ts"
export * as StoreDatabase from "./StoreDatabase.ts"
export * as StoreError from "./StoreError.ts"
export * as StoreRecords from "./StoreRecords.ts"
