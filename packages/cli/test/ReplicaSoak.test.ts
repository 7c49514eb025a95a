/**
 * A short run of the replica soak (scripts/soak/Replicas.ts, `pnpm soak --
 * --replicas 3 --store postgres`): three `mcpgate serve` on one PostgreSQL
 * behind HAProxy, 5-second access tokens with rotating refresh tokens, 30 s of
 * mixed traffic, one replica killed with SIGKILL during its refresh, PostgreSQL
 * restarted. `/mcp` sessions are still per replica (docs/store.md#replicas);
 * those 404s are counted apart and not asserted on here.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Replicas from "../../../scripts/soak/Replicas.ts"

describe("replica soak", () => {
  it("no unexplained failure and exactly one refresh per token expiry across three replicas", async () => {
    const result = await Replicas.soak({
      seconds: 30,
      replicas: 3,
      concurrency: 6,
      tokenTtl: 5,
      logLevel: "info",
      log: () => {}
    })
    const report = Replicas.report(result)
    for (const [ok, what] of Replicas.verdicts(result)) assert.isTrue(ok, `${what}\n${report}`)
    const [credential] = result.credentials
    assert.strictEqual(result.credentials.length, 1, report)
    assert.isAbove(credential?.expiries ?? 0, 3, report)
    assert.strictEqual(credential?.refreshes, credential?.expiries, report)
  }, 150_000)
})

describe("refreshes per token expiry", () => {
  const grant = (at: number, presented: string | undefined, issued: string, status = 200) => ({
    grantType: presented === undefined ? "authorization_code" : "refresh_token",
    clientId: "c1",
    status,
    at,
    issued,
    ...(presented === undefined ? {} : { presented })
  })

  it("counts each expired generation's refreshes: one each, or a double refresh", () => {
    const once = [grant(0, undefined, "t0"), grant(2_500, "t0", "t1"), grant(5_000, "t1", "t2")]
    assert.deepStrictEqual(Replicas.refreshesPerCredential(once, 0, 9_000, 5), [
      { clientId: "c1", expiries: 2, refreshes: 2, exactlyOne: 2 }
    ])
    // Two replicas refreshing the same generation (the second one would be refused with rotation).
    const twice = [grant(0, undefined, "t0"), grant(2_500, "t0", "t1"), grant(2_600, "t0", "t1b")]
    const [credential] = Replicas.refreshesPerCredential(twice, 0, 6_000, 5)
    assert.strictEqual(credential?.exactlyOne, 0)
    assert.strictEqual(credential?.refreshes, 2)
    assert.strictEqual(credential?.expiries, 1)
  })
})
