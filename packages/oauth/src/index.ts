/**
 * `@mcpgate/oauth`: OAuth 2.1 for MCP servers (MCP authorization 2025-11-25,
 * plus the 2026-07-28 rules). Others use `OAuthManager`; the parts are
 * exported for tools that need one step on its own (e.g. a conformance client).
 */
export * as AuthorizationFlow from "./AuthorizationFlow.ts"
export * as Browser from "./Browser.ts"
export * as Discovery from "./Discovery.ts"
export * as Errors from "./Errors.ts"
export { NeedsLogin, NeedsScope, OAuthError } from "./Errors.ts"
export * as OAuthManager from "./OAuthManager.ts"
export * as PendingLogins from "./PendingLogins.ts"
export * as Registration from "./Registration.ts"
export * as ResourceServer from "./ResourceServer.ts"
export * as WwwAuthenticate from "./WwwAuthenticate.ts"
