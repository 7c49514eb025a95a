/**
 * Store operations are observable (docs/observability.md): each runs in a
 * span `store.<op>` with `db.system: postgresql` and no secret, and its time
 * goes into `mcpgate_store_operation_duration_seconds` by op and outcome.
 */
import { afterAll, assert, beforeAll, it } from "@effect/vitest"
import { Credential, TokenSet } from "@mcpgate/core/Credential"
import { CredentialStore } from "@mcpgate/core/CredentialStore"
import * as Encryption from "@mcpgate/core/Encryption"
import * as Metrics from "@mcpgate/core/Metrics"
import * as Postgres from "@mcpgate/testing/Postgres"
import { Effect, Exit, Metric, Redacted, Scope, Tracer } from "effect"
import { layerPostgres } from "../src/PostgresCredentialStore.ts"
import * as StoreDatabase from "../src/StoreDatabase.ts"
import * as StoreRecords from "../src/StoreRecords.ts"

const keyring = Effect.runSync(Encryption.parseKeys(Buffer.alloc(32, 9).toString("base64")))
const accessToken = "at-telemetry-secret-71f0"
const recordSecret = "pkce-verifier-secret-0c4d"

let server: Postgres.PostgresServer
const serverScope = Effect.runSync(Scope.make())
beforeAll(async () => {
  server = await Effect.runPromise(Scope.provide(Postgres.start(), serverScope))
}, 120_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), 60_000)

it.live("every store operation has a span store.<op> and a duration by op and outcome, with no secret", () =>
  Effect.gen(function* () {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span: (options) => {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    const url = server.url
    const credential = new Credential({
      server: "notes",
      url: "https://notes.test/mcp",
      tokens: new TokenSet({ accessToken: Redacted.make(accessToken), tokenType: "Bearer" }),
      updatedAt: 1
    })
    yield* Effect.gen(function* () {
      const store = yield* CredentialStore
      yield* store.set(credential)
      yield* store.get({ server: "notes", url: "https://notes.test/mcp" })
      yield* store.withLock({ server: "notes", url: "https://notes.test/mcp" }, Effect.void)
      yield* store.delete({ server: "notes", url: "https://notes.test/mcp" })
      const records = yield* StoreRecords.make("pending-login", keyring)
      yield* records.put("state-1", recordSecret, Date.now() + 60_000)
      yield* records.take("state-1")
    }).pipe(
      Effect.provide(layerPostgres({ url: Redacted.make(url), keyring })),
      Effect.provide(StoreDatabase.layer(Redacted.make(url))),
      Effect.provideService(Tracer.Tracer, tracer)
    )

    const names = new Set(spans.map((span) => span.name))
    for (const name of [
      "store.credential.set",
      "store.credential.get",
      "store.lock",
      "store.credential.delete",
      "store.records.put",
      "store.records.take"
    ]) {
      assert.isTrue(names.has(name), `a span ${name} (seen: ${[...names].join(", ")})`)
    }
    for (const span of spans.filter((entry) => entry.name.startsWith("store."))) {
      assert.strictEqual(span.attributes.get("db.system"), "postgresql", span.name)
      const text = JSON.stringify([...span.attributes.entries()])
      assert.notInclude(text, accessToken)
      assert.notInclude(text, recordSecret)
      assert.notInclude(text, url)
    }

    const series = (yield* Metric.snapshot).filter(
      (metric) => metric.id === Metrics.storeOperationDuration.id && metric.type === "Histogram"
    )
    const ops = series.map((metric) => `${metric.attributes?.op}:${metric.attributes?.outcome}`)
    for (const op of [
      "credential.get:ok",
      "credential.set:ok",
      "lock:ok",
      "records.put:ok",
      "records.take:ok"
    ]) {
      assert.include(ops, op)
    }
  })
)
