/**
 * `@mcpgate/core`: the configuration model and file, stored credentials and
 * their stores, tool naming and the state directory. Each module is a
 * namespace here (`CredentialStore.CredentialStore` is the service,
 * `CredentialStore.layerMemory` a layer) and importable on its own
 * (`@mcpgate/core/CredentialStore`). See README.md.
 */
export * as Address from "./Address.ts"
export * as AtomicFile from "./AtomicFile.ts"
export * as Config from "./Config.ts"
export * as ConfigFile from "./ConfigFile.ts"
export * as Credential from "./Credential.ts"
export * as CredentialChanges from "./CredentialChanges.ts"
export * as CredentialStore from "./CredentialStore.ts"
export * as Encryption from "./Encryption.ts"
export * as McpEventStore from "./McpEventStore.ts"
export * as Metrics from "./Metrics.ts"
export * as Paths from "./Paths.ts"
export * as Principal from "./Principal.ts"
export * as RecordStorage from "./RecordStorage.ts"
export * as ToolNames from "./ToolNames.ts"
export * as TraceContext from "./TraceContext.ts"
