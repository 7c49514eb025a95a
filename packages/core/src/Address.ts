/**
 * IP addresses in hosts: reading every numeric form a URL host can take, and
 * what an address is for (loopback, private, link-local, metadata, …). The one
 * classifier of the gateway: the builtin fetch's SSRF guard
 * (docs/connections.md#ssrf-rules), the OAuth plain-HTTP rule
 * (docs/oauth.md#plain-http-rule) and the server's bind and origin checks.
 *
 * An address is public only when it is ordinary global unicast. Everything in
 * the IANA special-purpose registries (RFC 6890, RFC 8190) has its kind, and
 * IPv6 forms that embed an IPv4 address (mapped, translated, compatible, NAT64,
 * 6to4, Teredo) are judged by the IPv4 address inside them.
 */
import ipaddr from "ipaddr.js"

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6

// ---------------------------------------------------------------------------
// Parsing

const unbracket = (text: string): string =>
  text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text

// A trailing dotted quad (`::ffff:127.0.0.1`), rewritten as two groups before ipaddr.js reads
// it: ipaddr.js alone would read `::127.0.0.1` as IPv4-mapped, not as IPv4-compatible `::7f00:1`.
const dottedTail = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(%.*)?$/

const parseIPv6 = (text: string): ipaddr.IPv6 | undefined => {
  const match = dottedTail.exec(text)
  let hex = text
  if (match !== null) {
    const [, head = "", a = "", b = "", c = "", d = "", zone = ""] = match
    const octets = [a, b, c, d].map(Number)
    if (octets.some((octet) => octet > 255)) return undefined
    const [o1 = 0, o2 = 0, o3 = 0, o4 = 0] = octets
    hex = `${head}${((o1 << 8) | o2).toString(16)}:${((o3 << 8) | o4).toString(16)}${zone}`
  }
  return ipaddr.IPv6.isValid(hex) ? ipaddr.IPv6.parse(hex) : undefined
}

/**
 * An address literal in its usual spelling: four decimal IPv4 parts, or IPv6
 * (bracketed or not, with a zone or not). Other IPv4 spellings are undefined:
 * for text a URL parser has already normalised, or a resolver answered.
 */
export const parseLiteral = (text: string): IpAddress | undefined => {
  const bare = unbracket(text)
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare)
  return bare.includes(":") ? parseIPv6(bare) : undefined
}

/** One part of a numeric IPv4 host: decimal, `0x` hex or `0` octal (URL Standard, IPv4 number parser). */
const ipv4Number = (part: string): number | undefined => {
  if (part === "") return undefined
  const hex = /^0x/i.test(part)
  const octal = !hex && part.length > 1 && part.startsWith("0")
  const digits = hex ? part.slice(2) : octal ? part.slice(1) : part
  if (digits === "") return 0
  const valid = hex ? /^[0-9a-f]+$/i : octal ? /^[0-7]+$/ : /^[0-9]+$/
  return valid.test(digits) ? Number.parseInt(digits, hex ? 16 : octal ? 8 : 10) : undefined
}

/**
 * A numeric IPv4 host as the URL Standard's IPv4 parser reads it: one to four
 * parts, each decimal, hex or octal, the last filling the remaining bytes
 * (`127.1`, `0x7f000001`, `2130706433`, `0177.0.0.1`), one trailing dot allowed.
 */
const parseIPv4Host = (text: string): ipaddr.IPv4 | undefined => {
  const parts = text.split(".")
  if (parts.length > 1 && parts.at(-1) === "") parts.pop()
  if (parts.length > 4) return undefined
  const numbers: Array<number> = []
  for (const part of parts) {
    const value = ipv4Number(part)
    if (value === undefined) return undefined
    numbers.push(value)
  }
  const last = numbers.pop() ?? 0
  if (numbers.some((value) => value > 255) || last >= 256 ** (4 - numbers.length)) return undefined
  const bytes = [...numbers]
  for (let index = 3 - numbers.length; index >= 0; index--) bytes.push(Math.floor(last / 256 ** index) % 256)
  return new ipaddr.IPv4(bytes)
}

/**
 * A host as written in a URL, a `Host` header or the config (`server.host`), when
 * it is an address: any case, surrounding space, brackets, one trailing dot, and
 * every numeric IPv4 form. Undefined for a name.
 */
export const parseHost = (host: string): IpAddress | undefined => {
  const bare = unbracket(host.trim().toLowerCase())
  return bare.includes(":") ? parseIPv6(bare) : parseIPv4Host(bare)
}

// ---------------------------------------------------------------------------
// Classification

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

const parseRules = <A extends IpAddress>(rules: ReadonlyArray<Rule>, parse: (cidr: string) => [A, number]) =>
  rules.map(([cidr, kind, description]) => ({ range: parse(cidr), kind, description }))

const ipv4Table = parseRules(ipv4Rules, (cidr) => ipaddr.IPv4.parseCIDR(cidr))
const ipv6GlobalTable = parseRules(ipv6GlobalRules, (cidr) => ipaddr.IPv6.parseCIDR(cidr))
const ipv6OtherTable = parseRules(ipv6OtherRules, (cidr) => ipaddr.IPv6.parseCIDR(cidr))
const loopbackIPv4 = ipaddr.IPv4.parseCIDR("127.0.0.0/8")
const loopbackIPv6 = ipaddr.IPv6.parseCIDR("::1/128")
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
  return {
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

/** What an address is for; a zone (`fe80::1%eth0`) stays in the canonical spelling, for the connection. */
export const classify = (ip: IpAddress): AddressVerdict =>
  ip instanceof ipaddr.IPv4 ? classifyIPv4(ip) : classifyIPv6(ip)

/**
 * Classifies an address literal in its usual spelling (`127.0.0.1`, `::1`,
 * `[::1]`, see `parseLiteral`); undefined when the text is not one.
 */
export const classifyAddress = (text: string): AddressVerdict | undefined => {
  const ip = parseLiteral(text)
  return ip === undefined ? undefined : classify(ip)
}

// ---------------------------------------------------------------------------
// Loopback

/**
 * The local host itself: 127.0.0.0/8, `::1`, and `::ffff:127.x.x.x` (what a
 * dual-stack socket reports for an IPv4 loopback peer). Forms that only embed
 * 127/8 (NAT64, 6to4, compatible) leave the host and are not loopback.
 */
export const isLoopback = (ip: IpAddress): boolean => {
  if (ip instanceof ipaddr.IPv4) return ip.match(loopbackIPv4)
  if (ip.isIPv4MappedAddress()) return ip.toIPv4Address().match(loopbackIPv4)
  return ip.match(loopbackIPv6)
}

/**
 * `localhost` and `*.localhost` (RFC 6761 §6.3), or a loopback address in any
 * spelling (RFC 8252 §7.3): brackets, case, one trailing dot, every numeric form.
 */
export const isLoopbackHost = (host: string): boolean => {
  const name = unbracket(host.trim().toLowerCase())
  const withoutDot = name.endsWith(".") ? name.slice(0, -1) : name
  if (withoutDot === "localhost" || withoutDot.endsWith(".localhost")) return true
  const ip = parseHost(name)
  return ip !== undefined && isLoopback(ip)
}

/** A URL whose host is loopback (see `isLoopbackHost`); false for text that is not a URL. */
export const isLoopbackUrl = (url: string | URL): boolean => {
  const parsed = typeof url === "string" ? URL.parse(url) : url
  return parsed !== null && isLoopbackHost(parsed.hostname)
}
