/**
 * The SSRF guard of `builtin__fetch` (SPEC §4): which addresses a model may make the
 * gateway connect to, and a DNS lookup pinned to the addresses that were vetted.
 *
 * The rule is an allow-list: an address is public only when it is ordinary global
 * unicast. Everything in the IANA special-purpose registries (RFC 6890, RFC 8190)
 * is refused, and IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4,
 * Teredo) are judged by the IPv4 address inside them.
 */
import { lookup } from "node:dns/promises"
import type { LookupFunction } from "node:net"
import { Effect, Schema } from "effect"
import ipaddr from "ipaddr.js"

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

export type AddressKind =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "carrier-grade NAT"
  | "link-local"
  | "metadata"
  | "unique local"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "reserved"

export interface AddressVerdict {
  /** The canonical spelling (IPv6 compressed, no brackets): the one to connect to. */
  readonly address: string
  readonly family: 4 | 6
  readonly kind: AddressKind
  /** A phrase for messages: "a loopback address", "an IPv4-mapped address embedding 10.0.0.1, a private address". */
  readonly description: string
}

type Rule = readonly [cidr: string, kind: AddressKind, description: string]

// First match wins: specific entries (metadata, broadcast) come before their blocks.
const ipv4Rules: ReadonlyArray<Rule> = [
  ["0.0.0.0/32", "unspecified", "the unspecified address"],
  ["0.0.0.0/8", "reserved", "a 'this network' address (RFC 1122 §3.2.1.3)"],
  ["10.0.0.0/8", "private", "a private address (RFC 1918)"],
  ["100.100.100.200/32", "metadata", "a cloud metadata address (Alibaba Cloud)"],
  ["100.64.0.0/10", "carrier-grade NAT", "a carrier-grade NAT address (RFC 6598)"],
  ["127.0.0.0/8", "loopback", "a loopback address"],
  ["169.254.169.254/32", "metadata", "the cloud metadata address"],
  ["169.254.0.0/16", "link-local", "a link-local address (RFC 3927)"],
  ["168.63.129.16/32", "metadata", "a cloud platform address (Azure WireServer)"],
  ["172.16.0.0/12", "private", "a private address (RFC 1918)"],
  ["192.0.0.192/32", "metadata", "a cloud metadata address (Oracle Cloud)"],
  ["192.0.0.0/24", "reserved", "an IETF protocol assignment (RFC 6890)"],
  ["192.0.2.0/24", "documentation", "a documentation address (RFC 5737)"],
  ["192.88.99.0/24", "reserved", "a deprecated 6to4 relay address (RFC 7526)"],
  ["192.168.0.0/16", "private", "a private address (RFC 1918)"],
  ["198.18.0.0/15", "benchmarking", "a benchmarking address (RFC 2544)"],
  ["198.51.100.0/24", "documentation", "a documentation address (RFC 5737)"],
  ["203.0.113.0/24", "documentation", "a documentation address (RFC 5737)"],
  ["224.0.0.0/4", "multicast", "a multicast address"],
  ["255.255.255.255/32", "broadcast", "the broadcast address"],
  ["240.0.0.0/4", "reserved", "a reserved address (RFC 1112)"]
]

// Only 2000::/3 is global unicast (RFC 4291 §2.4); these are its special blocks.
const ipv6GlobalRules: ReadonlyArray<Rule> = [
  ["2001:db8::/32", "documentation", "a documentation address (RFC 3849)"],
  ["3fff::/20", "documentation", "a documentation address (RFC 9637)"],
  ["2001:2::/48", "benchmarking", "a benchmarking address (RFC 5180)"],
  ["2001:10::/28", "reserved", "an ORCHID address (RFC 4843)"],
  ["2001:20::/28", "reserved", "an ORCHIDv2 address (RFC 7343)"],
  ["5f00::/16", "reserved", "an SRv6 segment identifier (RFC 9602)"]
]

// Outside 2000::/3, after the embedded-IPv4 forms are handled.
const ipv6OtherRules: ReadonlyArray<Rule> = [
  ["::/128", "unspecified", "the unspecified address"],
  ["::1/128", "loopback", "a loopback address"],
  ["fd00:ec2::254/128", "metadata", "the cloud metadata address (AWS)"],
  ["fc00::/7", "unique local", "a unique local address (RFC 4193)"],
  ["fe80::/10", "link-local", "a link-local address"],
  ["fec0::/10", "reserved", "a deprecated site-local address (RFC 3879)"],
  ["ff00::/8", "multicast", "a multicast address"],
  ["64:ff9b:1::/48", "reserved", "a local-use NAT64 address (RFC 8215)"],
  ["100::/64", "reserved", "a discard-only address (RFC 6666)"]
]

const parseRules = <A extends ipaddr.IPv4 | ipaddr.IPv6>(
  rules: ReadonlyArray<Rule>,
  parse: (cidr: string) => [A, number]
) => rules.map(([cidr, kind, description]) => ({ range: parse(cidr), kind, description }))

const ipv4Table = parseRules(ipv4Rules, (cidr) => ipaddr.IPv4.parseCIDR(cidr))
const ipv6GlobalTable = parseRules(ipv6GlobalRules, (cidr) => ipaddr.IPv6.parseCIDR(cidr))
const ipv6OtherTable = parseRules(ipv6OtherRules, (cidr) => ipaddr.IPv6.parseCIDR(cidr))
const globalUnicast = ipaddr.IPv6.parseCIDR("2000::/3")
const mapped = ipaddr.IPv6.parseCIDR("::ffff:0:0/96")
const compatible = ipaddr.IPv6.parseCIDR("::/96")
const translated = ipaddr.IPv6.parseCIDR("::ffff:0:0:0/96")
const nat64 = ipaddr.IPv6.parseCIDR("64:ff9b::/96")
const sixToFour = ipaddr.IPv6.parseCIDR("2002::/16")
const teredo = ipaddr.IPv6.parseCIDR("2001::/32")

const ipv4FromParts = (high: number, low: number): ipaddr.IPv4 =>
  new ipaddr.IPv4([(high >> 8) & 0xff, high & 0xff, (low >> 8) & 0xff, low & 0xff])

const classifyIPv4 = (ip: ipaddr.IPv4): AddressVerdict => {
  const address = ip.toString()
  const rule = ipv4Table.find(({ range }) => ip.match(range))
  return rule === undefined
    ? { address, family: 4, kind: "public", description: "a public address" }
    : { address, family: 4, kind: rule.kind, description: rule.description }
}

/** An IPv6 address that carries an IPv4 address is only as public as that address. */
const embedding = (address: string, form: string, inner: ipaddr.IPv4): AddressVerdict => {
  const verdict = classifyIPv4(inner)
  return verdict.kind === "public"
    ? {
        address,
        family: 6,
        kind: "public",
        description: `${form} embedding ${verdict.address}, a public address`
      }
    : {
        address,
        family: 6,
        kind: verdict.kind,
        description: `${form} embedding ${verdict.address}, ${verdict.description}`
      }
}

const classifyIPv6 = (ip: ipaddr.IPv6): AddressVerdict => {
  const address = ip.toString()
  const [, p1 = 0, p2 = 0, p3 = 0, , , p6 = 0, p7 = 0] = ip.parts
  if (ip.match(mapped)) return embedding(address, "an IPv4-mapped IPv6 address", ipv4FromParts(p6, p7))
  if (ip.match(translated))
    return embedding(address, "an IPv4-translated IPv6 address", ipv4FromParts(p6, p7))
  if (ip.match(nat64)) return embedding(address, "a NAT64 address (RFC 6052)", ipv4FromParts(p6, p7))
  // IPv4-compatible addresses are deprecated (RFC 4291 §2.5.5.1): never public, but say what they hide.
  if (ip.match(compatible) && (p6 !== 0 || p7 > 1)) {
    const verdict = embedding(address, "a deprecated IPv4-compatible IPv6 address", ipv4FromParts(p6, p7))
    return verdict.kind === "public"
      ? {
          ...verdict,
          kind: "reserved",
          description: "a deprecated IPv4-compatible IPv6 address (RFC 4291 §2.5.5.1)"
        }
      : verdict
  }
  if (ip.match(sixToFour)) return embedding(address, "a 6to4 address (RFC 3056)", ipv4FromParts(p1, p2))
  // Teredo (RFC 4380 §4): the client's IPv4 address is stored inverted in the last 32 bits.
  if (ip.match(teredo)) {
    const client = embedding(address, "a Teredo address", ipv4FromParts(~p6 & 0xffff, ~p7 & 0xffff))
    const server = embedding(address, "a Teredo address", ipv4FromParts(p2, p3))
    return client.kind !== "public" ? client : server.kind !== "public" ? server : client
  }
  const table = ip.match(globalUnicast) ? ipv6GlobalTable : ipv6OtherTable
  const rule = table.find(({ range }) => ip.match(range))
  if (rule !== undefined) return { address, family: 6, kind: rule.kind, description: rule.description }
  if (table === ipv6GlobalTable)
    return { address, family: 6, kind: "public", description: "a public address" }
  return { address, family: 6, kind: "reserved", description: "a reserved address (outside 2000::/3)" }
}

/**
 * Classifies an IP address literal (`127.0.0.1`, `::1`, `[::1]`); undefined when the
 * text is not an address. IPv4 must be four decimal parts: URL parsing has already
 * turned `0x7f.1` or `2130706433` into that form, and anything else is a host name.
 */
export const classifyAddress = (text: string): AddressVerdict | undefined => {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return classifyIPv4(ipaddr.IPv4.parse(bare))
  if (!bare.includes(":") || !ipaddr.IPv6.isValid(bare)) return undefined
  // A zone (`fe80::1%eth0`) stays in the canonical spelling, for the connection.
  return classifyIPv6(ipaddr.IPv6.parse(bare))
}

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
