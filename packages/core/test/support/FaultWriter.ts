/**
 * A process that writes one credential into the file store, for the
 * failed-write fault tests. The parent starts it with a file size limit
 * (`ulimit -f`, RLIMIT_FSIZE) so that writing the new document fails the way
 * a full disk fails a write (EFBIG instead of ENOSPC; Node ignores SIGXFSZ).
 *
 *   node FaultWriter.ts '{"directory": …, "server": …, "url": …, "scope": …, "padding": N}'
 *
 * Prints one line: `{"ok": true}` or `{"error": {"tag", "reason", "message"}}`.
 */
import { Effect, Redacted } from "effect"
import { Credential, TokenSet } from "../../src/Credential.ts"
import { CredentialStore } from "../../src/CredentialStore.ts"

interface Args {
  readonly directory: string
  readonly server: string
  readonly url: string
  readonly scope: string
  /** Extra characters in the access token, to make the document larger than the limit. */
  readonly padding: number
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args

const program = Effect.gen(function* () {
  const store = yield* CredentialStore
  yield* store.set(
    new Credential({
      server: args.server,
      url: args.url,
      updatedAt: Date.now(),
      tokens: new TokenSet({
        accessToken: Redacted.make(`new-access-${"x".repeat(args.padding)}`),
        refreshToken: Redacted.make("new-refresh-token-value"),
        tokenType: "Bearer",
        scope: args.scope
      })
    })
  )
  return { ok: true }
}).pipe(
  Effect.catchTag("CredentialStoreError", (error) =>
    Effect.succeed({ error: { tag: error._tag, reason: error.reason, message: error.message } })
  ),
  Effect.provide(CredentialStore.layerFile({ directory: args.directory }))
)

Effect.runPromise(program).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
