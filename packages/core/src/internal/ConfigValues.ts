/**
 * The leaf Schemas of the config (../Config.ts): each check names what it
 * expects, which becomes "expected …" in messages and the type in the reference.
 */
import { Schema } from "effect"

const isHttpUrl = (value: string): boolean => {
  const url = URL.parse(value)
  return url !== null && (url.protocol === "http:" || url.protocol === "https:")
}

// RFC 8707 §2: a resource indicator is an absolute URI without a fragment.
const isResourceSetting = (value: string): boolean =>
  value === "auto" || value === "omit" || (URL.canParse(value) && !value.includes("#"))

export const Text = Schema.String

export const Flag = Schema.Boolean

export const NonEmptyString = Schema.String.check(Schema.isNonEmpty({ expected: "a non-empty string" }))

export const HttpUrl = Schema.String.check(
  Schema.makeFilter(isHttpUrl, { expected: "an absolute http(s) URL" })
)

// Every check of a leaf carries the same `expected`, so any failing one reads the same.
export const PositiveInt = Schema.Number.check(
  Schema.isInt({ expected: "a positive integer" }),
  Schema.isGreaterThan(0, { expected: "a positive integer" })
)

export const Seconds = Schema.Number.check(
  Schema.isFinite({ expected: "a positive number of seconds" }),
  Schema.isGreaterThan(0, { expected: "a positive number of seconds" })
)

const portNumber = (minimum: number) => {
  const expected = `a port number from ${minimum} to 65535`
  return Schema.Number.check(
    Schema.isInt({ expected }),
    Schema.isBetween({ minimum, maximum: 65535 }, { expected })
  )
}

// 0 lets the OS pick a free port (tests); the OAuth callback port must be fixed.
export const ListenPort = portNumber(0)
export const CallbackPort = portNumber(1)

export const StringList = Schema.Array(Schema.String)
export const NonEmptyStringList = Schema.Array(NonEmptyString)

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
export const ScopeList = Schema.Array(
  Schema.String.check(
    Schema.isPattern(/^[\x21\x23-\x5B\x5D-\x7E]+$/, {
      expected: "a scope token without spaces or quotes (list each scope separately)"
    })
  )
)

// Keys of data maps are checked with `isPropertyNames`: a refined key schema in
// `Schema.Record` would silently drop the keys that do not match.
export const EnvMap = Schema.Record(Schema.String, Schema.String).check(
  Schema.isPropertyNames(
    Schema.String.check(
      Schema.isPattern(/^[^=\0]+$/, {
        expected: 'an environment variable name as the key (non-empty, without "=")'
      })
    )
  )
)

// RFC 9110 §5.1 (field-name = token) and §5.5 (no CR, LF or NUL in a field value).
export const HeaderMap = Schema.Record(
  Schema.String,
  Schema.String.check(Schema.isPattern(/^[^\r\n\0]*$/, { expected: "a header value without line breaks" }))
).check(
  Schema.isPropertyNames(
    Schema.String.check(
      Schema.isPattern(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { expected: "a valid HTTP header name as the key" })
    )
  )
)

/** As written: `http` is VS Code's name for streamable HTTP. */
export const TransportValue = Schema.Literals(["stdio", "sse", "streamable-http", "http"])
export const OAuth2 = Schema.Literal("oauth2")
export const Flow = Schema.Literals(["pkce", "device", "client_credentials"])
export const Resource = Schema.String.check(
  Schema.makeFilter(isResourceSetting, { expected: '"auto", "omit" or an absolute URI without a fragment' })
)
// JWS algorithms usable for private_key_jwt (RFC 7518 §3.1, RFC 8037). A checked
// string rather than literals: the model's type stays `string` for its users.
const signingAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA"
]
export const SigningAlgorithm = Schema.String.check(
  Schema.makeFilter((value: string) => signingAlgorithms.includes(value), {
    expected: `one of ${signingAlgorithms
      .slice(0, -1)
      .map((name) => JSON.stringify(name))
      .join(", ")} or ${JSON.stringify(signingAlgorithms.at(-1))}`
  })
)
export const SearchProvider = Schema.Literals(["duckduckgo", "searxng"])
export const ConfigEditor = Schema.Literals(["full", "no-commands", "read-only"])
export const UpstreamResponses = Schema.Literals(["auto", "native", "translate"])
export const ToolSearch = Schema.Literals(["auto", false])
export const StoreType = Schema.Literals(["local", "postgres"])
export const PostgresUrl = Schema.String.check(
  Schema.makeFilter((url: string) => /^postgres(ql)?:\/\/\S+$/.test(url.trim()), {
    expected: "a PostgreSQL URL (postgres://user:password@host:port/database)"
  })
)
export const Identity = Schema.Literals(["gateway", "user"])
