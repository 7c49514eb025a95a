/**
 * The stored credential of one MCP server (docs/credentials.md#what-a-credential-holds)
 * and the versioned document (docs/credentials.md#file-format-and-versions)
 * that holds credentials at rest (the file, or one keychain entry).
 *
 * Secrets (client secret, access and refresh token, DPoP key) are `Redacted` in memory:
 * `String`, `JSON.stringify` and `util.inspect` of a credential print
 * `<redacted>`. Only the encoded document (what goes to disk or the keychain)
 * holds them in clear.
 */
import { Effect, Option, Redacted, Schema } from "effect"
import { formatJsonPath, problems } from "./internal/SchemaIssues.ts"

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/**
 * A credential belongs to a server name AND its URL: a new URL never reuses old
 * tokens. A user's own credential of an `identity: "user"` server also names
 * the user (docs/teams.md#per-user-credentials); without `principal` it is the
 * gateway's one credential for everyone.
 */
export interface CredentialKey {
  readonly server: string
  readonly url: string
  readonly principal?: string | undefined
}

/**
 * The URL in the form used for keys: lower-case scheme and host (done by `URL`),
 * no default port, no fragment, no user info, no trailing slash (RFC 8707 §2 and
 * the MCP "canonical server URI"). User info is dropped because keys show up in
 * `status` and error messages. A string that is not a URL is kept as it is.
 */
export const canonicalUrl = (url: string): string => {
  const trimmed = url.trim()
  if (!URL.canParse(trimmed)) return trimmed
  const parsed = new URL(trimmed)
  const path = parsed.pathname === "/" ? "" : parsed.pathname.replace(/\/$/, "")
  return `${parsed.protocol}//${parsed.host}${path}${parsed.search}`
}

const escapeName = (name: string): string => name.replace(/[%|]/g, (c) => (c === "%" ? "%25" : "%7C"))

/**
 * The storage key: `<server>|<canonical url>`, where the server name has `%`
 * and `|` percent-escaped (`%25`, `%7C`) so a `|` in a name can never make two
 * keys collide. Other names read unchanged, e.g. `notion|https://mcp.notion.com/mcp`.
 * A user's credential is `<user>%40<server>|<url>` (the user escaped the same
 * way): an escaped name never holds `%40`, so no user's key can be another
 * server's or the gateway's own.
 */
export const keyOf = (key: CredentialKey): string =>
  `${key.principal === undefined ? "" : `${escapeName(key.principal)}%40`}${escapeName(key.server)}|${canonicalUrl(key.url)}`

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

/** Clear text on disk, `Redacted` in memory. */
const Secret = Schema.RedactedFromValue(Schema.String)

/** Epoch milliseconds. */
const EpochMillis = Schema.Finite

/** A private JWK (RFC 7517) with its `alg`: clear text on disk, `Redacted` in memory. */
const PrivateJwk = Schema.RedactedFromValue(Schema.Record(Schema.String, Schema.String))

/** How the client registration was obtained (docs/oauth.md#registration, in the MCP spec's priority order). */
export const RegistrationMethod = Schema.Literals(["pre-registered", "cimd", "dcr"])
export type RegistrationMethod = typeof RegistrationMethod.Type

export class ClientRegistration extends Schema.Class<ClientRegistration>(
  "@mcpgate/core/Credential/ClientRegistration"
)({
  method: RegistrationMethod,
  clientId: Schema.String,
  clientSecret: Schema.optionalKey(Secret),
  /** Epoch ms; RFC 7591 §3.2.1 says 0 (stored as is) means "never". */
  clientSecretExpiresAt: Schema.optionalKey(EpochMillis),
  redirectUris: Schema.Array(Schema.String),
  tokenEndpointAuthMethod: Schema.optionalKey(Schema.String),
  registeredAt: Schema.optionalKey(EpochMillis)
}) {}

export class TokenSet extends Schema.Class<TokenSet>("@mcpgate/core/Credential/TokenSet")({
  accessToken: Secret,
  refreshToken: Schema.optionalKey(Secret),
  tokenType: Schema.String,
  /** Epoch ms. */
  expiresAt: Schema.optionalKey(EpochMillis),
  /** Space-separated, as granted (RFC 6749 §3.3). */
  scope: Schema.optionalKey(Schema.String),
  /**
   * DPoP-bound tokens (RFC 9449): the private key they are bound to, so that
   * every process sharing the credential can present and refresh them. As
   * secret as the tokens. Optional, so documents written before it still read.
   */
  dpopKey: Schema.optionalKey(PrivateJwk)
}) {}

export class Credential extends Schema.Class<Credential>("@mcpgate/core/Credential")({
  server: Schema.String,
  url: Schema.String,
  /** The user whose own credential this is (`identity: "user"` servers); absent: the gateway's. */
  principal: Schema.optionalKey(Schema.String),
  issuer: Schema.optionalKey(Schema.String),
  /** The RFC 8707 resource the tokens were requested for. */
  resource: Schema.optionalKey(Schema.String),
  registration: Schema.optionalKey(ClientRegistration),
  tokens: Schema.optionalKey(TokenSet),
  /** Epoch ms. */
  updatedAt: EpochMillis
}) {}

// ---------------------------------------------------------------------------
// Metadata (what `status` may show)
// ---------------------------------------------------------------------------

/** A JSON-safe summary of a credential without any secret. */
export interface CredentialMetadata {
  readonly key: string
  readonly server: string
  readonly url: string
  readonly principal?: string
  readonly issuer?: string
  readonly resource?: string
  readonly registrationMethod?: RegistrationMethod
  readonly clientId?: string
  readonly hasClientSecret: boolean
  readonly hasAccessToken: boolean
  readonly hasRefreshToken: boolean
  readonly tokenType?: string
  readonly expiresAt?: number
  readonly scope?: string
  readonly updatedAt: number
}

export const metadata = (credential: Credential): CredentialMetadata => {
  const { registration, tokens } = credential
  return {
    key: keyOf(credential),
    server: credential.server,
    url: credential.url,
    ...(credential.principal === undefined ? {} : { principal: credential.principal }),
    ...(credential.issuer === undefined ? {} : { issuer: credential.issuer }),
    ...(credential.resource === undefined ? {} : { resource: credential.resource }),
    ...(registration === undefined
      ? {}
      : { registrationMethod: registration.method, clientId: registration.clientId }),
    hasClientSecret: registration?.clientSecret !== undefined,
    hasAccessToken: tokens !== undefined && Redacted.value(tokens.accessToken) !== "",
    hasRefreshToken: tokens?.refreshToken !== undefined,
    ...(tokens === undefined ? {} : { tokenType: tokens.tokenType }),
    ...(tokens?.expiresAt === undefined ? {} : { expiresAt: tokens.expiresAt }),
    ...(tokens?.scope === undefined ? {} : { scope: tokens.scope }),
    updatedAt: credential.updatedAt
  }
}

// ---------------------------------------------------------------------------
// The versioned document
// ---------------------------------------------------------------------------

/**
 * The document version this build writes. Version 2 is taken: it marks the head
 * of a keychain entry split across several (internal/KeychainEntries.ts).
 */
export const currentVersion = 1

/**
 * `{ "version": 1, "credentials": { "<keyOf>": Credential } }`. The file holds
 * every credential; a keychain entry holds a document with exactly one.
 */
export const CredentialDocument = Schema.Struct({
  version: Schema.Literal(currentVersion),
  credentials: Schema.Record(Schema.String, Credential)
})
export type CredentialDocument = typeof CredentialDocument.Type

/** Why a stored document cannot be used. Messages never quote the document. */
export class CredentialDocumentError extends Schema.TaggedError<CredentialDocumentError>()(
  "CredentialDocumentError",
  {
    reason: Schema.Literals(["corrupt", "unsupported-version"]),
    message: Schema.String
  }
) {}

/**
 * Upgrades from version `n` to `n + 1`, keyed by `n`. Empty while 1 is the only
 * version; a later version adds `1: (v1) => v2` here so stored logins survive
 * the upgrade instead of forcing a new login.
 */
const migrations: Readonly<Record<number, (document: Record<string, unknown>) => Record<string, unknown>>> =
  {}

/**
 * Brings a parsed document (any version) to the current version. A version
 * newer than this build is an error (`unsupported-version`), never dropped: it
 * was written by a newer mcpgate and must be kept for it.
 */
export const migrate = (document: unknown): Effect.Effect<unknown, CredentialDocumentError> =>
  Effect.suspend(() => {
    if (typeof document !== "object" || document === null || Array.isArray(document)) {
      return Effect.fail(corrupt("is not a JSON object"))
    }
    const version: unknown = (document as Record<string, unknown>).version
    if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
      return Effect.fail(corrupt('has no valid "version" (expected a positive integer)'))
    }
    if (version > currentVersion) {
      return Effect.fail(
        new CredentialDocumentError({
          reason: "unsupported-version",
          message: `was written by a newer mcpgate (version ${version}; this one reads up to version ${currentVersion}); upgrade mcpgate`
        })
      )
    }
    let current = document as Record<string, unknown>
    for (let from = version; from < currentVersion; from++) {
      const step = migrations[from]
      if (step === undefined) return Effect.fail(corrupt(`has version ${from}, which has no migration`))
      current = step(current)
    }
    return Effect.succeed(current)
  })

const corrupt = (what: string) => new CredentialDocumentError({ reason: "corrupt", message: what })

const decodeDocument = Schema.decodeUnknownEffect(CredentialDocument)
const encodeDocument = Schema.encodeEffect(CredentialDocument)

/**
 * Parses, migrates and validates a stored document. The result is keyed by
 * `keyOf` of each credential (the credential is authoritative, so a hand-edited
 * key is corrected rather than trusted).
 */
export const parseDocument = (
  text: string
): Effect.Effect<ReadonlyMap<string, Credential>, CredentialDocumentError> =>
  Effect.gen(function* () {
    // JSON.parse messages quote the input, which may hold tokens: never pass them on.
    const parsed = yield* Option.match(parseJson(text), {
      onNone: () => Effect.fail(corrupt("is not valid JSON")),
      onSome: Effect.succeed
    })
    const migrated = yield* migrate(parsed)
    const document = yield* decodeDocument(migrated, { errors: "all", reportInput: true }).pipe(
      // Paths, expected and found types only: the values are tokens (./internal/SchemaIssues.ts).
      Effect.mapError((error) =>
        corrupt(
          `does not match the credential schema: ${problems(error.issue)
            .map((problem) => `${formatJsonPath(problem.path)}: ${problem.message}`)
            .join("; ")}`
        )
      )
    )
    const credentials = new Map<string, Credential>()
    for (const credential of Object.values(document.credentials))
      credentials.set(keyOf(credential), credential)
    return credentials
  })

/**
 * The document text for some credentials: pretty-printed JSON (the file, read by
 * people), or compact (a keychain entry, where size is limited).
 */
export const formatDocument = (
  credentials: Iterable<Credential>,
  options: { readonly compact?: boolean | undefined } = {}
): Effect.Effect<string> =>
  Effect.gen(function* () {
    const record: Record<string, Credential> = {}
    for (const credential of [...credentials].sort((a, b) => compareKeys(keyOf(a), keyOf(b)))) {
      record[keyOf(credential)] = credential
    }
    const encoded = yield* Effect.orDie(encodeDocument({ version: currentVersion, credentials: record }))
    return options.compact === true ? JSON.stringify(encoded) : `${JSON.stringify(encoded, null, 2)}\n`
  })

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Sorted by storage key, the order `list` returns. */
export const sortByKey = (credentials: Iterable<Credential>): ReadonlyArray<Credential> =>
  [...credentials].sort((a, b) => compareKeys(keyOf(a), keyOf(b)))

const parseJson = (text: string): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(text))
  } catch {
    return Option.none()
  }
}
