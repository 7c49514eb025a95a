/**
 * The SSRF guard of `builtin__fetch` (docs/connections.md#ssrf-rules): which
 * addresses a model may make the gateway connect to, and a DNS lookup pinned to
 * the addresses that were vetted.
 *
 * The rule is an allow-list: only addresses `Address.classify` calls public
 * (ordinary global unicast, judged by the IPv4 address inside for the IPv6 forms
 * that embed one) are reached.
 */
import { lookup } from "node:dns/promises"
import type { LookupFunction } from "node:net"
import { type AddressVerdict, classifyAddress } from "@mcpgate/core/Address"
import { Effect, Schema } from "effect"

export interface ResolvedAddress {
  readonly address: string
  readonly family: 4 | 6
}

/** A host name could not be resolved to any address. */
export class HostNotFound extends Schema.TaggedError<HostNotFound>()("HostNotFound", {
  host: Schema.String,
  message: Schema.String
}) {}

/** Resolves a host name (never an IP literal) to every address it has. */
export type Resolver = (hostname: string) => Effect.Effect<ReadonlyArray<ResolvedAddress>, HostNotFound>

/** The operating system's resolver (`getaddrinfo`, so `/etc/hosts` applies), every address. */
export const systemResolver: Resolver = (hostname) =>
  Effect.tryPromise({
    try: () => lookup(hostname, { all: true, order: "verbatim" }),
    catch: (cause) =>
      new HostNotFound({
        host: hostname,
        message: `could not resolve ${hostname}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  }).pipe(
    Effect.map((entries) =>
      entries.map(
        (entry): ResolvedAddress => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 })
      )
    )
  )

/** Why a URL may not be fetched. */
export class TargetRefused extends Schema.TaggedError<TargetRefused>()("TargetRefused", {
  url: Schema.String,
  message: Schema.String
}) {}

export interface GuardPolicy {
  readonly resolver: Resolver
  /** `builtins.fetch.allowPrivateNetwork`: every address is allowed. */
  readonly allowPrivateNetwork: boolean
  /**
   * TEST ONLY: exact addresses allowed although not public, so a test can use a
   * local server as the first hop while the guard stays on for every other address.
   * Never populated from the configuration.
   */
  readonly testOnlyTrustedAddresses: ReadonlySet<string>
}

const advice = "builtin fetch only reaches public addresses (builtins.fetch.allowPrivateNetwork lifts this)"

/**
 * Checks one hop: the scheme, then every address the host stands for. Returns the
 * vetted addresses, which the connection must use (see `pinnedLookup`), so the check
 * and the connection rest on the same resolution (no DNS rebinding in between).
 */
export const vetTarget = Effect.fn("Ssrf.vetTarget")(function* (url: URL, policy: GuardPolicy) {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return yield* new TargetRefused({
      url: url.href,
      message: `refused: only http and https URLs can be fetched, not ${url.protocol.slice(0, -1)}:`
    })
  }
  const host = url.hostname
  const literal = classifyAddress(host)
  const allowed = (verdict: AddressVerdict) =>
    policy.allowPrivateNetwork ||
    verdict.kind === "public" ||
    policy.testOnlyTrustedAddresses.has(verdict.address)

  if (literal !== undefined) {
    if (!allowed(literal)) {
      return yield* new TargetRefused({
        url: url.href,
        message: `refused: ${literal.address} is ${literal.description}; ${advice}`
      })
    }
    return [{ address: literal.address, family: literal.family }] as ReadonlyArray<ResolvedAddress>
  }

  const resolved = yield* policy.resolver(host)
  if (resolved.length === 0) {
    return yield* new HostNotFound({ host, message: `could not resolve ${host}: no addresses` })
  }
  const vetted: Array<ResolvedAddress> = []
  for (const entry of resolved) {
    const verdict = classifyAddress(entry.address)
    if (verdict === undefined) {
      return yield* new TargetRefused({
        url: url.href,
        message: `refused: ${host} resolved to ${JSON.stringify(entry.address)}, which is not an IP address`
      })
    }
    // Every address must pass: the connection may use any of them (RFC 8305 racing).
    if (!allowed(verdict)) {
      return yield* new TargetRefused({
        url: url.href,
        message: `refused: ${host} resolves to ${verdict.address}, ${verdict.description}; ${advice}`
      })
    }
    vetted.push({ address: verdict.address, family: verdict.family })
  }
  return vetted as ReadonlyArray<ResolvedAddress>
})

/**
 * A `lookup` for `http.request` that answers only with the vetted addresses, so the
 * socket connects where the guard looked, whatever DNS says a moment later.
 */
export const pinnedLookup =
  (addresses: ReadonlyArray<ResolvedAddress>): LookupFunction =>
  (hostname, options, callback) => {
    const family =
      options.family === 4 || options.family === "IPv4"
        ? 4
        : options.family === 6 || options.family === "IPv6"
          ? 6
          : 0
    const usable = family === 0 ? addresses : addresses.filter((entry) => entry.family === family)
    const first = usable[0]
    if (first === undefined) {
      const error: NodeJS.ErrnoException = new Error(`no vetted IPv${family} address for ${hostname}`)
      error.code = "ENOTFOUND"
      callback(error, "", 0)
      return
    }
    if (options.all === true)
      callback(
        null,
        usable.map((entry) => ({ address: entry.address, family: entry.family }))
      )
    else callback(null, first.address, first.family)
  }
