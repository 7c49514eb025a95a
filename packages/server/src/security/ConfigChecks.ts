/**
 * The configurations the gateway refuses to run with (docs/gateway.md#security-rules):
 * no API keys where the network can reach `/v1/*` and `/mcp`, an API key
 * that is also the admin token, and a metrics token that is also either. Checked before binding, at start and on every
 * save or reload of the config.
 */
import { isLoopbackHost } from "@mcpgate/core/Address"
import type { McpgateConfig } from "@mcpgate/core/Config"
import { Effect, Redacted, Schema } from "effect"
import { exposedPublicHost } from "./Addresses.ts"

/** Listening on a non-loopback address without API keys would open `/v1/*` and `/mcp` to the network. */
export class InsecureBind extends Schema.TaggedError<InsecureBind>()("InsecureBind", {
  host: Schema.String,
  message: Schema.String
}) {}

/** A configuration the security layer refuses (an API key that is also the admin token, …). */
export class SecurityConfigError extends Schema.TaggedError<SecurityConfigError>()("SecurityConfigError", {
  /** The JSON path of the offending setting, e.g. `server.apiKeys`. */
  path: Schema.String,
  message: Schema.String
}) {}

/** The configured keys, without blank ones (which would match an empty bearer). */
export const apiKeysOf = (config: McpgateConfig): ReadonlyArray<Redacted.Redacted<string>> =>
  (config.server.apiKeys ?? []).filter((key) => Redacted.value(key).trim() !== "")

/** Every key of `server.users`, each with its user. */
const userKeysOf = (config: McpgateConfig) =>
  Object.entries(config.server.users ?? {}).flatMap(([user, settings]) =>
    settings.apiKeys.filter((key) => Redacted.value(key).trim() !== "").map((key) => ({ user, key }))
  )

/** Whether `/v1/*` and `/mcp` need a credential: API keys, users' keys, or `server.auth`. */
export const apiSecured = (config: McpgateConfig): boolean =>
  apiKeysOf(config).length > 0 || userKeysOf(config).length > 0 || config.server.auth !== undefined

/** A key listed twice (two users, or a user and `server.apiKeys`) would name two principals. */
export const duplicateKey = (config: McpgateConfig): SecurityConfigError | undefined => {
  const owners = new Map<string, string>()
  for (const key of apiKeysOf(config)) owners.set(Redacted.value(key), "server.apiKeys")
  for (const { user, key } of userKeysOf(config)) {
    const owner = owners.get(Redacted.value(key))
    const path = `server.users.${user}.apiKeys`
    if (owner !== undefined && owner !== path) {
      return new SecurityConfigError({
        path,
        message: `a key of "${path}" is also listed in "${owner}": one key names one principal; give each its own`
      })
    }
    owners.set(Redacted.value(key), path)
  }
  return undefined
}

const setKeysHint = `Set "server.apiKeys" (e.g. "apiKeys": ["\${env:MCPGATE_API_KEY}"]) in the config`

/**
 * Refuses to run without API keys where the network can reach the gateway:
 * listening on a non-loopback address, or a non-loopback `server.publicUrl`, which
 * means a reverse proxy in front, where every request arrives from 127.0.0.1 with
 * whatever `Host` the proxy sends. `/v1/*` (with the fetch tool, an SSRF relay) and
 * `/mcp` would be open. The CLI calls it before binding; `Security.layer` checks it too.
 */
export const checkBind = (
  config: McpgateConfig,
  host: string = config.server.host
): Effect.Effect<void, InsecureBind> => {
  if (apiSecured(config)) return Effect.void
  if (!isLoopbackHost(host)) {
    return Effect.fail(
      new InsecureBind({
        host,
        message: `refusing to listen on ${host}: it is not a loopback address and "server.apiKeys" is not set, so /v1/* and /mcp would be open to anyone who can reach this port. ${setKeysHint}, or listen on 127.0.0.1 (--host 127.0.0.1)`
      })
    )
  }
  const exposed = exposedPublicHost(config)
  if (exposed !== undefined) {
    return Effect.fail(
      new InsecureBind({
        host,
        message: `refusing to start: "server.publicUrl" says the gateway is reached at ${exposed}, and "server.apiKeys" is not set. Behind a reverse proxy every request looks local, so /v1/* and /mcp would be open to anyone who can reach ${exposed}. ${setKeysHint}, or remove "server.publicUrl"`
      })
    )
  }
  return Effect.void
}

/**
 * A configuration where an API key is also the admin token: whoever holds
 * the key (every client of `/v1`) could then administer the gateway.
 */
export const tokenClash = (
  config: McpgateConfig,
  adminToken: Redacted.Redacted<string> | undefined
): SecurityConfigError | undefined => {
  const keys = new Set(
    [...apiKeysOf(config), ...userKeysOf(config).map(({ key }) => key)].map(Redacted.value)
  )
  const configured =
    config.server.adminToken === undefined ? undefined : Redacted.value(config.server.adminToken).trim()
  if (configured !== undefined && configured !== "" && keys.has(configured)) {
    return new SecurityConfigError({
      path: "server.apiKeys",
      message:
        '"server.adminToken" is also listed in "server.apiKeys": an API key must never open the admin API; give the admin token its own value'
    })
  }
  if (adminToken !== undefined && keys.has(Redacted.value(adminToken))) {
    return new SecurityConfigError({
      path: "server.apiKeys",
      message:
        'one of "server.apiKeys" is the admin token (MCPGATE_ADMIN_TOKEN or the generated one): an API key must never open the admin API; use another key'
    })
  }
  return metricsTokenClash(config, keys, adminToken)
}

/**
 * `server.metricsToken` opens `/metrics` and nothing else: the same value as a
 * key or the admin token would open more for whoever scrapes (docs/observability.md#metrics).
 */
const metricsTokenClash = (
  config: McpgateConfig,
  keys: ReadonlySet<string>,
  adminToken: Redacted.Redacted<string> | undefined
): SecurityConfigError | undefined => {
  const metrics = config.server.metricsToken === undefined ? "" : Redacted.value(config.server.metricsToken)
  if (metrics.trim() === "") return undefined
  const admin = [config.server.adminToken, adminToken].some(
    (token) => token !== undefined && Redacted.value(token) === metrics
  )
  if (!admin && !keys.has(metrics)) return undefined
  return new SecurityConfigError({
    path: "server.metricsToken",
    message: `"server.metricsToken" is also ${admin ? "the admin token" : 'an API key ("server.apiKeys" or a user\'s "apiKeys")'}: the metrics token must open /metrics and nothing else; give it its own value`
  })
}

/**
 * What a running gateway listening on `host` refuses to apply: a clash with its
 * admin token, keys emptied off loopback, or a non-loopback `publicUrl` without
 * keys (saved now, it would refuse the next start).
 */
export const checkReload = (
  next: McpgateConfig,
  host: string,
  adminToken: Redacted.Redacted<string>
): Effect.Effect<void, SecurityConfigError> => {
  const clash = tokenClash(next, adminToken) ?? duplicateKey(next)
  if (clash !== undefined) return Effect.fail(clash)
  if (apiSecured(next)) return Effect.void
  if (!isLoopbackHost(host)) {
    return Effect.fail(
      new SecurityConfigError({
        path: "server.apiKeys",
        message: `the gateway listens on ${host}, which is not a loopback address: "server.apiKeys" cannot be emptied while it runs there`
      })
    )
  }
  const exposed = exposedPublicHost(next)
  if (exposed !== undefined) {
    return Effect.fail(
      new SecurityConfigError({
        path: "server.publicUrl",
        message: `"server.publicUrl" (${exposed}) is not a loopback address, so the gateway is reached through a proxy and needs "server.apiKeys"; set them in the same save`
      })
    )
  }
  return Effect.void
}
