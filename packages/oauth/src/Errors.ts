/**
 * The typed errors of `@mcpgate/oauth`. Every error names the server and says
 * in words what went wrong and what fixes it. Messages never contain a secret
 * (token, client secret, code, verifier): they are built from server names,
 * URLs, OAuth error codes and the authorization server's `error_description`.
 */
import { Schema } from "effect"

/**
 * One word of a POSIX shell command, quoted unless it is plain (letters,
 * digits and `_@%+=:,./-`): suggested commands carry server names and scopes,
 * and scopes come from the server (RFC 6749 §3.3 allows `$`, `;`, `` ` `` …).
 */
export const shellWord = (text: string): string =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`

/** The command that logs in to `server`, with `--scope` for each scope. */
export const loginCommand = (server: string, scopes: ReadonlyArray<string> = []): string =>
  ["mcpgate", "login", shellWord(server), ...scopes.flatMap((scope) => ["--scope", shellWord(scope)])].join(
    " "
  )

/**
 * The server needs an interactive login (no credential, the refresh token was
 * refused, the authorization server changed, …). `message` says which command
 * fixes it.
 */
export class NeedsLogin extends Schema.TaggedError<NeedsLogin>()("NeedsLogin", {
  server: Schema.String,
  message: Schema.String
}) {
  /** `why` is one clause without a final period, e.g. `no stored credential`. */
  static readonly of = (server: string, why: string): NeedsLogin =>
    new NeedsLogin({ server, message: `${server}: ${why}; run \`${loginCommand(server)}\`` })
}

/**
 * The server wants scopes the current token does not carry (403
 * `insufficient_scope`) and the step-up needs the user (RFC 6750 §3.1).
 */
export class NeedsScope extends Schema.TaggedError<NeedsScope>()("NeedsScope", {
  server: Schema.String,
  scopes: Schema.Array(Schema.String),
  message: Schema.String
}) {
  /** The error for `server`, whose message gives the login command with the `scopes`. */
  static readonly of = (server: string, scopes: ReadonlyArray<string>): NeedsScope =>
    new NeedsScope({
      server,
      scopes,
      message: `${server}: the server needs the scope${scopes.length === 1 ? "" : "s"} ${scopes.join(" ")}; run \`${loginCommand(server, scopes)}\``
    })
}

/** What step failed (or which rule refused to go on); listed in docs/oauth.md#errors. */
export const OAuthErrorReason = Schema.Literals([
  /** Protected resource or authorization server metadata could not be found or read. */
  "discovery",
  /** RFC 9728 §3.3: the metadata's `resource` is not this server. */
  "resource-mismatch",
  /** RFC 8414 §3.3: the metadata's `issuer` is not the issuer it was fetched for. */
  "issuer-mismatch",
  /** The code flow needs S256 PKCE and the server does not advertise it. */
  "pkce-unsupported",
  /** A plain-HTTP endpoint that is not loopback (allowed only with `auth.allowHttp`). */
  "insecure-endpoint",
  /** Client registration failed or is impossible. */
  "registration",
  /** The authorization response was an error or could not be used. */
  "authorization",
  /** RFC 6749 §10.12: the `state` of the callback is not the one we sent. */
  "state-mismatch",
  /** RFC 9207: the `iss` of the callback is missing or not the issuer. */
  "iss-mismatch",
  /** The user (or the server) denied the authorization. */
  "access-denied",
  /** The login took too long (callback never came, device code expired). */
  "timeout",
  /** The loopback callback port could not be bound. */
  "callback-port",
  /** The browser could not be started. */
  "browser",
  /** The token endpoint refused or failed. */
  "token",
  /** Token revocation failed (RFC 7009). */
  "revocation",
  /** The 403 step-up cannot help (the scopes were granted and are still refused, or too many attempts). */
  "insufficient-scope",
  /** The configuration cannot work (e.g. a private key that does not parse). */
  "configuration",
  /** The credential store failed. */
  "store",
  /** The network or the server failed transiently (connection, timeout, 5xx). */
  "network"
])
/** One of `OAuthErrorReason`'s literals. */
export type OAuthErrorReason = typeof OAuthErrorReason.Type

/**
 * One step failed, or a rule refused to go on (`reason`). `message` names the
 * server and says what fixes it; `retryable` says whether a later attempt
 * may work.
 */
export class OAuthError extends Schema.TaggedError<OAuthError>()("OAuthError", {
  server: Schema.String,
  reason: OAuthErrorReason,
  message: Schema.String,
  /** True for transient failures (network, timeout, 5xx): the credential is kept and a later retry may work. */
  retryable: Schema.Boolean,
  /** The OAuth error code the server returned (`invalid_grant`, `invalid_client`, …), when there was one. */
  oauthError: Schema.optionalKey(Schema.String),
  /** The HTTP status of the failing response, when there was one. */
  status: Schema.optionalKey(Schema.Number)
}) {
  /**
   * The error for `server`; `message` gets the `<server>: ` prefix unless it
   * has it. Absent `extra` fields stay absent.
   */
  static readonly of = (
    server: string,
    reason: OAuthErrorReason,
    message: string,
    extra: {
      readonly retryable?: boolean | undefined
      readonly oauthError?: string | undefined
      readonly status?: number | undefined
    } = {}
  ): OAuthError =>
    new OAuthError({
      server,
      reason,
      message: message.startsWith(`${server}:`) ? message : `${server}: ${message}`,
      retryable: extra.retryable ?? false,
      ...(extra.oauthError === undefined ? {} : { oauthError: extra.oauthError }),
      ...(extra.status === undefined ? {} : { status: extra.status })
    })
}

/** Every error an `OAuthManager` method can fail with. */
export type AuthFailure = NeedsLogin | NeedsScope | OAuthError
